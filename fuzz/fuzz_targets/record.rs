//! Fuzz target for the input edge: every input is read as a Kafka record on one of the input
//! topics (`TopicKind::INPUTS`, or now and then a topic not consumed) with its key, headers,
//! timestamp and value or tombstone (see `record_invariants.rs` for the layout), decoded by
//! `tailwatch::decode::record` as the pipeline does, and must satisfy the invariants there
//! (no panic, deterministic, decoded into well-formed evidence or rejected with a known DLQ
//! reason that can happen for that record). A violation panics, which libFuzzer reports as a
//! crash and saves under `fuzz/artifacts/record/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "record_invariants.rs"]
#[allow(dead_code)] // `to_bytes` is for writing seeds (tests/record_corpus.rs)
mod record_invariants;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = record_invariants::check(data) {
        panic!("{violation}");
    }
});
