//! Replays the frame fuzzer's inputs on stable Rust in every `cargo test`: each file of
//! `fuzz/corpus/frame/` (the checked-in seeds and minimised finds), `fuzz/regressions/`
//! (inputs that once broke the codec) and, when a local fuzz run left any,
//! `fuzz/artifacts/frame/`, as given and resealed, under every dialect choice, through the same
//! invariants as the fuzz target (`fuzz/fuzz_targets/frame_invariants.rs`, included below).
//!
//! Seeds named by what they are also pin their meaning, so the corpus cannot silently rot:
//! `bad_*` must be rejected under every choice, `cmd*`, `stream_*` and `time_*` must decode,
//! and `gb_*`, `hj_*`, `hybrid_*` must decode with auto detection picking that dialect.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tailwatch::decode::frame::{Command, Dialect, FrameError};

#[path = "../fuzz/fuzz_targets/frame_invariants.rs"]
mod frame_invariants;

use frame_invariants::{check, reseal, Results};

const CORPUS: &str = "fuzz/corpus/frame";
/// Checked in: an input stays here once it has found a bug.
const REGRESSIONS: &str = "fuzz/regressions";
/// Not checked in (`fuzz/.gitignore`): what the last local fuzz run saved.
const ARTIFACTS: &str = "fuzz/artifacts/frame";

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs the invariants on one input, turning a codec panic into a failure for this file.
fn replay(bytes: &[u8]) -> Result<Results, String> {
    catch_unwind(AssertUnwindSafe(|| check(bytes))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Err(format!("the codec panicked: {message}"))
    })
}

/// What a seed's name promises about it, if it follows the naming scheme.
fn named_expectation(name: &str, results: &Results) -> Result<(), String> {
    let [auto, ..] = results;
    let expect_dialect = [
        ("gb_", Dialect::Gb17691),
        ("hj_", Dialect::Hj1239),
        ("hybrid_", Dialect::Hybrid),
        ("signed_bodies_", Dialect::SignedBodies),
        ("unsigned_hj_", Dialect::Hj1239Unsigned),
        ("serial_after_type_", Dialect::SerialAfterType),
        ("body_serials_", Dialect::BodySerials),
    ]
    .into_iter()
    .find(|(prefix, _)| name.starts_with(prefix));
    if name.starts_with("bad_") {
        if let Some(i) = results.iter().position(Result::is_ok) {
            return Err(format!(
                "a bad_ seed decodes under {}",
                frame_invariants::CHOICES[i]
            ));
        }
    } else if let Some((_, dialect)) = expect_dialect {
        match auto {
            Ok(f) if f.dialect == dialect => {}
            other => return Err(format!("auto should detect {dialect}, got {other:?}")),
        }
    } else if ["cmd", "stream_", "time_"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        if let Err(e) = auto {
            return Err(format!("should decode, auto rejects it: {e}"));
        }
    }
    Ok(())
}

#[test]
fn fuzz_inputs_keep_the_codec_invariants() {
    let corpus = files(CORPUS);
    assert!(!corpus.is_empty(), "{CORPUS} is empty or missing");
    let mut failures = Vec::new();
    let mut commands = Vec::new();
    let mut dialects = Vec::new();
    let mut reasons = Vec::new();
    let inputs = corpus
        .iter()
        .cloned()
        .chain(files(REGRESSIONS))
        .chain(files(ARTIFACTS));
    for path in inputs {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let bytes = fs::read(&path).expect("readable input");
        let mut fail = |e: String| failures.push(format!("{}: {e}", path.display()));
        match replay(&bytes) {
            Ok(results) => {
                if let Err(e) = named_expectation(name, &results) {
                    fail(e);
                }
                if let Ok(f) = &results[0] {
                    commands.push(f.command());
                    dialects.push(f.dialect);
                }
                reasons.extend(
                    results
                        .iter()
                        .filter_map(|r| r.as_ref().err())
                        .map(FrameError::reason),
                );
            }
            Err(e) => fail(e),
        }
        if let Some(sealed) = reseal(&bytes) {
            if let Err(e) = replay(&sealed) {
                fail(format!("after resealing length and BCC: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // A corpus that lost its breadth would still pass the loop above; keep it honest.
    for code in 1..=8 {
        let command = Command::from_code(code).expect("commands 1..=8 exist");
        assert!(commands.contains(&command), "no {command} frame decodes");
    }
    for dialect in Dialect::ALL {
        assert!(dialects.contains(&dialect), "auto never detects {dialect}");
    }
    for reason in FrameError::REASONS {
        assert!(
            reasons.contains(&reason),
            "no input is rejected as {reason}"
        );
    }
}
