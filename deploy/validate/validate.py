#!/usr/bin/env python3
"""Validates rendered tailwatch manifests; run by scripts/validate-manifests.sh in .venv-deploy/.

Three layers, every one offline:
  1. Schema: each object against the Kubernetes JSON schema of every requested version
     (kubernetes-validate, strict: unknown fields fail), and the Prometheus Operator kinds
     against the small schemas in schemas/ (the CRDs are not part of Kubernetes).
  2. Wiring: what a schema cannot see but the cluster or the service would trip over: references
     to ConfigMaps/Secrets/Services that are not rendered, selectors that select nothing, probe
     ports that do not exist, config file paths that no volume provides, the pod security
     settings, more pods than partitions, NetworkPolicies that deny by default and open only
     the paths the service needs.
  3. The service contract: tailwatch.toml keys and values, secrets kept out of it, the ports and
     shutdown timeout the service uses against the pod spec, and metric names in the dashboard
     and alerts.

Usage: validate.py [--kubernetes-version V]... [--dashboard FILE] [--metrics-source FILE]
                   NAME=RENDERED.yaml...
Exit status 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

HERE = pathlib.Path(__file__).resolve().parent

# Kinds that are not built into Kubernetes, with the schema written for each in schemas/.
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
}
CLUSTER_SCOPED = {"Namespace"}

# The binary that reads tailwatch.toml (`tailwatch config print`): keys, values and the
# relations between them are checked by the service's own code, not re-implemented here.
TAILWATCH: pathlib.Path | None = None

# The metrics the service exports (name → label names); the dashboard and alerts may use only
# these, plus the few cluster metrics below.
METRICS = {
    "tailwatch_records_consumed_total": {"topic"},
    "tailwatch_decode_rejects_total": {"topic", "reason"},
    "tailwatch_absent_values_total": {"field", "reason"},
    "tailwatch_outputs_total": {"kind", "rule"},
    "tailwatch_dlq_records_total": {"reason"},
    "tailwatch_neighbour_rejects_total": {"reason"},
    "tailwatch_late_records_total": set(),
    "tailwatch_transactions_total": {"outcome"},
    "tailwatch_commit_duration_seconds": set(),
    "tailwatch_processing_duration_seconds": set(),
    "tailwatch_event_time_lag_seconds": {"partition"},
    "tailwatch_consumer_lag_records": {"topic", "partition"},
    "tailwatch_tracked_vehicles": {"partition"},
    "tailwatch_restore_duration_seconds": set(),
    "tailwatch_restored_vehicles_total": set(),
    "tailwatch_consumer_errors_total": {"reason"},
    "tailwatch_stalled_partitions": {"topic"},
    "tailwatch_assigned_partitions": set(),
    "tailwatch_ready": set(),
    "tailwatch_build_info": {"version"},
}
HISTOGRAMS = {
    "tailwatch_commit_duration_seconds",
    "tailwatch_processing_duration_seconds",
    "tailwatch_restore_duration_seconds",
}
# Exported by Prometheus itself, cAdvisor (kubelet) and kube-state-metrics.
CLUSTER_METRICS = {
    "up", "container_memory_working_set_bytes", "container_cpu_usage_seconds_total",
    "kube_pod_container_resource_limits", "kube_pod_container_resource_requests",
    "kube_statefulset_replicas", "kube_statefulset_status_replicas_ready",
    "kube_pod_container_status_restarts_total",
}
# Labels Prometheus and the Operator put on every target, and `le` of histogram buckets.
TARGET_LABELS = {"job", "namespace", "pod", "instance", "service", "endpoint", "container", "le"}


class Report:
    def __init__(self) -> None:
        self.errors = 0
        self.warnings = 0

    def ok(self, what: str, detail: str) -> None:
        print(f"  ok    {what:<40} {detail}")

    def fail(self, what: str, detail: str) -> None:
        self.errors += 1
        print(f"  FAIL  {what:<40} {detail}")

    def warn(self, what: str, detail: str) -> None:
        self.warnings += 1
        print(f"  warn  {what:<40} {detail}")


def kn(obj: dict) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def json_path(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


# ---------------------------------------------------------------- schemas


def crd_registry() -> Registry:
    resources = []
    for path in (HERE / "schemas").glob("*.json"):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def check_schema(obj: dict, versions: list[str], registry: Registry, report: Report) -> None:
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CRD_SCHEMAS:
        schema = json.loads((HERE / "schemas" / CRD_SCHEMAS[key]).read_text())
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            for e in errors:
                report.fail(kn(obj), f"{json_path(e.absolute_path)}: {e.message}")
        else:
            report.ok(kn(obj), f"schema deploy/validate/schemas/{CRD_SCHEMAS[key]}")
        return
    passed = []
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            passed.append(version)
        except kubernetes_validate.ValidationError as e:
            report.fail(kn(obj), f"Kubernetes {version}: {json_path(e.path)}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            # An unknown apiVersion/kind (a typo, or an API removed in that version) is an
            # error here: the API server would refuse the object.
            report.fail(kn(obj), f"Kubernetes {version} has no {obj.get('apiVersion')} {obj.get('kind')}")
    if len(passed) == len(versions):
        report.ok(kn(obj), "schema Kubernetes " + ", ".join(passed) + " (strict)")


# ---------------------------------------------------------------- wiring


def pod_templates(objs: list[dict]):
    for obj in objs:
        if obj.get("kind") in {"StatefulSet", "Deployment", "DaemonSet", "Job"}:
            yield obj, obj["spec"]["template"]


def selects(selector: dict | None, labels: dict) -> bool:
    if not selector:
        return False
    match = selector.get("matchLabels", selector)  # Service selectors are bare maps
    if not isinstance(match, dict) or not match:
        return False
    return all(labels.get(k) == v for k, v in match.items())


def find(objs: list[dict], kind: str, name: str) -> dict | None:
    for obj in objs:
        if obj.get("kind") == kind and obj["metadata"].get("name") == name:
            return obj
    return None


def secret_data(obj: dict) -> dict:
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return data


def check_namespaces(objs: list[dict], report: Report) -> None:
    spaces = {o["metadata"].get("namespace") for o in objs if o.get("kind") not in CLUSTER_SCOPED}
    missing = [kn(o) for o in objs if o.get("kind") not in CLUSTER_SCOPED and not o["metadata"].get("namespace")]
    if missing:
        # Such an object lands in whatever namespace kubectl points at, and kustomize does not
        # rewrite generated names in references across namespaces.
        report.fail("namespace", "no metadata.namespace on " + ", ".join(missing))
    elif len(spaces) > 1:
        report.fail("namespace", f"objects spread over several namespaces: {sorted(spaces)}")
    else:
        report.ok("namespace", f"every namespaced object in {spaces.pop() if spaces else '-'}")


def check_references(objs: list[dict], report: Report) -> None:
    problems = []
    count = 0
    for owner, template in pod_templates(objs):
        spec = template["spec"]
        sa = spec.get("serviceAccountName")
        if sa:
            count += 1
            if not find(objs, "ServiceAccount", sa):
                problems.append(f"{kn(owner)} → ServiceAccount/{sa}")
        for vol in spec.get("volumes", []):
            if "configMap" in vol:
                count += 1
                if not find(objs, "ConfigMap", vol["configMap"]["name"]) and not vol["configMap"].get("optional"):
                    problems.append(f"{kn(owner)} → ConfigMap/{vol['configMap']['name']}")
            if "secret" in vol:
                count += 1
                if not find(objs, "Secret", vol["secret"]["secretName"]) and not vol["secret"].get("optional"):
                    problems.append(f"{kn(owner)} → Secret/{vol['secret']['secretName']}")
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {})
                for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if key in ref:
                        count += 1
                        target = find(objs, kind, ref[key]["name"])
                        if target is None or ref[key]["key"] not in (
                            secret_data(target) if kind == "Secret" else target.get("data", {})
                        ):
                            problems.append(f"{kn(owner)} env {env['name']} → {kind}/{ref[key]['name']}[{ref[key]['key']}]")
    if problems:
        for p in problems:
            report.fail("references", f"not rendered: {p}")
    else:
        report.ok("references", f"{count} ServiceAccount/ConfigMap/Secret references resolve")


def container_ports(template: dict) -> dict:
    return {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", []) if "name" in p}


def check_services(objs: list[dict], report: Report) -> None:
    templates = list(pod_templates(objs))
    for svc in (o for o in objs if o.get("kind") == "Service"):
        chosen = [(owner, t) for owner, t in templates if selects(svc["spec"].get("selector"), t["metadata"].get("labels", {}))]
        if not chosen:
            report.fail(kn(svc), "selector matches no pod template")
            continue
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for owner, t in chosen:
                ports = container_ports(t)
                if isinstance(target, str) and target not in ports:
                    report.fail(kn(svc), f"targetPort {target!r} is not a port of {kn(owner)}")
                elif isinstance(target, int) and target not in ports.values():
                    report.fail(kn(svc), f"targetPort {target} is not a port of {kn(owner)}")
        report.ok(kn(svc), "selects " + ", ".join(kn(o) for o, _ in chosen) + "; ports exist")


def check_pod_security(objs: list[dict], report: Report) -> None:
    for owner, template in pod_templates(objs):
        spec = template["spec"]
        psc = spec.get("securityContext", {})
        problems = []
        if not psc.get("runAsNonRoot"):
            problems.append("pod runAsNonRoot")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append("pod seccompProfile RuntimeDefault")
        sa = find(objs, "ServiceAccount", spec.get("serviceAccountName", "default"))
        if spec.get("automountServiceAccountToken") is not False and not (sa and sa.get("automountServiceAccountToken") is False):
            problems.append("automountServiceAccountToken false")
        for c in spec["containers"]:
            csc = c.get("securityContext", {})
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c['name']}: allowPrivilegeEscalation false")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{c['name']}: readOnlyRootFilesystem")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problems.append(f"{c['name']}: capabilities drop ALL")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(kind, {}):
                        problems.append(f"{c['name']}: resources.{kind}.{r}")
            for env in c.get("env", []):
                if re.search(r"PASSWORD|SECRET|TOKEN", env["name"]) and "secretKeyRef" not in env.get("valueFrom", {}):
                    problems.append(f"{c['name']}: env {env['name']} must come from a Secret")
        if problems:
            report.fail(f"{kn(owner)} security", "missing: " + "; ".join(problems))
        else:
            report.ok(f"{kn(owner)} security", "non-root, seccomp, read-only root, no caps, no token, resources set")


def probe(c: dict, name: str) -> tuple[str | None, object]:
    http = c.get(name, {}).get("httpGet", {})
    return http.get("path"), http.get("port")


def check_statefulset(objs: list[dict], report: Report) -> None:
    for sts in (o for o in objs if o.get("kind") == "StatefulSet"):
        spec = sts["spec"]
        template = spec["template"]
        labels = template["metadata"].get("labels", {})
        problems = []
        if not selects(spec.get("selector"), labels):
            problems.append("selector does not match the pod template labels")
        svc = find(objs, "Service", spec.get("serviceName", ""))
        if svc is None or svc["spec"].get("clusterIP") != "None":
            problems.append(f"serviceName {spec.get('serviceName')!r} is not a rendered headless Service")
        if spec.get("podManagementPolicy") != "Parallel":
            problems.append("podManagementPolicy is not Parallel")
        for tsc in template["spec"].get("topologySpreadConstraints", []):
            if tsc.get("nodeTaintsPolicy") != "Honor":
                # Ignore counts tainted nodes the pods cannot use as empty domains.
                problems.append(f"topologySpreadConstraint on {tsc.get('topologyKey')} without nodeTaintsPolicy: Honor")
        c = template["spec"]["containers"][0]
        env = {e["name"]: e for e in c.get("env", [])}
        if env.get("TAILWATCH_INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
            problems.append("TAILWATCH_INSTANCE_ID is not the pod name (downward API metadata.name)")
        ports = container_ports(template)
        for name, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            got_path, got_port = probe(c, name)
            if got_path != path:
                problems.append(f"{name} path {got_path!r}, expected {path}")
            if got_port not in ports and got_port not in ports.values():
                problems.append(f"{name} port {got_port!r} is not a container port")
        if problems:
            report.fail(kn(sts), "; ".join(problems))
        else:
            probed = sorted({probe(c, n)[1] for n in ("startupProbe", "livenessProbe", "readinessProbe")})
            report.ok(kn(sts), f"{spec.get('replicas', 1)} replicas, Parallel, pod-name instance id, probes on {probed}, spread honours taints")


def check_pdb(objs: list[dict], report: Report) -> None:
    for pdb in (o for o in objs if o.get("kind") == "PodDisruptionBudget"):
        sts = [o for o in objs if o.get("kind") == "StatefulSet" and selects(pdb["spec"].get("selector"), o["spec"]["template"]["metadata"].get("labels", {}))]
        if not sts:
            report.fail(kn(pdb), "selector matches no StatefulSet's pods")
        elif pdb["spec"].get("maxUnavailable") != 1:
            report.fail(kn(pdb), f"maxUnavailable is {pdb['spec'].get('maxUnavailable')!r}, expected 1")
        elif pdb["spec"].get("unhealthyPodEvictionPolicy") != "IfHealthyBudget":
            # AlwaysAllow would let a drain take a restoring pod while another is gone. Unset
            # behaves as IfHealthyBudget, but is required spelled out, like the rest of the budget.
            report.fail(kn(pdb), f"unhealthyPodEvictionPolicy is {pdb['spec'].get('unhealthyPodEvictionPolicy')!r}, expected IfHealthyBudget")
        else:
            report.ok(kn(pdb), "covers " + ", ".join(kn(s) for s in sts) + ", maxUnavailable 1, IfHealthyBudget")


def seconds(duration: str) -> float:
    total = 0.0
    for n, unit in re.findall(r"([0-9]+)(ms|y|w|d|h|m|s)", duration):
        total += int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[unit]
    return total


def check_servicemonitors(objs: list[dict], report: Report) -> None:
    for sm in (o for o in objs if o.get("kind") == "ServiceMonitor"):
        services = [o for o in objs if o.get("kind") == "Service" and selects(sm["spec"].get("selector"), o["metadata"].get("labels", {}))]
        if len(services) != 1:
            report.fail(kn(sm), f"selector matches {len(services)} Services; expected exactly one (or pods are scraped twice)")
            continue
        names = {p.get("name") for p in services[0]["spec"].get("ports", [])}
        bad = [e.get("port") for e in sm["spec"]["endpoints"] if e.get("port") not in names]
        slow = [e for e in sm["spec"]["endpoints"] if "scrapeTimeout" in e and seconds(e["scrapeTimeout"]) > seconds(e.get("interval", "30s"))]
        if bad:
            report.fail(kn(sm), f"port(s) {bad} not on {kn(services[0])} (has {sorted(names)})")
        elif slow:
            report.fail(kn(sm), "scrapeTimeout longer than interval")
        else:
            report.ok(kn(sm), f"scrapes {kn(services[0])} port(s) {[e.get('port') for e in sm['spec']['endpoints']]}")


def metric_names(expr: str) -> set[str]:
    """The service's and the cluster's metric names an expression uses (quoted text ignored)."""
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b", re.sub(r'"[^"]*"', '""', expr)))
    return {w for w in words if w.startswith("tailwatch_") or w in CLUSTER_METRICS}


def check_metric(name: str) -> bool:
    if name in METRICS or name in CLUSTER_METRICS:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return True
    return False


def check_prometheusrules(objs: list[dict], report: Report) -> None:
    for rule_obj in (o for o in objs if o.get("kind") == "PrometheusRule"):
        unknown = set()
        n = 0
        for group in rule_obj["spec"]["groups"]:
            for rule in group["rules"]:
                n += 1
                unknown |= {m for m in metric_names(str(rule["expr"])) if not check_metric(m)}
                if str(rule["expr"]).count("(") != str(rule["expr"]).count(")"):
                    report.fail(kn(rule_obj), f"{rule.get('alert') or rule.get('record')}: unbalanced parentheses")
        if unknown:
            report.fail(kn(rule_obj), f"metrics the service does not export: {sorted(unknown)}")
        else:
            report.ok(kn(rule_obj), f"{n} rules use only exported metrics")


def mounted_file(objs: list[dict], template: dict, container: dict, path: str) -> str | None:
    """Where `path` comes from inside `container`: 'ConfigMap/x[key]' or 'Secret/x[key]', or None."""
    volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        key = path[len(prefix):]
        vol = volumes.get(mount["name"], {})
        if "configMap" in vol:
            cm = find(objs, "ConfigMap", vol["configMap"]["name"])
            if cm and key in cm.get("data", {}):
                return f"ConfigMap/{cm['metadata']['name']}[{key}]"
        if "secret" in vol:
            secret = find(objs, "Secret", vol["secret"]["secretName"])
            if secret and key in secret_data(secret):
                return f"Secret/{secret['metadata']['name']}[{key}]"
    return None


def service_verdict(text: str, env: dict) -> tuple[list[str], dict | None]:
    """What `tailwatch config print` says of this file, with the pod's plain env values
    (a placeholder password stands in for the mounted secret): its problems, and the effective
    settings it prints (None when it rejects the file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "tailwatch.toml")
        path.write_text(text)
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("TAILWATCH_")}
        run_env.update({k: e["value"] for k, e in env.items() if k.startswith("TAILWATCH_") and "value" in e})
        run_env["TAILWATCH_SASL_PASSWORD"] = "placeholder"
        run_env.pop("TAILWATCH_CONFIG", None)
        done = subprocess.run([str(TAILWATCH), "config", "print", "--config", str(path)],
                              env=run_env, capture_output=True, text=True)
    if done.returncode == 0:
        try:
            return [], tomllib.loads(done.stdout)
        except tomllib.TOMLDecodeError as e:
            return [f"`tailwatch config print` printed no TOML: {e}"], None
    return [f"the service rejects it: {done.stderr.strip().splitlines()[0] if done.stderr.strip() else done.returncode}"], None


# What each workload's container runs with, filled by check_config: kn(owner) → Settings.
SETTINGS: dict[str, "Settings"] = {}


class Settings:
    """A workload's tailwatch settings: what `tailwatch config print` printed when the binary
    was given (it knows every key, its default and the environment), else the file under the
    pod's plain TAILWATCH_* values, else the defaults named by the caller."""

    def __init__(self, file: dict, env: dict, printed: dict | None) -> None:
        self.file = file
        self.env = {k: e["value"] for k, e in env.items() if "value" in e}
        self.printed = printed

    def get(self, key: str, default=None):
        if self.printed is not None and key in self.printed:
            return self.printed[key]
        # A key this binary does not know yet (the pod spec may set it ahead of the code).
        return self.env.get("TAILWATCH_" + key.upper(), self.file.get(key, default))

    def given(self, key: str) -> bool:
        """Whether the value of `key` is known rather than the caller's default."""
        return (self.printed is not None and key in self.printed) or "TAILWATCH_" + key.upper() in self.env or key in self.file


def check_config(objs: list[dict], report: Report) -> None:
    for owner, template in pod_templates(objs):
        c = template["spec"]["containers"][0]
        env = {e["name"]: e for e in c.get("env", [])}
        path = env.get("TAILWATCH_CONFIG", {}).get("value")
        args = c.get("args", [])
        if "--config" in args:
            path = args[args.index("--config") + 1]
        if not path:
            report.fail(f"{kn(owner)} config", "neither --config nor TAILWATCH_CONFIG is set")
            continue
        source = mounted_file(objs, template, c, path)
        if source is None or not source.startswith("ConfigMap/"):
            report.fail(f"{kn(owner)} config", f"{path} is not a key of a mounted ConfigMap")
            continue
        cm = find(objs, "ConfigMap", source.split("/")[1].split("[")[0])
        try:
            config = tomllib.loads(cm["data"][path.rsplit("/", 1)[1]])
        except tomllib.TOMLDecodeError as e:
            report.fail(f"{kn(owner)} config", f"{path}: not TOML: {e}")
            continue
        problems = []
        if "instance_id" in config:
            problems.append("instance_id in a shared file would give every pod the same group.instance.id")
        if "sasl_password" in config:
            problems.append("sasl_password in a ConfigMap: use sasl_password_file or TAILWATCH_SASL_PASSWORD from a Secret")
        printed = None
        if TAILWATCH is not None:
            verdict, printed = service_verdict(cm["data"][path.rsplit("/", 1)[1]], env)
            problems += verdict
        SETTINGS[kn(owner)] = Settings(config, env, printed)
        files = {"rules": "ConfigMap/", "ssl_ca_location": "Secret/", "sasl_password_file": "Secret/"}
        resolved = []
        for key, want in files.items():
            if key not in config:
                continue
            where = mounted_file(objs, template, c, config[key])
            if where is None:
                problems.append(f"{key} = {config[key]!r}: no mounted ConfigMap/Secret provides this file")
            elif not where.startswith(want):
                problems.append(f"{key} = {config[key]!r} comes from {where}, expected a {want[:-1]}")
            else:
                resolved.append(f"{key} ← {where.split('[')[0].split('/')[0]}")
                if key == "rules":
                    try:
                        tomllib.loads(find(objs, "ConfigMap", where.split("/")[1].split("[")[0])["data"][where.split("[")[1][:-1]])
                    except tomllib.TOMLDecodeError as e:
                        problems.append(f"{config[key]}: not TOML: {e}")
        if problems:
            for p in problems:
                report.fail(f"{kn(owner)} config", p)
        else:
            report.ok(f"{kn(owner)} config", f"{path}: accepted by tailwatch config print" + ("; " + ", ".join(resolved) if resolved else ""))


def port_of(addr: str) -> int | None:
    m = re.search(r":([0-9]+)$", str(addr))
    return int(m.group(1)) if m else None


# The service's defaults for settings the pod spec and validator rely on (src/settings.rs); used
# only when the tailwatch binary at hand does not print the key.
DEFAULTS = {"admin_addr": "0.0.0.0:9464", "console_addr": "0.0.0.0:9465", "shutdown_timeout": "20s"}


def check_service_ports(objs: list[dict], report: Report) -> None:
    """The addresses the service listens on are the container ports the probes, Services and
    NetworkPolicies name, and SIGKILL comes after the service's own shutdown timeout."""
    for sts in (o for o in objs if o.get("kind") == "StatefulSet"):
        settings = SETTINGS.get(kn(sts))
        if settings is None:
            continue  # check_config reported why
        template = sts["spec"]["template"]
        ports = container_ports(template)
        problems = []
        for name, key in (("admin", "admin_addr"), ("console", "console_addr")):
            addr = settings.get(key, DEFAULTS[key])
            if name not in ports:
                problems.append(f"no container port named {name!r} (the service listens on {addr})")
            elif port_of(addr) != ports[name]:
                problems.append(f"{key} {addr} is not containerPort {name} ({ports[name]})")
        shutdown = settings.get("shutdown_timeout", DEFAULTS["shutdown_timeout"])
        grace = template["spec"].get("terminationGracePeriodSeconds", 30)
        if grace <= seconds(shutdown):
            problems.append(f"terminationGracePeriodSeconds {grace} is not above shutdown_timeout {shutdown}: SIGKILL would cut the final commit short")
        if problems:
            for p in problems:
                report.fail(f"{kn(sts)} ports", p)
        else:
            default = "" if settings.given("shutdown_timeout") else " (its default)"
            report.ok(f"{kn(sts)} ports", f"admin {ports['admin']}, console {ports['console']}; grace {grace} s > shutdown_timeout {shutdown}{default}")


def peer_text(peer: dict) -> str:
    parts = []
    for key, what in (("namespaceSelector", "namespace"), ("podSelector", "pods")):
        if key in peer:
            labels = peer[key].get("matchLabels") or {}
            parts.append(f"{what} " + (",".join(f"{k}={v}" for k, v in labels.items()) or "any"))
    if "ipBlock" in peer:
        parts.append(f"ipBlock {peer['ipBlock'].get('cidr')}")
    return " & ".join(parts) or "anything"


def allows(rule_port: dict, protocol: str, number: int, named: dict) -> bool:
    """Whether a NetworkPolicy port entry covers protocol/number (`named`: the pod's ports)."""
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    port = rule_port.get("port")
    if port is None:
        return True
    if isinstance(port, str):
        port = named.get(port)
    return port is not None and (port == number or port <= number <= rule_port.get("endPort", port))


def check_networkpolicies(objs: list[dict], report: Report) -> None:
    """Every tailwatch pod is denied by default both ways; ingress only to the admin port from
    one namespace (Prometheus) and to the console port from the console's pods; egress only to
    DNS in kube-system and to the brokers' ports."""
    policies = [o for o in objs if o.get("kind") == "NetworkPolicy"]
    templates = list(pod_templates(objs))
    if not templates:
        return
    for pol in policies:
        selector = pol["spec"].get("podSelector", {})
        chosen = [kn(owner) for owner, t in templates if selects(selector, t["metadata"].get("labels", {}))]
        if not (selector.get("matchLabels") or {}).get("app.kubernetes.io/name"):
            # An empty selector would also take over pods that are not ours (the console's).
            report.fail(kn(pol), "podSelector does not select by app.kubernetes.io/name")
        elif not chosen:
            report.fail(kn(pol), "podSelector selects no rendered pod template")
    if not policies:
        report.fail("NetworkPolicy", "none rendered: every tailwatch pod needs a default deny")
        return
    for owner, t in templates:
        labels = t["metadata"].get("labels", {})
        mine = [p for p in policies if selects(p["spec"].get("podSelector"), labels)]
        ports = container_ports(t)
        problems = []
        for direction in ("Ingress", "Egress"):
            if not any(direction in p["spec"].get("policyTypes", []) for p in mine):
                problems.append(f"no policy with policyTypes {direction}: that direction is open")
        ingress = {}  # port name → peers
        for pol in mine:
            for rule in pol["spec"].get("ingress", []):
                if not rule.get("from"):
                    problems.append(f"{kn(pol)}: an ingress rule without `from` admits every source")
                if not rule.get("ports"):
                    problems.append(f"{kn(pol)}: an ingress rule without `ports` opens every port")
                for rp in rule.get("ports", []):
                    name = next((n for n, num in ports.items() if allows(rp, "TCP", num, ports)), None)
                    if name is None:
                        problems.append(f"{kn(pol)}: ingress port {rp.get('port')!r} is not a container port")
                        continue
                    ingress.setdefault(name, []).extend(rule.get("from", []))
        for name, peers in ingress.items():
            if name == "admin":
                wrong = [p for p in peers if set(p) != {"namespaceSelector"} or not p["namespaceSelector"].get("matchLabels")]
                if wrong:
                    problems.append("admin port open to " + ", ".join(peer_text(p) for p in wrong) + " (only a namespace selector, for Prometheus)")
            elif name == "console":
                wrong = [p for p in peers if set(p) != {"podSelector"} or (p["podSelector"].get("matchLabels") or {}) != {"app.kubernetes.io/name": "tailwatch-console"}]
                if wrong:
                    problems.append("console port open to " + ", ".join(peer_text(p) for p in wrong) + " (only pods app.kubernetes.io/name=tailwatch-console of this namespace)")
            else:
                problems.append(f"ingress to port {name!r}, which nothing should reach")
        egress = [(pol, rule) for pol in mine for rule in pol["spec"].get("egress", [])]
        for pol, rule in egress:
            if not rule.get("to"):
                problems.append(f"{kn(pol)}: an egress rule without `to` reaches every destination")
            if not rule.get("ports"):
                problems.append(f"{kn(pol)}: an egress rule without `ports` reaches every port")

        def dns(rule: dict) -> bool:
            return bool(rule.get("to")) and all(
                (p.get("namespaceSelector") or {}).get("matchLabels") == {"kubernetes.io/metadata.name": "kube-system"}
                for p in rule["to"])
        for proto in ("UDP", "TCP"):
            if not any(dns(r) and any(allows(rp, proto, 53, {}) for rp in r.get("ports", [])) for _, r in egress):
                problems.append(f"no egress to DNS ({proto} 53 in kube-system)")
        settings = SETTINGS.get(kn(owner))
        brokers = str(settings.get("brokers", "")) if settings else ""
        broker_ports = sorted({port_of(b.strip()) or 9092 for b in brokers.split(",") if b.strip()})
        for port in broker_ports:
            if not any(not dns(r) and any(allows(rp, "TCP", port, {}) for rp in r.get("ports", [])) for _, r in egress):
                problems.append(f"no egress to the brokers' port {port} (brokers = {brokers!r})")
        if problems:
            for p in problems:
                report.fail(f"{kn(owner)} network", p)
        else:
            opened = "; ".join(f"{n} ← {', '.join(sorted({peer_text(p) for p in peers}))}" for n, peers in sorted(ingress.items()))
            report.ok(f"{kn(owner)} network", f"default deny; in: {opened or 'nothing'}; out: DNS, brokers {broker_ports or '-'}")


def mounted_secrets(template: dict) -> set[str]:
    return {v["secret"]["secretName"] for v in template["spec"].get("volumes", []) if "secret" in v}


def check_principals(objs: list[dict], report: Report) -> None:
    """The topic Job connects as a Kafka principal of its own (the only one with Create), and
    holds no Secret of the service's, so the service's principal needs no right to create."""
    stss = [(o, o["spec"]["template"]) for o in objs if o.get("kind") == "StatefulSet"]
    jobs = [(o, o["spec"]["template"]) for o in objs if o.get("kind") == "Job"
            and o["spec"]["template"]["spec"]["containers"][0].get("args", [])[:2] == ["topics", "create"]]
    for job, jt in jobs:
        js = SETTINGS.get(kn(job))
        for sts, st in stss:
            ss = SETTINGS.get(kn(sts))
            if js is None or ss is None:
                continue  # check_config reported why
            protocols = {str(x.get("security_protocol", "plaintext")).lower() for x in (js, ss)}
            if not all(p.startswith("sasl") for p in protocols):
                report.ok(f"{kn(job)} principal", f"no SASL ({', '.join(sorted(protocols))}): no user names to compare")
                continue
            problems = []
            if js.get("sasl_username") == ss.get("sasl_username"):
                problems.append(f"same SASL user as {kn(sts)} ({ss.get('sasl_username')!r}): the service's principal would need Create")
            shared = mounted_secrets(jt) & mounted_secrets(st)
            if shared:
                problems.append(f"mounts the Secret(s) of {kn(sts)}: {sorted(shared)}")
            if problems:
                for p in problems:
                    report.fail(f"{kn(job)} principal", p)
            else:
                report.ok(f"{kn(job)} principal", f"SASL user {js.get('sasl_username')!r} ≠ {kn(sts)}'s {ss.get('sasl_username')!r}, no shared Secret")


PARTITIONS_ALERT = "TailwatchPartitionsUnassigned"


def check_partitions(objs: list[dict], report: Report) -> None:
    partitions = None
    for job in (o for o in objs if o.get("kind") == "Job"):
        args = job["spec"]["template"]["spec"]["containers"][0].get("args", [])
        if args[:2] == ["topics", "create"]:
            for i, a in enumerate(args):
                if a == "--partitions":
                    partitions = int(args[i + 1])
                elif a.startswith("--partitions="):
                    partitions = int(a.split("=", 1)[1])
            if partitions is None:
                report.fail(kn(job), "topics create without --partitions: the count must be chosen, not defaulted")
                return
    stss = [o for o in objs if o.get("kind") == "StatefulSet"]
    if partitions is None or not stss:
        return
    # The alert on unassigned partitions compares with the count as a constant.
    for rule_obj in (o for o in objs if o.get("kind") == "PrometheusRule"):
        for group in rule_obj["spec"]["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") != PARTITIONS_ALERT:
                    continue
                m = re.search(r"<\s*([0-9]+)\s*$", str(rule["expr"]))
                if m is None or int(m.group(1)) != partitions:
                    report.fail(kn(rule_obj), f"{PARTITIONS_ALERT} does not end in `< {partitions}` (the topic Job's --partitions)")
                else:
                    report.ok(kn(rule_obj), f"{PARTITIONS_ALERT} expects the Job's {partitions} partitions")
    for sts in stss:
        replicas = sts["spec"].get("replicas", 1)
        if replicas > partitions:
            report.fail("partitions", f"{replicas} replicas > {partitions} partitions: {replicas - partitions} pod(s) would sit idle and never be ready")
        elif partitions % replicas:
            report.warn("partitions", f"{partitions} partitions over {replicas} pods: uneven shares, the busiest pod sets the pace")
        else:
            report.ok("partitions", f"{partitions} partitions / {replicas} pods = {partitions // replicas} each")


# ---------------------------------------------------------------- dashboard


def check_dashboard(path: pathlib.Path, report: Report) -> None:
    print(f"== {path}")
    try:
        dash = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        report.fail(path.name, f"not JSON: {e}")
        return
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        report.fail(path.name, "no datasource variable DS_PROMETHEUS (type datasource, query prometheus)")
    panels = []
    for p in dash.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))  # collapsed rows keep their panels inside
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        report.fail(path.name, "duplicate panel ids")
    used = set()
    unknown = {}
    for p in panels:
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            report.fail(path.name, f"panel {p.get('title')!r}: datasource is not ${{DS_PROMETHEUS}}")
        if "gridPos" not in p:
            report.fail(path.name, f"panel {p.get('title')!r}: no gridPos")
        targets = p.get("targets", [])
        if not targets:
            report.fail(path.name, f"panel {p.get('title')!r}: no queries")
        for t in targets:
            if t.get("datasource", {}).get("uid", "${DS_PROMETHEUS}") != "${DS_PROMETHEUS}":
                report.fail(path.name, f"panel {p.get('title')!r}: query datasource is not ${{DS_PROMETHEUS}}")
            expr = t.get("expr", "")
            if expr.count("(") != expr.count(")"):
                report.fail(path.name, f"panel {p.get('title')!r}: unbalanced parentheses in {expr!r}")
            for m in metric_names(expr):
                base = re.sub(r"_(bucket|sum|count)$", "", m) if m not in METRICS else m
                used.add(base)
                if not check_metric(m):
                    unknown.setdefault(m, p.get("title"))
            for label in re.findall(r"by \(([^)]*)\)", expr):
                for name in (x.strip() for x in label.split(",") if x.strip()):
                    known = set().union(*METRICS.values()) | TARGET_LABELS
                    if name not in known:
                        report.fail(path.name, f"panel {p.get('title')!r}: label {name!r} is on no exported metric")
    for m, title in sorted(unknown.items()):
        report.fail(path.name, f"panel {title!r}: {m} is not an exported metric")
    missing = set(METRICS) - used
    if missing:
        report.fail(path.name, f"no panel shows {sorted(missing)}")
    if not report.errors:
        n = sum(1 for p in panels if p.get("type") != "row")
        report.ok(path.name, f"{n} panels, ${{DS_PROMETHEUS}}, all {len(METRICS)} service metrics shown, no unknown metric")


def check_metrics_source(path: pathlib.Path, report: Report) -> None:
    """Every metric the dashboard and alerts rely on is named in the code's metrics module."""
    print(f"== {path}")
    defined = set(re.findall(r'"(tailwatch_[a-z0-9_]+)"', path.read_text()))
    missing = sorted(set(METRICS) - defined)
    if missing:
        report.fail(path.name, f"the dashboard and alerts use metrics the code does not define: {missing}")
    else:
        extra = sorted(defined - set(METRICS))
        report.ok(path.name, f"defines all {len(METRICS)} metrics used here" + (f" (not charted: {', '.join(extra)})" if extra else ""))


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubernetes-version", action="append", dest="versions", default=[])
    parser.add_argument("--dashboard", type=pathlib.Path)
    parser.add_argument("--metrics-source", type=pathlib.Path, help="the code's metric names (src/metrics.rs)")
    parser.add_argument("--tailwatch", type=pathlib.Path, help="the tailwatch binary, to check tailwatch.toml")
    parser.add_argument("rendered", nargs="+", help="NAME=FILE: a kustomization's rendered output")
    args = parser.parse_args()
    global TAILWATCH
    TAILWATCH = args.tailwatch
    versions = args.versions or ["1.30"]
    registry = crd_registry()
    report = Report()
    for item in args.rendered:
        name, _, file = item.partition("=")
        objs = [o for o in yaml.safe_load_all(pathlib.Path(file).read_text()) if o]
        print(f"== {name}: {len(objs)} objects")
        before = report.errors
        for obj in objs:
            check_schema(obj, versions, registry, report)
        if report.errors > before:
            # Wiring checks assume well-formed objects.
            continue
        check_namespaces(objs, report)
        check_references(objs, report)
        check_services(objs, report)
        check_statefulset(objs, report)
        check_pdb(objs, report)
        check_servicemonitors(objs, report)
        check_prometheusrules(objs, report)
        check_pod_security(objs, report)
        check_config(objs, report)
        check_service_ports(objs, report)
        check_networkpolicies(objs, report)
        check_principals(objs, report)
        check_partitions(objs, report)
    if args.dashboard:
        before = report.errors
        report.errors = 0  # check_dashboard's summary line looks at its own errors only
        check_dashboard(args.dashboard, report)
        report.errors += before
    if args.metrics_source:
        check_metrics_source(args.metrics_source, report)
    print(f"== {report.errors} error(s), {report.warnings} warning(s)")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
