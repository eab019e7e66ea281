//! The command line as an operator uses it: `config print` (precedence of file, environment
//! and flags; validation errors that name the key; secrets redacted), `decode` (raw frames
//! in, one JSON object per frame out, exit 1 after all input when any frame was rejected),
//! `replay --format hex-frames` (a gateway log replayed in arrival order) and `simulate` then
//! `replay` under the same `--rules` agreeing with the truth file.

use std::process::{Command, Output};

fn tailwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tailwatch"));
    command.args(args).env_remove("RUST_BACKTRACE");
    // The caller's own TAILWATCH_* settings must not leak into these checks.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TAILWATCH_")) {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn settings_layer_file_then_environment_then_flags() {
    let file =
        config_file("brokers = \"file:9092\"\ncommit_interval = \"250ms\"\nmerge_wait = \"2s\"\n");
    let path = file.path().to_str().unwrap();
    let print = |env: &[(&str, &str)], flags: &[&str]| {
        let mut args = vec!["config", "print", "--config", path];
        args.extend_from_slice(flags);
        let out = tailwatch(&args, env);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let from_file = print(&[], &[]);
    assert!(from_file.contains("brokers = \"file:9092\""));
    assert!(from_file.contains("commit_interval = \"250ms\""));
    assert!(from_file.contains("session_timeout = \"45s\""), "a default");

    let env = [
        ("TAILWATCH_COMMIT_INTERVAL", "400ms"),
        ("TAILWATCH_BROKERS", "env:9092"),
    ];
    let from_env = print(&env, &[]);
    assert!(from_env.contains("commit_interval = \"400ms\""));
    assert!(from_env.contains("brokers = \"env:9092\""));
    assert!(
        from_env.contains("merge_wait = \"2s\""),
        "untouched keys stay the file's"
    );

    let from_flag = print(&env, &["--commit-interval", "500ms"]);
    assert!(from_flag.contains("commit_interval = \"500ms\""));
    assert!(from_flag.contains("brokers = \"env:9092\""));
}

#[test]
fn the_documented_example_is_accepted_as_is() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/tailwatch.example.toml");
    let out = tailwatch(&["config", "print", "--config", path], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("brokers = \"kafka-0.kafka:9092,kafka-1.kafka:9092\""));
}

#[test]
fn invalid_settings_fail_naming_the_key() {
    let cases = [
        (
            "brokers = \"k\"\ncommit_intervall = \"1s\"\n",
            "commit_intervall",
        ),
        (
            "brokers = \"k\"\nsession_timeout = \"5s\"\n",
            "session_timeout",
        ),
        (
            "brokers = \"k\"\nsecurity_protocol = \"sasl_ssl\"\n",
            "sasl_mechanism",
        ),
        (
            "brokers = \"k\"\nraw_dialect = \"gb32960\"\n",
            "raw_dialect",
        ),
        ("topic_prefix = \"x.\"\n", "brokers"),
    ];
    for (text, key) in cases {
        let file = config_file(text);
        let out = tailwatch(
            &["config", "print", "--config", file.path().to_str().unwrap()],
            &[],
        );
        assert!(!out.status.success(), "{text} was accepted");
        assert!(stderr(&out).contains(key), "{text}: {}", stderr(&out));
    }
}

#[test]
fn the_sasl_password_is_never_printed() {
    let file = config_file(
        "brokers = \"k\"\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"tw\"\n",
    );
    let out = tailwatch(
        &["config", "print", "--config", file.path().to_str().unwrap()],
        &[("TAILWATCH_SASL_PASSWORD", "hunter2-secret")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("hunter2-secret"));
    assert!(stdout(&out).contains("<redacted>"));
}

/// A GB 17691 real-time frame: one OBD body (MIL on, DTC 20 47 00 AF) and one stream body
/// (60 km/h, 1500 rpm, NOx 800 → 300 ppm, SCR outlet raw 0xFEFF: out of range, position
/// 116.3975 W 39.9087 S), built from domain.md §2.
const GB_FRAME: &str = "2323024C47444348413147384D41313237373333010100931A0B02081E000007010001000000004C47444348413147384D4131323737333343414C31323330303030303030303030303043564E34353630303030303030303030303000000000000000000000000000000000000000000000000000000000000000000000000001204700AF023C00C8A5732EE001904E2027107D1F4047A0FEFF00147D960606F015BC0260F55C0012D68784";

#[test]
fn decode_prints_every_field_and_fails_after_all_input_on_a_bad_frame() {
    let bad_bcc = format!("{}00", &GB_FRAME[..GB_FRAME.len() - 2]);
    let out = tailwatch(&["decode", GB_FRAME, &bad_bcc, "not hex"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per input, the bad ones too");
    let f = &lines[0];
    assert_eq!(f["vin"], "LGDCHA1G8MA127733");
    assert_eq!(f["vin_valid"], true);
    assert_eq!(f["command"], "realtime");
    assert_eq!(f["collected_at"], "2026-11-02T08:30:00+08:00");
    assert_eq!(f["serial"], 7);
    let obd = &f["bodies"][0];
    assert_eq!(obd["type"], "obd");
    assert_eq!(obd["mil"], true);
    assert_eq!(obd["dtcs"][0], "P2047");
    assert_eq!(obd["protocol"], "iso15765");
    let s = &f["bodies"][1];
    assert_eq!(s["type"], "stream");
    assert_eq!(s["speed_kmh"], 60.0);
    assert_eq!(s["engine_rpm"], 1500.0);
    assert_eq!(s["nox_upstream_ppm"], 800.0);
    assert_eq!(s["nox_downstream_ppm"], 300.0);
    assert_eq!(s["scr_outlet_c"], serde_json::Value::Null);
    assert_eq!(s["absent"]["scr_outlet_c"], "out_of_range");
    assert_eq!(s["position"]["lon"], -116.3975);
    assert_eq!(s["position"]["lat"], -39.9087);
    assert_eq!(lines[1]["error"], "frame_bad_bcc");
    assert_eq!(lines[2]["error"], "bad_hex");
}

#[test]
fn decode_reads_stdin_and_exits_0_when_all_frames_decode() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(["decode", "--dialect", "gb17691"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{GB_FRAME}\n\n{GB_FRAME}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 2);
}

/// `GB_FRAME` as `command` (0x02 real-time, 0x03 reissue) collected on 2026-11-02 at
/// `hour`:00 Beijing, BCC recomputed.
fn gb_frame_at(command: u8, hour: u8) -> String {
    let mut f = tailwatch::recording::unhex(GB_FRAME).unwrap();
    f[2] = command;
    f[24..30].copy_from_slice(&[26, 11, 2, hour, 0, 0]);
    let last = f.len() - 1;
    f[last] = f[..last].iter().fold(0, |a, b| a ^ b);
    tailwatch::recording::hex(&f)
}

#[test]
fn replay_of_a_gateway_log_keeps_arrival_order() {
    // Real-time at 10:00, then a reissue collected at 09:00 that arrived after it. With a
    // 30 min grace the reissue is late only if the engine sees it second, and it is dated by
    // its frame (09:00), not by its place in the log.
    let log = config_file(&format!(
        "{}\n{}\n",
        gb_frame_at(0x02, 10),
        gb_frame_at(0x03, 9)
    ));
    let rules = config_file("[time]\ngrace = \"30m\"\n");
    let out = tempfile::tempdir().unwrap();
    let run = tailwatch(
        &[
            "replay",
            "--format",
            "hex-frames",
            "--dialect",
            "gb17691",
            "--input",
            log.path().to_str().unwrap(),
            "--rules",
            rules.path().to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let dlq = std::fs::read_to_string(out.path().join("dlq.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = dlq
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{dlq}");
    let headers = &lines[0]["headers"];
    assert_eq!(headers["tw-error-kind"], "late");
    assert_eq!(
        headers["tw-source-offset"], "1",
        "the reissue, second in the log"
    );
    let message = headers["tw-error-message"].as_str().unwrap();
    assert!(message.contains("2026-11-02T01:00:00Z"), "{message}");
}

/// `simulate` then `replay` under one set of rules: what the truth lists, the replay decides;
/// what the run cannot decide is listed apart and stays undecided, and a note says so. The
/// truth's stray plate reads are what the replay dead-letters, but those still held at the end.
#[test]
fn simulate_and_replay_under_the_same_rules_agree_with_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let shortened = config_file(
        "[mil_emission_fault]\nmin_duration = \"30m\"\n[data_gap]\nfill_within = \"20m\"\n",
    );
    let shortened = shortened.path().to_str().unwrap();
    let simulate = |rules: Option<&str>, out: &str| {
        let (fleet, truth) = (path(&format!("{out}.jsonl")), path(&format!("{out}.truth")));
        let mut args = vec![
            "simulate",
            "--vehicles",
            "30",
            "--duration",
            "2h",
            "--seed",
            "3",
            "--fault-fraction",
            "0.5",
            "--faults",
            "mil_emission_fault=1,data_gap=1",
            "--out",
            &fleet,
            "--truth",
            &truth,
        ];
        args.extend(rules.iter().flat_map(|r| ["--rules", r]));
        let run = tailwatch(&args, &[]);
        assert!(run.status.success(), "{}", stderr(&run));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&truth)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // Vehicles first, then the stray plate reads.
        let (truth, strays): (Vec<_>, Vec<_>) =
            lines.into_iter().partition(|t| t.get("vin").is_some());
        assert_eq!(strays.len(), 6, "{strays:?}");
        let mut dead_letters = std::collections::BTreeMap::<String, usize>::new();
        for stray in strays.iter().filter(|s| s.get("held").is_none()) {
            *dead_letters
                .entry(stray["dlq"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        (
            stderr(&run),
            std::fs::read(&fleet).unwrap(),
            truth,
            dead_letters,
        )
    };
    let replay = |rules: Option<&str>, out: &str| {
        let (fleet, dir) = (path(&format!("{out}.jsonl")), path(out));
        let mut args = vec!["replay", "--input", &fleet, "--out", &dir];
        args.extend(rules.iter().flat_map(|r| ["--rules", r]));
        let run = tailwatch(&args, &[]);
        assert!(run.status.success(), "{}", stderr(&run));
        let mut dead_letters = std::collections::BTreeMap::<String, usize>::new();
        for line in std::fs::read_to_string(dir.clone() + "/dlq.jsonl")
            .unwrap()
            .lines()
        {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let reason = record["headers"]["tw-error-kind"].as_str().unwrap();
            *dead_letters.entry(reason.to_owned()).or_default() += 1;
        }
        let cases = std::fs::read_to_string(dir.clone() + "/cases.jsonl").unwrap();
        let cases = cases
            .lines()
            .map(|l| {
                let case: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    case["vin"].as_str().unwrap().to_owned(),
                    case["rule"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<std::collections::BTreeSet<_>>();
        (cases, dead_letters)
    };

    // The default rules: 72 h of MIL and a 7-day fill period do not fit in 2 hours.
    let (notes, _, truth, dead_letters) = simulate(None, "default");
    assert!(
        notes.contains("note: faults this run cannot decide under its rules are injected but listed as \"undecidable\""),
        "{notes}"
    );
    let undecidable: Vec<&serde_json::Value> = truth
        .iter()
        .filter(|t| t.get("undecidable").is_some())
        .collect();
    assert_eq!(undecidable.len(), 15);
    assert!(truth
        .iter()
        .all(|t| t["faults"].as_array().unwrap().is_empty()));
    assert_eq!(
        undecidable[0]["undecidable"][0]["why"].as_str().unwrap(),
        match undecidable[0]["undecidable"][0]["rule"].as_str().unwrap() {
            "data_gap" => "decided 7d after the gap ends (data_gap.fill_within), the run is 2h",
            _ => "needs 72h of MIL on (mil_emission_fault.min_duration), the run is 2h",
        }
    );
    let (cases, dlq) = replay(None, "default");
    assert!(cases.is_empty(), "nothing is decided");
    // Two reads with an I or O and two without a colour; the two of plates nobody carries
    // are held for 72 hours, longer than the run.
    assert_eq!(dlq, dead_letters);
    assert_eq!(dlq.get("invalid_plate"), Some(&4));

    // Shortened for both: every fault listed is decided, nothing else; same rules, same bytes.
    let (notes, fleet, truth, dead_letters) = simulate(Some(shortened), "shortened");
    assert!(!notes.contains("note:"), "{notes}");
    let expected: std::collections::BTreeSet<(String, String)> = truth
        .iter()
        .flat_map(|t| {
            let vin = t["vin"].as_str().unwrap().to_owned();
            t["faults"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (vin.clone(), f.as_str().unwrap().to_owned()))
        })
        .collect();
    assert_eq!(expected.len(), 15);
    assert_eq!(
        replay(Some(shortened), "shortened"),
        (expected, dead_letters)
    );
    assert_eq!(simulate(Some(shortened), "again").1, fleet);
}
