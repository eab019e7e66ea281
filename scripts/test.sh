#!/usr/bin/env bash
# The whole test suite, as a new user runs it from a fresh clone; CI calls this same script.
# Needs Rust (cargo), Java 17, Maven, Python 3, and npm or Go (for buf). First the protobuf
# schemas are checked against the released ones for wire and JSON compatibility
# (scripts/proto-compat.sh: buf, installed into .tools/bin from npm on Linux x86-64, else built
# with Go). scripts/kafka-local.sh installs Apache Kafka from Maven Central and starts it on
# 127.0.0.1:9092 for the real-broker tests, and stops it after (unless it was already
# running); a second broker (Tianjin's, 127.0.0.1:29092, .kafka-tianjin/) and MirrorMaker 2
# between them (scripts/mirror-local.sh, from Maven Central into .kafka-mirror/) serve the
# sharing test. The protobuf schemas compile without a system protoc.
# Then the chaos suite runs in its short mode (scripts/chaos.sh --short: a release build unless
# TAILWATCH_BIN names one, its own broker on 127.0.0.1:19092 or the next free port pair, four
# to five minutes), the Kubernetes manifests are rendered and validated
# (scripts/validate-manifests.sh, kubernetes-validate from PyPI in .venv-deploy/), and the
# input edge is fuzzed briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

# proto/ against tests/golden/proto-released/ (buf breaking, WIRE_JSON), then the proof that
# the check fails on a renumbered, retyped, removed or renamed field of BlacklistEvent.
scripts/proto-compat.sh
scripts/proto-compat.sh --self-test

started_kafka=0
if ! scripts/kafka-local.sh status >/dev/null 2>&1; then
    scripts/kafka-local.sh start
    started_kafka=1
fi
# A neighbouring province's broker (Tianjin, same jars, its own folder and port) and
# MirrorMaker 2 mirroring its shared topics into ours, for tests/sharing.rs.
tianjin() {
    TAILWATCH_KAFKA_HOME="$PWD/.kafka-tianjin" TAILWATCH_KAFKA_PORT=29092 \
        TAILWATCH_KAFKA_LIBS="$PWD/.kafka/libs" scripts/kafka-local.sh "$@"
}
started_tianjin=0
if ! tianjin status >/dev/null 2>&1; then
    tianjin start
    started_tianjin=1
fi
stop_all() {
    scripts/mirror-local.sh stop >/dev/null 2>&1 || true
    if [ "$started_tianjin" = 1 ]; then
        tianjin stop || true
    fi
    if [ "$started_kafka" = 1 ]; then
        scripts/kafka-local.sh stop || true
    fi
}
trap stop_all EXIT
scripts/mirror-local.sh stop >/dev/null 2>&1 || true
TAILWATCH_MIRROR_TOPICS='.*shared\.overlimit' scripts/mirror-local.sh start

TAILWATCH_TEST_BROKERS="${TAILWATCH_TEST_BROKERS:-127.0.0.1:9092}" \
    TAILWATCH_TEST_NEIGHBOUR_BROKERS=127.0.0.1:29092 cargo test
# SIGKILLs, broker restarts, a rebalance storm and a produce quota while input streams, each
# compared with the offline replay (RELIABILITY.md). Its broker is its own, in .kafka-chaos/ on
# another port: the one above is left alone.
scripts/chaos.sh --short
scripts/validate-manifests.sh
# A short libFuzzer run of the raw frame decoder and of the record decode, half the seconds
# each, over the checked-in corpora (needs a nightly toolchain and a C++ compiler; where nightly
# is missing it says so and is skipped — the corpora themselves are replayed on stable by
# `cargo test`, tests/frame_corpus.rs and tests/record_corpus.rs).
TAILWATCH_FUZZ_OPTIONAL="${TAILWATCH_FUZZ_OPTIONAL:-1}" scripts/fuzz.sh "${TAILWATCH_FUZZ_SECONDS:-30}"
