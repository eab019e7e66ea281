#!/usr/bin/env bash
# Renders every kustomization under deploy/ and validates what it renders, offline:
#   - built-in kinds against the Kubernetes JSON schemas (strict: unknown fields fail), for each
#     version in KUBERNETES_VERSIONS;
#   - the Prometheus Operator kinds (ServiceMonitor, PrometheusRule) against the small schemas in
#     deploy/validate/schemas/ (CRDs are not in the Kubernetes schemas);
#   - each rendered PrometheusRule's rules with Prometheus' own promtool: `check rules`, and
#     `test rules` with the unit tests in deploy/validate/alerts.test.yaml;
#   - wiring and the service contract (deploy/validate/validate.py): references resolve,
#     selectors select, probes hit real ports, tailwatch.toml has only known keys and its file
#     paths are mounted, no secret in a ConfigMap, replicas <= partitions, pod security, the
#     listen addresses match the container ports, NetworkPolicies deny by default and open
#     only DNS, the brokers, the admin port to Prometheus and the console port to the console;
#     the topic Job has a Kafka principal and Secret of its own; PDB and spreading settings;
#   - the Dockerfile with hadolint, and .dockerignore keeping the big and secret folders out;
#   - the Grafana dashboard: JSON, ${DS_PROMETHEUS}, only metrics the service exports, and
#     those names defined in src/metrics.rs.
# Exits non-zero on any problem.
#
# Needs kubectl (its built-in kustomize) or kustomize, else builds kustomize with Go; python3;
# and PyPI once, to fill .venv-deploy/ (git-ignored) from deploy/validate/requirements.txt;
# promtool: when it is not on PATH, it installs Debian's `prometheus` package (which ships
# promtool; needs root and apt), else builds promtool with Go into .venv-deploy/bin. Later runs
# need no network.
#
#   KUBERNETES_VERSIONS  default "1.30 1.34": the oldest cluster version supported, and the
#                        newest schemas the pinned kubernetes-validate ships
#   VENV                 default .venv-deploy
set -euo pipefail
cd "$(dirname "$0")/.."

versions="${KUBERNETES_VERSIONS:-1.30 1.34}"
venv="${VENV:-.venv-deploy}"
case "$venv" in /*) ;; *) venv="$(pwd)/$venv" ;; esac
requirements=deploy/validate/requirements.txt
kustomize_module=sigs.k8s.io/kustomize/kustomize/v5@v5.5.0 # the version kubectl 1.32 embeds
# Fallback only, where apt cannot install Debian's package. Prometheus' Go module versions are
# v0.3<minor>: v0.316.0 is Prometheus 3.16.0, whose go.mod has no replace or exclude directive (go install
# refuses those; earlier releases have them).
promtool_module=github.com/prometheus/prometheus/cmd/promtool@v0.316.0

say() { printf 'validate-manifests: %s\n' "$*"; }
die() { printf 'validate-manifests: %s\n' "$*" >&2; exit 2; }

# --- the validator's Python environment, pinned; rebuilt when the pins change
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/.requirements"; then
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to validate the manifests"
    say "installing the validator into $venv/ (pins: $requirements)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"; then
        rm -rf "$venv"
        die "pip could not install $requirements: it needs PyPI once; later runs are offline"
    fi
    cp "$requirements" "$venv/.requirements"
fi

# --- the renderer
if command -v kubectl >/dev/null 2>&1; then
    render() { kubectl kustomize "$1"; }
    renderer="kubectl kustomize (kustomize $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
elif command -v kustomize >/dev/null 2>&1 || [ -x "$venv/bin/kustomize" ]; then
    kustomize_bin="$(command -v kustomize || echo "$venv/bin/kustomize")"
    render() { "$kustomize_bin" build "$1"; }
    renderer="$kustomize_bin build ($("$kustomize_bin" version 2>/dev/null || true))"
elif command -v go >/dev/null 2>&1; then
    say "no kubectl or kustomize on PATH: building $kustomize_module into $venv/bin (once)"
    GOBIN="$venv/bin" go install "$kustomize_module" \
        || die "could not build kustomize; install kubectl or kustomize and run again"
    kustomize_bin="$venv/bin/kustomize"
    render() { "$kustomize_bin" build "$1"; }
    renderer="$kustomize_bin build ($("$kustomize_bin" version 2>/dev/null || true))"
else
    die "no kubectl, kustomize or go on PATH: install kubectl (it embeds kustomize) or kustomize"
fi

# --- promtool, Prometheus' rule checker and rule unit-test runner
find_promtool() {
    if command -v promtool >/dev/null 2>&1; then command -v promtool
    elif [ -x "$venv/bin/promtool" ]; then echo "$venv/bin/promtool"
    fi
}
promtool_bin="$(find_promtool)"
if [ -z "$promtool_bin" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    say "no promtool: installing Debian's prometheus package, which ships it (once)"
    # The package also brings the Prometheus server as a service. Only promtool is wanted here,
    # so a server this install started is stopped again (one that ran before is left alone).
    server_running() {
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
            echo systemd
        elif command -v service >/dev/null 2>&1 && service prometheus status >/dev/null 2>&1; then
            echo sysv
        fi
    }
    server_before="$(server_running)"
    if { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
        >"$venv/apt-prometheus.log" 2>&1; then
        if [ -z "$server_before" ]; then
            case "$(server_running)" in
                systemd) systemctl disable --now prometheus >/dev/null 2>&1 || true ;;
                sysv) service prometheus stop >/dev/null 2>&1 || true ;;
            esac
        fi
    else
        say "apt-get could not install prometheus:"
        tail -n 5 "$venv/apt-prometheus.log" | sed 's/^/    /'
    fi
    promtool_bin="$(find_promtool)"
fi
if [ -z "$promtool_bin" ] && command -v go >/dev/null 2>&1; then
    say "no promtool: building $promtool_module into $venv/bin with Go (once; can take half an hour)"
    GOBIN="$venv/bin" go install "$promtool_module" || say "go install $promtool_module failed"
    promtool_bin="$(find_promtool)"
fi
[ -n "$promtool_bin" ] || die "no promtool, and neither apt (as root) nor go could install it: apt-get install prometheus, or go install $promtool_module"

failed=0

# --- credentials must never be committed: the overlays' secrets/ folders are git-ignored
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    for example in deploy/overlays/*/secrets.example; do
        [ -d "$example" ] || continue
        real="${example%.example}"
        tracked="$(git ls-files -- "$real")"
        if [ -n "$tracked" ]; then
            say "FAIL credentials tracked by git: $tracked"
            failed=1
        elif ! git check-ignore -q "$real/any-file"; then
            say "FAIL $real/ is not git-ignored"
            failed=1
        else
            say "ok   $real/ is git-ignored and untracked"
        fi
    done
fi

# --- the image recipe (no Docker engine is needed for this)
if "$venv/bin/hadolint" --no-color Dockerfile; then
    say "ok   Dockerfile passes hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}')"
else
    say "FAIL Dockerfile: hadolint findings above"
    failed=1
fi
missing=""
for ignored in target/ .kafka/ .git/ deploy/; do
    grep -qxF "$ignored" .dockerignore 2>/dev/null || missing="$missing $ignored"
done
if [ -n "$missing" ]; then
    say "FAIL .dockerignore does not exclude$missing"
    failed=1
else
    say "ok   .dockerignore excludes target/ .kafka/ .git/ deploy/"
fi

# --- render every kustomization, with the placeholder credentials (never the real ones: this
# checks structure, and rendered Secrets land on disk)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -cf - --exclude='deploy/overlays/*/secrets' deploy | tar -xf - -C "$work"
for example in "$work"/deploy/overlays/*/secrets.example; do
    [ -d "$example" ] && cp -R "$example" "${example%.example}"
done

say "renderer: $renderer"
say "Kubernetes schema versions: $versions (kubernetes-validate $("$venv/bin/python" -c 'import kubernetes_validate; print(kubernetes_validate.__version__)'))"
rendered=()
while IFS= read -r kustomization; do
    dir="$(dirname "$kustomization")"
    name="${dir#"$work"/}"
    out="$work/rendered-${name//\//_}.yaml"
    if render "$dir" >"$out" 2>"$out.err"; then
        say "rendered $name: $(grep -c '^kind:' "$out") objects"
        rendered+=("$name=$out")
    else
        say "FAIL could not render $name:"
        sed -e "s#$work/##g" -e 's/^/    /' "$out.err"
        failed=1
    fi
done < <(find "$work/deploy" -name kustomization.yaml -not -path '*/secrets*' | sort)

validator_args=()
for v in $versions; do validator_args+=(--kubernetes-version "$v"); done
# The dashboard and alerts must chart names the code actually exports.
[ -f src/metrics.rs ] && validator_args+=(--metrics-source src/metrics.rs)
# tailwatch.toml is checked by the service's own settings code (`tailwatch config print`).
tailwatch_bin="${TAILWATCH_BIN:-}"
if [ -z "$tailwatch_bin" ]; then
    cargo build --quiet --bin tailwatch
    tailwatch_bin="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/tailwatch"
fi
validator_args+=(--tailwatch "$tailwatch_bin")

if [ "${#rendered[@]}" -gt 0 ]; then
    "$venv/bin/python" deploy/validate/validate.py "${validator_args[@]}" \
        --dashboard deploy/grafana/tailwatch-dashboard.json "${rendered[@]}" || failed=1
fi

# --- the alerts, by Prometheus itself: each rendered PrometheusRule's spec is a rule file
say "promtool: $("$promtool_bin" --version 2>&1 | head -n 1)"
for item in "${rendered[@]}"; do
    name="${item%%=*}"
    dir="$work/promtool-${name//\//_}"
    mkdir -p "$dir"
    # One rule file per PrometheusRule, named after it (the tests load tailwatch.rules.yaml).
    "$venv/bin/python" - "${item#*=}" "$dir" <<'PY'
import sys, yaml
for obj in yaml.safe_load_all(open(sys.argv[1])):
    if obj and obj.get("kind") == "PrometheusRule":
        with open(f"{sys.argv[2]}/{obj['metadata']['name']}.rules.yaml", "w") as f:
            yaml.safe_dump(obj["spec"], f, sort_keys=False)
PY
    for rules in "$dir"/*.rules.yaml; do
        [ -f "$rules" ] || continue
        if out="$("$promtool_bin" check rules "$rules" 2>&1)"; then
            say "ok   $name: promtool check rules $(basename "$rules"): $(printf '%s\n' "$out" | sed -n 's/.*SUCCESS: //p' | head -n 1)"
        else
            say "FAIL $name: promtool check rules $(basename "$rules"):"
            printf '%s\n' "$out" | sed -e "s#$work/##g" -e 's/^/    /'
            failed=1
        fi
    done
    if [ -f "$dir/tailwatch.rules.yaml" ]; then
        cp deploy/validate/alerts.test.yaml "$dir/"
        if out="$(cd "$dir" && "$promtool_bin" test rules alerts.test.yaml 2>&1)"; then
            say "ok   $name: promtool test rules deploy/validate/alerts.test.yaml ($(grep -c '^  - name:' deploy/validate/alerts.test.yaml) tests)"
        else
            say "FAIL $name: promtool test rules deploy/validate/alerts.test.yaml:"
            printf '%s\n' "$out" | sed -e "s#$work/##g" -e 's/^/    /'
            failed=1
        fi
    fi
done

if [ "$failed" -ne 0 ]; then
    say "FAILED"
    exit 1
fi
say "all manifests valid"
