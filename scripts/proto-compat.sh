#!/usr/bin/env bash
# Wire compatibility of the protobuf schemas: `buf breaking` checks proto/ against the last
# released schemas (tests/golden/proto-released/), so a consumer of tw.blacklist, tw.cases or
# any other topic is never broken by a renumbered, retyped, renamed or removed field.
#
#   scripts/proto-compat.sh               the check (scripts/test.sh runs it)
#   scripts/proto-compat.sh --self-test   shows the check can fail: on copies of proto/, a
#                                         renumbered, retyped, removed or renamed field of
#                                         BlacklistEvent must be reported as breaking, and a
#                                         new field with a new number must be accepted
#
# Rules (proto/buf.yaml): WIRE_JSON. WIRE alone protects the binary encoding (numbers,
# types, cardinality), but tailwatch also writes and reads these messages as protobuf JSON
# (recordings, replay's blacklist.jsonl and cases.jsonl, keyed by the .proto field names), so
# WIRE_JSON adds the field, JSON and enum value name rules. The FILE and PACKAGE sets only add
# generated-code source compatibility (file moves, options), nothing a topic's reader sees.
#
# buf is installed when missing into .tools/bin/ (git-ignored), pinned to BUF_VERSION:
# - on Linux x86-64 with npm, buf's own release binary from the npm package
#   @bufbuild/buf-linux-x64 (`npm pack`; the tarball's SHA-512 is pinned below): 5-7 s cold;
# - else (or TAILWATCH_BUF_FROM=go) built with `go install` from the Go module proxy (needs
#   Go, e.g. /usr/local/go/bin/go; checked against the Go checksum database). Cold, that is
#   ~4.5 CPU-minutes of compiling and ~500 MB of modules: 6.5-10 min on 2 busy cores. Go's
#   module and build caches live in ~/.cache/tailwatch/go (TAILWATCH_GO_CACHE), so another
#   clone on the same machine only links the binary again (~12 s).
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=v1.75.0
BUF="$PWD/.tools/bin/buf"
RELEASED=tests/golden/proto-released

# sha512sum of the npm tarball @bufbuild/buf-linux-x64@BUF_VERSION (its registry "integrity").
BUF_NPM_LINUX_X64_SHA512=606189031d25a4c084eda3168cd38971fa04686fdefa26079d30b8499d0fe5e4b821f7ccaf203d678fdb6f59b5c0d5c0109f004c530464e024ff9c7d544e3b8a

install_buf_npm() {
    local tmp tgz ok=0
    tmp="$(mktemp -d)"
    tgz="$tmp/bufbuild-buf-linux-x64-${BUF_VERSION#v}.tgz"
    echo "proto-compat: installing buf $BUF_VERSION into .tools/bin (npm package @bufbuild/buf-linux-x64)" >&2
    if (cd "$tmp" && npm pack --ignore-scripts --silent "@bufbuild/buf-linux-x64@${BUF_VERSION#v}" >/dev/null) &&
        [ -f "$tgz" ]; then
        if ! echo "$BUF_NPM_LINUX_X64_SHA512  $tgz" | sha512sum --check --quiet >/dev/null 2>&1; then
            echo "proto-compat: the npm tarball of buf $BUF_VERSION does not have the pinned SHA-512" >&2
            rm -rf "$tmp"
            exit 1
        fi
        tar -xzf "$tgz" -C "$tmp" package/bin/buf && install -m 755 "$tmp/package/bin/buf" "$BUF" && ok=1
    fi
    rm -rf "$tmp"
    [ "$ok" = 1 ]
}

install_buf_go() {
    local go
    go="$(command -v go || true)"
    if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then
        go=/usr/local/go/bin/go
    fi
    if [ -z "$go" ]; then
        echo "proto-compat: needs npm (Linux x86-64) or Go to install buf $BUF_VERSION" >&2
        exit 1
    fi
    local cache="${TAILWATCH_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tailwatch/go}"
    echo "proto-compat: installing buf $BUF_VERSION into .tools/bin (go install; Go caches in $cache)" >&2
    GOBIN="$(dirname "$BUF")" GOPATH="$cache/path" GOMODCACHE="$cache/mod" GOCACHE="$cache/build" \
        GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
        "$go" install -trimpath "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
}

install_buf() {
    if [ -x "$BUF" ] && [ "$("$BUF" --version 2>/dev/null)" = "${BUF_VERSION#v}" ]; then
        return
    fi
    mkdir -p "$(dirname "$BUF")"
    if [ "${TAILWATCH_BUF_FROM:-}" != go ] && [ "$(uname -sm)" = "Linux x86_64" ] &&
        command -v npm >/dev/null && install_buf_npm; then
        :
    else
        install_buf_go
    fi
    if [ "$("$BUF" --version 2>/dev/null)" != "${BUF_VERSION#v}" ]; then
        echo "proto-compat: .tools/bin/buf is not buf ${BUF_VERSION#v}" >&2
        exit 1
    fi
}

# breaking DIR AGAINST: buf breaking of the module in DIR against the one in AGAINST, with the
# rules of DIR/buf.yaml (proto/buf.yaml, copied with proto/ by the self-test; the released copy
# has no buf.yaml and none above it, so buf takes that directory as its module root).
breaking() {
    "$BUF" breaking "$1" --against "$2" --error-format text
}

self_test() {
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    local failed=0 out
    # case NAME EXPECT SED: apply SED to a copy of proto/'s enforcement.proto; EXPECT is
    # "breaking" or "accepted".
    case_() {
        local name="$1" expect="$2" script="$3" dir="$tmp/$1"
        cp -r proto "$dir"
        sed -i -e "$script" "$dir/tailwatch/v1/enforcement.proto"
        if cmp -s proto/tailwatch/v1/enforcement.proto "$dir/tailwatch/v1/enforcement.proto"; then
            echo "proto-compat self-test: $name: the edit changed nothing" >&2
            failed=1
            return
        fi
        if out="$(breaking "$dir" "$RELEASED" 2>&1)"; then
            if [ "$expect" = accepted ]; then
                echo "proto-compat self-test: $name: accepted, as it should be"
            else
                echo "proto-compat self-test: $name: NOT reported as breaking" >&2
                failed=1
            fi
        else
            if [ "$expect" = breaking ] && grep -q BlacklistEvent <<<"$out"; then
                echo "proto-compat self-test: $name: breaking, as it should be: $(head -n1 <<<"$out")"
            else
                echo "proto-compat self-test: $name: expected $expect, buf said:" >&2
                echo "$out" >&2
                failed=1
            fi
        fi
    }
    case_ renumbered breaking 's/^  bool vin_valid = 14;$/  bool vin_valid = 16;/'
    case_ retyped breaking 's/^  uint32 repeat_count = 9;$/  string repeat_count = 9;/'
    case_ removed breaking '/^  bool out_of_town = 10;$/d'
    case_ renamed breaking 's/^  bool out_of_town = 10;$/  bool non_local = 10;/'
    case_ added accepted 's/^  RecordRef record = 15;$/  RecordRef record = 15;\n  string note = 16;/'
    return "$failed"
}

install_buf
if [ "${1:-}" = --self-test ]; then
    self_test
else
    if ! breaking proto "$RELEASED"; then
        echo "proto-compat: proto/ breaks readers of the released schemas ($RELEASED): add" \
            "fields under new numbers, reserve the numbers and names of removed ones; refresh" \
            "the released copy only for a deliberate, reviewed change" >&2
        exit 1
    fi
    echo "proto-compat: proto/ is wire- and JSON-compatible with $RELEASED (buf $BUF_VERSION, WIRE_JSON)"
fi
