#!/usr/bin/env python3
"""Helpers of scripts/chaos.sh (Python 3, standard library only).

  chaos.py compare --expected DIR --captured FILE --prefix P
      The oracle. DIR is `tailwatch replay --out` over the recording; FILE is a read_committed
      capture (`tailwatch record`) of the output topics (input topics in it are ignored).
      Blacklist events, cases and DLQ records are compared as multisets of (topic, key, value):
        blacklist  key = the VIN (offline: the event's `vin`), value = the event (canonical JSON)
        cases      key = the case id (offline: `case_id`), value = the case, except that a
                   `blacklisted_entry` case is compared without `evidence`, `first_evidence_at`
                   and `last_evidence_at`: which sighting of the day it cites depends on whether
                   the listing or the sighting was processed first (README, known approximations;
                   tests/kafka.rs compares the same way)
        dlq        key = the original key, value = original bytes (hex), headers (source topic,
                   partition, offset, reason, message) and timestamp
      Prints one line per topic (expected, got, missing, extra, duplicates) and the first
      differing records; exits 1 on any difference.
  chaos.py inputs --fleet RECORDING --fleet-prefix Q --captured FILE --prefix P --out FILE2
      Whether the input topics (as captured in FILE, under prefix P) hold exactly the recording
      (its topics under prefix Q): every (role, partition, offset, key, timestamp). If not, exits 1 after writing the captured input
      records to FILE2, a recording of what the service was given.
  chaos.py samples FILE
      Telemetry records and samples (one reading each) in a recording.
  chaos.py probe HOST:PORT INTERVAL_MS [INSTANCE=ADMIN_PORT...]
      Until killed, one line per INTERVAL_MS: whether the broker answers an ApiVersions request,
      and each instance's records consumed and transactions committed (its /metrics), e.g.
      "<ms> broker=up k0=1520/31" ("down" when not answering).
  chaos.py resume PROBE_LOG SINCE_MS
      From probe lines: after an outage that began at SINCE_MS (broker "down" lines after it),
      the first line with the broker up again (answered), the first with a service's records
      consumed growing after that (processing) and the first with its committed transactions
      growing (committing): "answered=<ms> processing=<ms> committing=<ms>" ("none" if not seen).
      A restarted process (counters lower than before) counts from zero.
  chaos.py free-ports N
      N free TCP ports on 127.0.0.1.
  chaos.py rss-summary FILE
      FILE holds "<ms> <pid> <phase> <kB>" lines; prints per phase the median of its last 5
      samples (where it settled) and its maximum.
"""

import collections
import json
import re
import socket
import statistics
import sys

ENTRY_FIELDS = ("evidence", "first_evidence_at", "last_evidence_at")


def canon(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def case_value(case):
    if case.get("rule") == "blacklisted_entry":
        case = {k: v for k, v in case.items() if k not in ENTRY_FIELDS}
    return canon(case)


def dlq_value(record):
    return canon(
        {
            "value": record.get("value"),
            "headers": record.get("headers") or {},
            "timestamp": record.get("timestamp"),
        }
    )


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def expected_items(directory):
    items = {"blacklist": [], "cases": [], "dlq": []}
    for event in read_lines(f"{directory}/blacklist.jsonl"):
        items["blacklist"].append((event.get("vin"), canon(event)))
    for case in read_lines(f"{directory}/cases.jsonl"):
        items["cases"].append((case.get("case_id"), case_value(case)))
    for record in read_lines(f"{directory}/dlq.jsonl"):
        items["dlq"].append((record.get("key"), dlq_value(record)))
    return items


def captured_items(records, prefix):
    items = {"blacklist": [], "cases": [], "dlq": []}
    for r in records:
        role = r["topic"][len(prefix):] if r["topic"].startswith(prefix) else None
        if role == "blacklist":
            items[role].append((r.get("key"), canon(r["value"])))
        elif role == "cases":
            items[role].append((r.get("key"), case_value(r["value"])))
        elif role == "dlq":
            items[role].append((r.get("key"), dlq_value(r)))
    return items


def short(text, limit=600):
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def json_diff(a, b, path="$"):
    """The paths where two JSON values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += json_diff(a.get(k), b.get(k), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += json_diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [(path, a, b)]


def compare_topic(role, expected, got, show):
    e, g = collections.Counter(expected), collections.Counter(got)
    missing = extra = duplicates = 0
    missing_items, extra_items, duplicate_items = [], [], []
    for item, n in e.items():
        if g[item] < n:
            missing += n - g[item]
            missing_items.append(item)
    for item, n in g.items():
        if e[item] == 0:
            extra += n
            extra_items.append(item)
        elif n > e[item]:
            duplicates += n - e[item]
            duplicate_items.append(item)
    ok = missing == extra == duplicates == 0
    print(
        f"  {role:9} expected {len(expected):7}  got {len(got):7}  "
        f"missing {missing}  extra {extra}  duplicates {duplicates}  {'OK' if ok else 'MISMATCH'}"
    )
    if not ok:
        # The first differing records, with the records of the same key on the other side.
        by_key_e = collections.defaultdict(list)
        for k, v in expected:
            by_key_e[k].append(v)
        by_key_g = collections.defaultdict(list)
        for k, v in got:
            by_key_g[k].append(v)
        for label, group in (("missing", missing_items), ("extra", extra_items), ("duplicate", duplicate_items)):
            for key, value in sorted(group)[:show]:
                print(f"    {label} {role} key={key}")
                print(f"      value    {short(value)}")
                others = [v for v in (by_key_g if label == "missing" else by_key_e).get(key, []) if v != value]
                side = "got" if label == "missing" else "expected"
                for other in others[:2]:
                    print(f"      {side:8} {short(other)}")
                    for path, mine, theirs in json_diff(json.loads(value), json.loads(other))[:6]:
                        print(f"        at {path}: {short(canon(mine), 200)} here, {short(canon(theirs), 200)} {side}")
                if label == "duplicate":
                    print(f"      expected {e[(key, value)]} time(s), got {g[(key, value)]}")
    return ok


DECODER = json.JSONDecoder()
RECORD_HEAD = re.compile(
    r'^\{"topic":"((?:[^"\\]|\\.)*)","partition":(-?\d+),"offset":(-?\d+),"timestamp":(-?\d+)'
)


def input_identity(record):
    return (record["topic"], record.get("partition", 0), record.get("offset"), record.get("key"), record["timestamp"])


def head_identity(line):
    """(topic, partition, offset, key, timestamp) of a recording line, without parsing its value
    (recording lines start with these fields in this order); None if the line is laid out
    otherwise."""
    m = RECORD_HEAD.match(line)
    if not m:
        return None
    key_at = line.find('"key":', m.end())
    if key_at < 0:
        return None
    key, _ = DECODER.raw_decode(line, key_at + len('"key":'))
    return (json.loads(f'"{m.group(1)}"'), int(m.group(2)), int(m.group(3)), key, int(m.group(4)))


def read_recording(path, prefix):
    """Output records parsed whole; input records as their identity only (topic names as
    they are)."""
    outputs, inputs = [], collections.Counter()
    output_topics = {prefix + role for role in ("blacklist", "cases", "dlq")}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            ident = head_identity(line)
            if ident is not None and ident[0] not in output_topics:
                inputs[ident] += 1
                continue
            record = json.loads(line)
            if record["topic"] in output_topics:
                outputs.append(record)
            else:
                inputs[input_identity(record)] += 1
    return outputs, inputs


def check_inputs(fleet, fleet_prefix, got, prefix):
    """The input topics hold exactly the recording: same records at the same offsets (topics
    compared by role: the recording's under fleet_prefix, Kafka's under prefix)."""

    def role(ident, pre):
        return (ident[0][len(pre):] if ident[0].startswith(pre) else ident[0],) + ident[1:]

    want = collections.Counter()
    with open(fleet, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                ident = head_identity(line)
                want[role(ident if ident is not None else input_identity(json.loads(line)), fleet_prefix)] += 1
    roles = {t for t, *_ in want}
    got = collections.Counter({role(k, prefix): n for k, n in got.items() if role(k, prefix)[0] in roles})
    missing = want - got
    extra = got - want
    ok = not missing and not extra
    # Duplicates and losses whatever the offsets: (role, partition, key, timestamp).
    def loose(counter):
        out = collections.Counter()
        for (r, partition, _offset, key, timestamp), n in counter.items():
            out[(r, partition, key, timestamp)] += n
        return out

    duplicated = sum((loose(got) - loose(want)).values())
    lost = sum((loose(want) - loose(got)).values())
    print(
        f"  inputs    recorded {sum(want.values()):7}  in Kafka {sum(got.values()):7}  "
        f"not at their offset {sum(missing.values())}  duplicated {duplicated}  lost {lost}  "
        f"{'OK' if ok else 'MISMATCH (the feeder, not the service)'}"
    )
    for label, group in (("missing", missing), ("extra", extra)):
        for item in sorted(group, key=repr)[:5]:
            print(f"    {label} input {item}")
    return ok


def cmd_inputs(args):
    opts = dict(zip(args[::2], args[1::2]))
    prefix = opts["--prefix"]
    _, inputs = read_recording(opts["--captured"], prefix)
    if check_inputs(opts["--fleet"], opts["--fleet-prefix"], inputs, prefix):
        return 0
    # What the input topics hold, as a recording: the oracle replays this instead.
    outputs = {prefix + role for role in ("blacklist", "cases", "dlq")}
    with open(opts["--captured"], encoding="utf-8") as f, open(opts["--out"], "w", encoding="utf-8") as out:
        for line in f:
            ident = head_identity(line)
            topic = ident[0] if ident else json.loads(line)["topic"]
            if topic not in outputs:
                out.write(line)
    return 1


def cmd_compare(args):
    opts = dict(zip(args[::2], args[1::2]))
    prefix = opts["--prefix"]
    captured, _ = read_recording(opts["--captured"], prefix)
    ok = True
    expected = expected_items(opts["--expected"])
    got = captured_items(captured, prefix)
    show = int(opts.get("--show", "3"))
    for role in ("blacklist", "cases", "dlq"):
        ok = compare_topic(role, expected[role], got[role], show) and ok
    if not any(expected[r] for r in ("blacklist", "cases")):
        print("  the recording produced no blacklist events or cases: nothing was tested")
        ok = False
    return 0 if ok else 1


def cmd_samples(args):
    reports = samples = 0
    with open(args[0], encoding="utf-8") as f:
        for line in f:
            if '"samples"' not in line:
                continue
            value = json.loads(line).get("value")
            if isinstance(value, dict) and "samples" in value:
                reports += 1
                samples += len(value["samples"])
    print(f"{reports} {samples}")
    return 0


def api_versions_ok(host, port, timeout=0.5):
    """True when the broker answers an ApiVersions (v0) request without error."""
    import struct

    client = b"tailwatch-chaos-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = b""
            while len(head) < 4:
                chunk = s.recv(4 - len(head))
                if not chunk:
                    return False
                head += chunk
            (size,) = struct.unpack(">i", head)
            data = b""
            while len(data) < min(size, 6):
                chunk = s.recv(size - len(data))
                if not chunk:
                    return False
                data += chunk
            correlation, error = struct.unpack(">ih", data[:6])
            return correlation == 7 and error == 0
    except OSError:
        return False


def service_counters(port, timeout=0.5):
    """(records consumed, transactions committed) from an admin port's /metrics, or None."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
            text = r.read().decode()
    except Exception:
        return None
    consumed = committed = 0
    for line in text.splitlines():
        if line.startswith("tailwatch_records_consumed_total"):
            consumed += float(line.rsplit(" ", 1)[1])
        elif line.startswith('tailwatch_transactions_total{outcome="committed"}'):
            committed += float(line.rsplit(" ", 1)[1])
    return int(consumed), int(committed)


def cmd_probe(args):
    import time

    host, port = args[0].rsplit(":", 1)
    interval = int(args[1]) / 1000
    instances = [a.split("=", 1) for a in args[2:]]
    while True:
        started = time.time()
        parts = [f"{int(started * 1000)}", "broker=" + ("up" if api_versions_ok(host, int(port)) else "down")]
        for name, admin in instances:
            c = service_counters(admin)
            parts.append(f"{name}=" + ("down" if c is None else f"{c[0]}/{c[1]}"))
        print(" ".join(parts), flush=True)
        left = interval - (time.time() - started)
        if left > 0:
            time.sleep(left)


def cmd_resume(args):
    path, since = args[0], int(args[1])
    answered = processing = committing = None
    seen_down = False
    last = {}  # instance -> (consumed, committed) at the previous line
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2 or not parts[0].isdigit():
                continue
            ms = int(parts[0])
            now = {}
            for p in parts[2:]:
                name, _, value = p.partition("=")
                if value != "down" and "/" in value:
                    a, b = value.split("/")
                    now[name] = (int(a), int(b))
            if ms >= since:
                if parts[1] == "broker=down":
                    seen_down = True
                elif seen_down and answered is None:
                    answered = ms
                if answered is not None:
                    for name, (c, t) in now.items():
                        pc, pt = last.get(name, (0, 0))
                        if c < pc or t < pt:  # a new process
                            pc, pt = 0, 0
                        if processing is None and c > pc:
                            processing = ms
                        if committing is None and t > pt:
                            committing = ms
            for name, v in now.items():
                last[name] = v
            if processing is not None and committing is not None:
                break
    fmt = lambda v: "none" if v is None else str(v)
    print(f"answered={fmt(answered)} processing={fmt(processing)} committing={fmt(committing)}")
    return 0


def cmd_free_ports(args):
    socks = []
    try:
        for _ in range(int(args[0])):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in socks))
    finally:
        for s in socks:
            s.close()
    return 0


def cmd_port_free(args):
    """Exit 0 when every given port can be bound on 127.0.0.1."""
    for port in args:
        s = socket.socket()
        # As the broker binds (SO_REUSEADDR): connections of an earlier broker still in
        # TIME_WAIT do not make the port busy, a listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            return 1
        finally:
            s.close()
    return 0


def cmd_rss_summary(args):
    """Per phase: the median of its last 5 samples (the level it settled at), its maximum."""
    phases = collections.defaultdict(list)
    with open(args[0], encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4:
                phases[parts[2]].append(int(parts[3]))
    for phase, values in phases.items():
        print(f"{phase} settled={int(statistics.median(values[-5:]))} max={max(values)} n={len(values)}")
    return 0


COMMANDS = {
    "compare": cmd_compare,
    "inputs": cmd_inputs,
    "samples": cmd_samples,
    "probe": cmd_probe,
    "resume": cmd_resume,
    "free-ports": cmd_free_ports,
    "port-free": cmd_port_free,
    "rss-summary": cmd_rss_summary,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
