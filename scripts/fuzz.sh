#!/usr/bin/env bash
# Fuzzes the input edge for SECONDS (default 30) in all: the raw terminal frame codec (fuzz
# target `frame`, fuzz/fuzz_targets/frame.rs) and the whole record decode on every input topic
# (target `record`, fuzz/fuzz_targets/record.rs), each for its share of SECONDS, starting from
# its checked-in corpus fuzz/corpus/<target>. Naming a TARGET runs only that one, for all of
# SECONDS. Exits non-zero on any crash, panic or invariant violation and says where the input
# was saved.
#
#   scripts/fuzz.sh [SECONDS [TARGET]]
#
# Needs a nightly toolchain (rustup) and cargo-fuzz; installs cargo-fuzz 0.13.2 from crates.io
# if only that is missing. Without them it fails, unless TAILWATCH_FUZZ_OPTIONAL=1, when it
# says so and exits 0 (for machines where fuzzing is not set up). TAILWATCH_FUZZ_TOOLCHAIN
# picks another toolchain than `nightly`.
#
# New corpus entries go to a temporary directory that is deleted afterwards, so a run never
# changes the repository; fuzz/corpus/<target> is only read. Crash inputs go to
# fuzz/artifacts/<target>/ (git-ignored), where `cargo test --test frame_corpus` and
# `cargo test --test record_corpus` also replay them. To grow a checked-in corpus
# deliberately, fuzz into a scratch directory and merge (RELIABILITY.md has the long run):
#   cargo +nightly fuzz run record /tmp/found fuzz/corpus/record -- -max_total_time=600
#   cargo +nightly fuzz cmin record fuzz/corpus/record   # after copying /tmp/found in
# (for `record`, then write its named seeds back: see tests/record_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(frame record)
usage="usage: scripts/fuzz.sh [SECONDS [TARGET]]  (SECONDS a positive whole number, default 30; TARGET one of: ${all_targets[*]})"
seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "$usage" >&2
    exit 2
fi
if [ $# -ge 2 ]; then
    if [[ " ${all_targets[*]} " != *" $2 "* ]] || [ $# -gt 2 ]; then
        echo "$usage" >&2
        exit 2
    fi
    targets=("$2")
else
    targets=("${all_targets[@]}")
fi
# Each target gets an equal share, at least a second.
share=$((seconds / ${#targets[@]}))
[ "$share" -ge 1 ] || share=1
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

# Build first, so that SECONDS is spent fuzzing rather than compiling.
cargo "+$toolchain" fuzz build

failed=()
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "fuzz/artifacts/$target"
    log="$work/$target.log"
    set +e
    # -max_len: room for long data units (ten streams with OBD and signature, 253 DTCs) and a
    # record's key and headers beyond the largest seed. -timeout: a record decodes in
    # microseconds; seconds means a hang.
    cargo "+$toolchain" fuzz run "$target" "$work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$share" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e

    if [ "$status" -ne 0 ]; then
        echo >&2
        echo "fuzz.sh: the $target fuzzer FAILED (exit $status)" >&2
        saved="$(grep -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to //' || true)"
        if [ -n "$saved" ]; then
            regressions=fuzz/regressions
            [ "$target" = frame ] || regressions="fuzz/regressions/$target"
            while read -r path; do
                echo "fuzz.sh: failing input saved to $path" >&2
                echo "fuzz.sh:   reproduce: cargo +$toolchain fuzz run $target $path" >&2
            done <<<"$saved"
            echo "fuzz.sh:   or on stable: cargo test --test ${target}_corpus (replays fuzz/artifacts/$target)" >&2
            echo "fuzz.sh:   once understood, copy it into $regressions/ and check it in" >&2
        fi
        failed+=("$target")
        continue
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log" |
        sed "s/^/fuzz.sh: $target: /" || true
    echo "fuzz.sh: ${share}s of fuzzing $target found nothing"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
