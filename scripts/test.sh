#!/usr/bin/env bash
# The whole test suite, as a new user runs it from a fresh clone. CI calls this same script.
# Needs only Rust (cargo); protobuf schemas compile without a system protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
