//! Golden replay: each folder under `tests/golden/` holds a hand-written recording
//! (`input.jsonl`), optional rule overrides (`rules.toml`), optionally the neighbouring
//! provinces whose mirrored shared topics it reads (`neighbours`: comma-separated aliases),
//! and the expected outputs (`expected/`). Replay must reproduce them byte for byte.
//!
//! When a change to the outputs is intended, regenerate with
//! `TAILWATCH_BLESS=1 cargo test --test golden` and review the diff.

use std::path::{Path, PathBuf};

use tailwatch::config;
use tailwatch::pipeline::Processor;
use tailwatch::replay;
use tailwatch::settings::Regions;
use tailwatch::topics::Topics;

const FILES: [&str; 5] = [
    "blacklist.jsonl",
    "shared.jsonl",
    "cases.jsonl",
    "dlq.jsonl",
    "summary.json",
];

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.jsonl").exists())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    dirs
}

fn replay(dir: &Path, out: &Path) {
    let overrides = dir.join("rules.toml");
    let rules = config::load_rules(overrides.exists().then_some(overrides.as_path())).unwrap();
    let neighbours: Regions = std::fs::read_to_string(dir.join("neighbours"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap();
    let topics = Topics::default().with_neighbours(&neighbours.0);
    let processor = Processor::new(rules, topics.clone());
    replay::replay_file(&processor, &topics, &dir.join("input.jsonl"), out).unwrap();
}

#[test]
fn golden_outputs() {
    let bless = std::env::var_os("TAILWATCH_BLESS").is_some();
    let mut failures = Vec::new();
    for dir in cases() {
        let out = tempfile::tempdir().unwrap();
        replay(&dir, out.path());
        let expected = dir.join("expected");
        for file in FILES {
            let actual = std::fs::read_to_string(out.path().join(file)).unwrap();
            if bless {
                std::fs::create_dir_all(&expected).unwrap();
                std::fs::write(expected.join(file), &actual).unwrap();
                continue;
            }
            let wanted = std::fs::read_to_string(expected.join(file)).unwrap_or_default();
            if actual != wanted {
                failures.push(format!(
                    "{}/{file}:\n--- expected\n{wanted}\n--- actual\n{actual}",
                    dir.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden outputs differ (TAILWATCH_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}

#[test]
fn replaying_twice_is_byte_identical() {
    for dir in cases() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        replay(&dir, a.path());
        replay(&dir, b.path());
        for file in FILES {
            let read = |d: &Path| std::fs::read(d.join(file)).unwrap();
            assert_eq!(read(a.path()), read(b.path()), "{}/{file}", dir.display());
        }
    }
}
