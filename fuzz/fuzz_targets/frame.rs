//! Fuzz target for the raw terminal frame codec: every input, as given and with its length
//! and BCC resealed, is decoded under every dialect choice and must satisfy the invariants in
//! `frame_invariants.rs` (no panic, canonical re-encoding, values in range or absent with
//! the right reason, auto detection agreeing with the explicit dialect). A violation panics,
//! which libFuzzer reports as a crash and saves under `fuzz/artifacts/frame/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "frame_invariants.rs"]
mod frame_invariants;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = frame_invariants::check(data) {
        panic!("{violation}");
    }
    if let Some(sealed) = frame_invariants::reseal(data) {
        if let Err(violation) = frame_invariants::check(&sealed) {
            panic!("after resealing length and BCC: {violation}");
        }
    }
});
