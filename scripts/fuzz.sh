#!/usr/bin/env bash
# Fuzzes the raw terminal frame codec (fuzz target `frame`, see fuzz/fuzz_targets/frame.rs)
# for SECONDS (default 30), starting from the checked-in corpus fuzz/corpus/frame. Exits
# non-zero on any crash, panic or invariant violation and says where the input was saved.
#
#   scripts/fuzz.sh [SECONDS]
#
# Needs a nightly toolchain (rustup) and cargo-fuzz; installs cargo-fuzz 0.13.2 from crates.io
# if only that is missing. Without them it fails, unless TAILWATCH_FUZZ_OPTIONAL=1, when it
# says so and exits 0 (for machines where fuzzing is not set up). TAILWATCH_FUZZ_TOOLCHAIN
# picks another toolchain than `nightly`.
#
# New corpus entries go to a temporary directory that is deleted afterwards, so a run never
# changes the repository; fuzz/corpus/frame is only read. Crash inputs go to
# fuzz/artifacts/frame/ (git-ignored), where `cargo test --test frame_corpus` also replays
# them. To grow the checked-in corpus deliberately, fuzz into a scratch directory and merge:
#   cargo +nightly fuzz run frame /tmp/found fuzz/corpus/frame -- -max_total_time=600
#   cargo +nightly fuzz cmin frame fuzz/corpus/frame   # after copying /tmp/found in
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]  (a positive whole number, default 30)" >&2
    exit 2
fi
toolchain="${TAILWATCH_FUZZ_TOOLCHAIN:-nightly}"

unavailable() {
    echo "fuzz.sh: $1" >&2
    if [ "${TAILWATCH_FUZZ_OPTIONAL:-0}" = 1 ]; then
        echo "fuzz.sh: fuzzing SKIPPED (TAILWATCH_FUZZ_OPTIONAL=1)" >&2
        exit 0
    fi
    echo "fuzz.sh: set TAILWATCH_FUZZ_OPTIONAL=1 to skip fuzzing where it cannot run" >&2
    exit 1
}

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
    unavailable "no '$toolchain' Rust toolchain (cargo-fuzz needs nightly): rustup toolchain install nightly"
fi
if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not found, installing cargo-fuzz 0.13.2 from crates.io" >&2
    cargo install cargo-fuzz --locked --version 0.13.2 ||
        unavailable "cargo-fuzz is missing and could not be installed"
fi
# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null 2>&1; then
    unavailable "no C++ compiler (c++) to build libFuzzer: install g++ or clang"
fi

# The fuzz crate has its own workspace and builds into fuzz/target with sanitizer flags; an
# inherited target dir would make it fight the main build over one directory.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

work="$(mktemp -d "${TMPDIR:-/tmp}/tailwatch-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" fuzz/artifacts/frame

# Build first, so that SECONDS is spent fuzzing rather than compiling.
cargo "+$toolchain" fuzz build frame

set +e
# -max_len: room for long data units (ten streams with OBD and signature, 253 DTCs) beyond
# the largest seed. -timeout: a frame decodes in microseconds; seconds means a hang.
cargo "+$toolchain" fuzz run frame "$work/corpus" fuzz/corpus/frame -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 2>&1 | tee "$work/log"
status=${PIPESTATUS[0]}
set -e

if [ "$status" -ne 0 ]; then
    echo >&2
    echo "fuzz.sh: the frame fuzzer FAILED (exit $status)" >&2
    saved="$(grep -o 'Test unit written to .*' "$work/log" | sed 's/^Test unit written to //' || true)"
    if [ -n "$saved" ]; then
        while read -r path; do
            echo "fuzz.sh: failing input saved to $path" >&2
            echo "fuzz.sh:   reproduce: cargo +$toolchain fuzz run frame $path" >&2
        done <<<"$saved"
        echo "fuzz.sh:   or on stable: cargo test --test frame_corpus (replays fuzz/artifacts/frame)" >&2
        echo "fuzz.sh:   once understood, copy it into fuzz/regressions/ and check it in" >&2
    fi
    exit "$status"
fi
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$work/log" |
    sed 's/^/fuzz.sh: /' || true
echo "fuzz.sh: ${seconds}s of fuzzing found nothing"
