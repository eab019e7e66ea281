#!/usr/bin/env bash
# Chaos suite: `tailwatch run` under a supervisor loop (restarted on exit after a short
# back-off, as Kubernetes does) while a simulated fleet keeps streaming in; SIGKILLs, broker
# restarts, a rebalance storm, a produce quota. At the end of each scenario the read_committed
# capture of the output topics must equal the offline replay of the same recording: 0 missing,
# 0 extra, 0 duplicates among blacklist events, cases and DLQ records.
#
#   scripts/chaos.sh --short [SCENARIO...]   small streams; part of scripts/test.sh
#   scripts/chaos.sh --long  [SCENARIO...]   release check: 100 kills over >= 5,000,000 samples, ...
#   scenarios: kills rebalance quota broker-restart (default: all four, in that order; in
#   --short, quota runs alongside kills and rebalance, and broker-restart alone at the end)
#
# It runs its own single-node broker (scripts/kafka-local.sh with its own cache folder and
# port), never the one scripts/test.sh starts, and stops it at the end. Each scenario prints its
# figures one per line ("FIGURE ..."); the script exits 1 if any output differs from the offline
# replay (printing the first differing records), if a scenario never catches up, if the
# service is stuck after a broker restart (its stacks are saved), or on any other failure, and
# says where the logs are. RELIABILITY.md has the figures of recorded runs.
#
# Environment:
#   TAILWATCH_BIN               the tailwatch binary (default: cargo build --release, then
#                               target/release/tailwatch)
#   TAILWATCH_CHAOS_DIR         work dir: recordings, captures, every service run's log
#                               (default <repo>/target/chaos/<mode>-<UTC time>)
#   TAILWATCH_CHAOS_KAFKA_HOME  the broker's cache folder (default <repo>/.kafka-chaos; its data
#                               is wiped at start; jars linked from <repo>/.kafka/libs when current)
#   TAILWATCH_CHAOS_KAFKA_PORT  first client port to try (default 19092, controller +1; the next
#                               free pair is taken when it is in use)
#   TAILWATCH_CHAOS_SEED        seed of the fleet and of the chaos timing (default: from the clock;
#                               printed)
#   TAILWATCH_CHAOS_STRICT      1: a missed target (resume > 10 s, RSS off by > 5 %) fails too
#                               (default 0: reported only)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHAOS_PY="$REPO/scripts/chaos/chaos.py"
ALL_SCENARIOS=(kills rebalance quota broker-restart)

usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

MODE=""
SCENARIOS=()
for arg in "$@"; do
  case "$arg" in
    --short) MODE=short ;;
    --long) MODE=long ;;
    -h | --help) usage; exit 0 ;;
    kills | broker-restart | rebalance | quota) SCENARIOS+=("$arg") ;;
    *) usage >&2; echo "chaos: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
[[ -n "$MODE" ]] || { usage >&2; exit 2; }
((${#SCENARIOS[@]})) || SCENARIOS=("${ALL_SCENARIOS[@]}")

STARTED_AT=$SECONDS
SEED="${TAILWATCH_CHAOS_SEED:-$(($(date +%s) % 100000))}"
RANDOM=$SEED
STRICT="${TAILWATCH_CHAOS_STRICT:-0}"
RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
W="${TAILWATCH_CHAOS_DIR:-$REPO/target/chaos/$MODE-$RUN_ID}"
KHOME="${TAILWATCH_CHAOS_KAFKA_HOME:-$REPO/.kafka-chaos}"
KPORT="${TAILWATCH_CHAOS_KAFKA_PORT:-19092}"
BACKOFF=1 # the supervisor's back-off between an exit and the restart (seconds)

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

CUR=setup
FAILED=()
mkdir -p "$W"
FIGURES="$W/figures.txt"
: >"$FIGURES"
: >"$W/failures.txt"
: >"$W/bg.pids"

say() { printf '[chaos %4ds] %s\n' $((SECONDS - STARTED_AT)) "$*"; }
now_ms() { date +%s%3N; }
figure() { printf 'FIGURE %s\n' "$*" | tee -a "$FIGURES"; }
fail() {
  say "FAIL: $*"
  FAILED+=("$CUR: $*")
  echo "$CUR: $*" >>"$W/failures.txt" # (a scenario may run in a subshell: see the main loop)
}
# A target (not correctness): sets TARGET to "met" or "MISSED"; a miss fails the run only with
# TAILWATCH_CHAOS_STRICT=1.
target() { # NAME MET(0|1)
  if [[ "$2" == 1 ]]; then TARGET=met; else
    TARGET=MISSED
    [[ "$STRICT" == 1 ]] && fail "target missed: $1"
  fi
  return 0
}
ms_to_s() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
# Uniform in [MIN_MS, MAX_MS]: sets RAND_MS and RAND_S (seconds, "1.234"). Not in $(...): the
# sequence (seeded by TAILWATCH_CHAOS_SEED) must advance in this shell.
rand_between() { # MIN_MS MAX_MS
  RAND_MS=$(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1)))
  RAND_S="$(printf '%d.%03d' $((RAND_MS / 1000)) $((RAND_MS % 1000)))"
}

# ---------------------------------------------------------------------------------------------
# Sizes. A sample is one telemetry reading: simulated terminals report at 1 Hz in 10-second
# reports; 50 vehicles over 6 h give 82,809 records holding 825,360 samples, so 320 vehicles over
# 6 h hold about 5.3 million (the script counts and prints the exact figure).
# FLEET = vehicles, duration, partitions; FEED_S = seconds the stream lasts.

if [[ "$MODE" == short ]]; then
  FLEET=(30 2h 6)
  KILLS=10 KILL_DELAY=(300 3000) KILLS_FLEET=("${FLEET[@]}") KILLS_FEED_S=30
  BROKER_RESTARTS=(graceful sigkill) BROKER_DOWN=3 BROKER_FLEET=("${FLEET[@]}") BROKER_FEED_S=75
  REBALANCE_EVENTS=8 REBALANCE_GAP=(1000 4000) REBALANCE_HOLD=(0 12000) REBALANCE_FLEET=("${FLEET[@]}") REBALANCE_FEED_S=35
  QUOTA_BEFORE=10 QUOTA_S=60 QUOTA_AFTER=10 QUOTA_FLEET=("${FLEET[@]}") QUOTA_FEED_S=85
  CATCH_UP_LIMIT=180
else
  KILLS=100 KILL_DELAY=(300 8000) KILLS_FLEET=(320 6h 6) KILLS_FEED_S=600
  BROKER_RESTARTS=(graceful sigkill graceful sigkill) BROKER_DOWN=10 BROKER_FLEET=(100 6h 6) BROKER_FEED_S=300
  REBALANCE_EVENTS=40 REBALANCE_GAP=(1000 6000) REBALANCE_HOLD=(0 15000) REBALANCE_FLEET=(100 6h 6) REBALANCE_FEED_S=200
  QUOTA_BEFORE=30 QUOTA_S=120 QUOTA_AFTER=60 QUOTA_FLEET=(100 6h 6) QUOTA_FEED_S=240
  CATCH_UP_LIMIT=1800
fi

# ---------------------------------------------------------------------------------------------
# The binary

if [[ -n "${TAILWATCH_BIN:-}" ]]; then
  TW="$TAILWATCH_BIN"
else
  say "building tailwatch (cargo build --release; set TAILWATCH_BIN to use a built one)"
  (cd "$REPO" && cargo build --release)
  TW="${CARGO_TARGET_DIR:-$REPO/target}/release/tailwatch"
fi
[[ -x "$TW" ]] || { echo "chaos: $TW is not an executable" >&2; exit 2; }
command -v python3 >/dev/null || { echo "chaos: python3 is needed" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# The broker: our own, in $KHOME on $KPORT; Java helpers compiled once per run.

kafka() { TAILWATCH_KAFKA_HOME="$KHOME" TAILWATCH_KAFKA_PORT="$KPORT" "$REPO/scripts/kafka-local.sh" "$@"; }
BROKER_STARTED=0

compile_java() {
  command -v javac >/dev/null 2>&1 || return 0
  javac -nowarn -cp "$KHOME/libs/*" -d "$W/classes" "$REPO/scripts/chaos/GroupWatch.java" \
    "$REPO/scripts/chaos/OrderedFeed.java" >"$W/javac.log" 2>&1 || true
}

# `java` running one of scripts/chaos/*.java: compiled, or else launched from source.
java_tool() { # HEAP CLASS ARGS...
  local heap=$1 class=$2
  shift 2
  local main=(-cp "$KHOME/libs/*" "$REPO/scripts/chaos/$class.java")
  [[ -f "$W/classes/$class.class" ]] && main=(-cp "$W/classes:$KHOME/libs/*" "$class")
  exec "$JAVA" "-Xmx$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KHOME/config/tools-log4j2.properties" "${main[@]}" "$@"
}

broker_setup() {
  if [[ ! -d "$KHOME" ]]; then
    mkdir -p "$KHOME"
    touch "$KHOME/.tailwatch-chaos"
  fi
  # The jars: reuse those of <repo>/.kafka when current for this pom (kafka-local.sh decides by
  # libs/.pom.sha256); otherwise kafka-local.sh fetches them with Maven.
  local main_libs="$REPO/.kafka/libs"
  if [[ ! -e "$KHOME/libs" && -f "$main_libs/.pom.sha256" ]] &&
    [[ "$(cat "$main_libs/.pom.sha256")" == "$(sha256sum "$REPO/scripts/kafka/pom.xml" | cut -d' ' -f1)" ]]; then
    ln -s "$main_libs" "$KHOME/libs"
  fi
  # A broker left running by an interrupted run (of this cache folder only).
  kafka stop >/dev/null 2>&1 || true
  if [[ -f "$KHOME/.tailwatch-chaos" ]]; then
    rm -rf "$KHOME/data" # a fresh cluster: topics of earlier runs never pile up
  fi
  local tries=0
  until python3 "$CHAOS_PY" port-free "$KPORT" $((KPORT + 1)); do
    ((++tries < 50)) || { echo "chaos: no free port pair from ${TAILWATCH_CHAOS_KAFKA_PORT:-19092}" >&2; exit 1; }
    KPORT=$((KPORT + 2))
  done
  BROKER="127.0.0.1:$KPORT"
  say "starting the chaos broker on $BROKER (cache folder $KHOME)"
  BROKER_STARTED=1
  local compiling=""
  if [[ -e "$KHOME/libs" ]]; then
    compile_java &
    compiling=$!
  fi
  kafka start >"$W/broker-start.log" 2>&1 || { cat "$W/broker-start.log" >&2; exit 1; }
  if [[ -n "$compiling" ]]; then wait "$compiling" || true; else compile_java; fi
}

broker_pid() { tr -dc '0-9' <"$KHOME/kafka.pid" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Fleets: simulated once per size, staged once (the feeder copies the staged bytes).

declare -A FLEET_DIRS=()

# Sets FLEET_DIR, FLEET_FILE, FLEET_PREFIX, STAGING_PREFIX, RECORDS for VEHICLES DURATION PARTITIONS.
fleet_prepare() { # VEHICLES DURATION PARTITIONS
  local key="$1-$2-$3"
  FLEET_DIR="$W/fleet-$key"
  FLEET_PREFIX="chaos-fleet-$key."
  STAGING_PREFIX="chaos-staging-$key."
  FLEET_FILE="$FLEET_DIR/fleet.jsonl"
  if [[ -z "${FLEET_DIRS[$key]:-}" ]]; then
    mkdir -p "$FLEET_DIR"
    say "fleet $key: simulating $1 vehicles over $2 on $3 partitions (seed $SEED), staging it in Kafka"
    "$TW" simulate --vehicles "$1" --duration "$2" --seed "$SEED" --partitions "$3" \
      --topic-prefix "$FLEET_PREFIX" --out "$FLEET_FILE" --truth "$FLEET_DIR/truth.jsonl" \
      2>"$FLEET_DIR/simulate.log" || { fail "simulate failed ($FLEET_DIR/simulate.log)"; return 1; }
    nice -n 10 python3 "$CHAOS_PY" samples "$FLEET_FILE" >"$FLEET_DIR/samples.txt" &
    bg_add $!
    "$TW" topics create --brokers "$BROKER" --topic-prefix "$STAGING_PREFIX" --partitions "$3" \
      >"$FLEET_DIR/topics.log" 2>&1 || { fail "topics create failed ($FLEET_DIR/topics.log)"; return 1; }
    TAILWATCH_INSTANCE_ID=chaos-stage "$TW" replay --input "$FLEET_FILE" --brokers "$BROKER" \
      --topic-prefix "$STAGING_PREFIX" >"$FLEET_DIR/stage.log" 2>&1 ||
      { fail "staging failed ($FLEET_DIR/stage.log)"; return 1; }
    FLEET_DIRS[$key]=1
  fi
  RECORDS=$(wc -l <"$FLEET_FILE")
}

fleet_samples() { # prints "<reports> <samples>" of the current fleet
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -s "$FLEET_DIR/samples.txt" ]] && break
    sleep 1
  done
  cat "$FLEET_DIR/samples.txt"
}

# ---------------------------------------------------------------------------------------------
# Background processes of a scenario: the feeder, the group watcher, the probe, supervisors and
# services.

BG_PIDS=()       # killed by pid at cleanup (bg_add: also listed in $W/bg.pids)
SCENARIO_DIRS=() # each may hold service pid files

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
bg_add() {
  BG_PIDS+=("$1")
  echo "$1" >>"$W/bg.pids"
}

# The pid of instance INST's current service process, if one is running.
svc_pid() { # INST
  local pid
  pid="$(cat "$SD/$1.pid" 2>/dev/null || true)"
  if alive "$pid" && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- " run "; then
    echo "$pid"
  else
    return 1
  fi
}

# The supervisor: runs instance INST of the service until $SD/stop exists, restarting it after
# every exit with a back-off of $BACKOFF s (or later: not before the time in $SD/INST.hold).
# Every run logs to $SD/logs/INST.N.log; starts and exits (with the code) go to $SD/INST.events.
supervise() { # INST ADMIN_PORT [VAR=VALUE...]
  local inst=$1 port=$2
  shift 2
  local n=0 pid rc until
  while [[ ! -e "$SD/stop" ]]; do
    n=$((n + 1))
    env RUST_LOG=info NO_COLOR=1 "$@" "$TW" run --brokers "$BROKER" --topic-prefix "$PREFIX" \
      --group-id "$GROUP" --instance-id "$inst" --admin-addr "127.0.0.1:$port" \
      --console-addr 127.0.0.1:0 \
      >"$SD/logs/$inst.$n.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$SD/$inst.pid"
    echo "$(now_ms) start $n $pid" >>"$SD/$inst.events"
    rc=0
    wait "$pid" || rc=$?
    echo "$(now_ms) exit $n $pid $rc" >>"$SD/$inst.events"
    [[ -e "$SD/stop" ]] && break
    sleep "$BACKOFF"
    if [[ -f "$SD/$inst.hold" ]]; then
      until="$(cat "$SD/$inst.hold")"
      while [[ ! -e "$SD/stop" ]] && (($(now_ms) < until)); do sleep 0.2; done
      rm -f "$SD/$inst.hold"
    fi
  done
}

start_supervisor() { # INST ADMIN_PORT [VAR=VALUE...]
  # (bash's own notices, "Killed" and the like, go to supervisor.log)
  supervise "$@" 2>>"$SD/logs/supervisor.log" &
  bg_add $!
  SUPERVISORS+=($!)
  INSTANCES+=("$1")
}

# Waits until instance INST runs a service process other than OLD_PID; prints its pid.
wait_new_service() { # INST OLD_PID TIMEOUT_S
  local deadline=$((SECONDS + $3)) pid
  while ((SECONDS < deadline)); do
    if pid="$(svc_pid "$1")" && [[ "$pid" != "$2" ]]; then
      echo "$pid"
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# Stops every instance with SIGTERM (as a rollout does) and waits for the supervisors.
stop_services() {
  touch "$SD/stop"
  local inst pid s
  for inst in "${INSTANCES[@]}"; do
    if pid="$(svc_pid "$inst")"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  local deadline=$((SECONDS + 30))
  for s in "${SUPERVISORS[@]}"; do
    while alive "$s" && ((SECONDS < deadline)); do sleep 0.1; done
  done
  for inst in "${INSTANCES[@]}"; do
    if pid="$(svc_pid "$inst")"; then
      fail "$inst (pid $pid) did not stop within 30 s of SIGTERM; killed"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for s in "${SUPERVISORS[@]}"; do wait "$s" 2>/dev/null || true; done
}

# Evidence of a service that is alive but not working: its threads' stacks (gdb, when present).
dump_stacks() { # INST WHY
  local pid file
  pid="$(svc_pid "$1")" || return 0
  file="$SD/logs/stacks-$1-$pid-$(now_ms).txt"
  {
    echo "# $1 (pid $pid): $2"
    grep -E '^(State|Threads|VmRSS)' "/proc/$pid/status"
    if command -v gdb >/dev/null 2>&1; then
      timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1
    else
      for t in /proc/"$pid"/task/*; do echo "$(cat "$t/comm") $(cat "$t/wchan")"; done
    fi
  } >"$file" 2>&1
  say "$CUR: $1 (pid $pid) $2; its threads' stacks are in $file"
}

# Exit codes of the scenario's service runs between SINCE_MS and UNTIL_MS: "10×137 1×0".
exit_codes() { # [SINCE_MS [UNTIL_MS]]
  local since=${1:-0} until=${2:-99999999999999}
  cat "$SD"/*.events 2>/dev/null |
    awk -v s="$since" -v u="$until" '$2 == "exit" && $1 >= s && $1 <= u { c[$5]++ }
      END { for (k in c) printf "%s%d×%s", (n++ ? " " : ""), c[k], k; if (!n) printf "none" }'
}

# The group's committed offsets against the end offsets of its inputs, every 250 ms.
watch_start() {
  (java_tool 128m GroupWatch "$BROKER" "$GROUP" "$PARTITIONS" 250 "$INPUT_TOPICS" "$OUTPUT_TOPICS") \
    >"$SD/watch.log" 2>"$SD/logs/watch.err" &
  WATCH_PID=$!
  bg_add "$WATCH_PID"
}

watch_ready() {
  local deadline=$((SECONDS + 90))
  until grep -q " ok " "$SD/watch.log" 2>/dev/null; do
    ((SECONDS < deadline)) || { fail "the group watcher never answered (see $SD/logs/watch.err)"; return 1; }
    alive "$WATCH_PID" || { fail "the group watcher died (see $SD/logs/watch.err)"; return 1; }
    sleep 0.2
  done
}

last_watch() { grep " ok " "$SD/watch.log" | tail -n1; }
watch_field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; } # LINE FIELD

# Broker answering, and each instance's counters from /metrics, every 250 ms (chaos.py probe).
probe_start() { # INSTANCE=ADMIN_PORT...
  python3 "$CHAOS_PY" probe "$BROKER" 250 "$@" >"$SD/probe.log" 2>"$SD/logs/probe.err" &
  PROBE_PID=$!
  bg_add "$PROBE_PID"
}

# ---------------------------------------------------------------------------------------------
# A scenario: fresh topics and group, the oracle, the watcher; then catch-up and comparison.

scenario_begin() { # NAME VEHICLES DURATION PARTITIONS
  CUR=$1
  SD="$W/$1"
  SCENARIO_DIRS+=("$SD")
  mkdir -p "$SD/logs"
  PARTITIONS=$4
  PREFIX="chaos-$1-$RUN_ID."
  GROUP="${PREFIX}group"
  SUPERVISORS=()
  INSTANCES=()
  INPUT_TOPICS="" OUTPUT_TOPICS=""
  local t
  for t in telemetry telemetry.raw inspections reinspections registry permits evidence.by-vin; do
    INPUT_TOPICS+="${INPUT_TOPICS:+,}$PREFIX$t"
  done
  for t in blacklist cases dlq; do OUTPUT_TOPICS+="${OUTPUT_TOPICS:+,}$PREFIX$t"; done
  "$TW" topics create --brokers "$BROKER" --topic-prefix "$PREFIX" --partitions "$4" \
    >"$SD/logs/topics.log" 2>&1 || { fail "topics create failed ($SD/logs/topics.log)"; return 1; }
  watch_start
  fleet_prepare "$2" "$3" "$4" || return 1
  say "$1: $RECORDS records (fleet of $2 vehicles over $3), topics $PREFIX*"
  # The oracle, on the side while the live run goes on (nice: the service comes first).
  nice -n 10 "$TW" replay --input "$FLEET_FILE" --topic-prefix "$PREFIX" --partitions "$4" \
    --out "$SD/expected" >"$SD/logs/offline.log" 2>&1 &
  OFFLINE_PID=$!
  bg_add "$OFFLINE_PID"
  watch_ready
}

# The fleet streams in over SECONDS while the chaos goes on (scripts/chaos/OrderedFeed.java:
# the recording's order across the topics of a partition number kept, broker outages waited out).
feeder_start() { # SECONDS
  FEED_RATE=$(((RECORDS + $1 - 1) / $1))
  local heap=512m
  ((RECORDS > 100000)) && heap=4g
  (java_tool "$heap" OrderedFeed "$BROKER" "$FLEET_FILE" "$FLEET_PREFIX" "$PREFIX" "$STAGING_PREFIX" \
    "$FEED_RATE") \
    >"$SD/logs/feeder.log" 2>&1 &
  FEEDER_PID=$!
  bg_add "$FEEDER_PID"
  say "$CUR: streaming $RECORDS records at $FEED_RATE/s"
  # Wait for the first records (the JVM starts and reads the staged copy first), so that the
  # chaos lands on a live stream (a long fleet takes minutes to load).
  local deadline=$((SECONDS + (RECORDS > 100000 ? 900 : 120)))
  local end
  while :; do
    end="$(watch_field "$(last_watch)" end)"
    ((${end:-0} > 0)) && break
    ((SECONDS < deadline)) && alive "$FEEDER_PID" || { fail "the feeder never produced ($SD/logs/feeder.log)"; return 1; }
    sleep 0.2
  done
}

feeding() { alive "$FEEDER_PID"; }

# Waits for the feeder to finish, then until the group has committed every input record.
wait_caught_up() {
  local rc=0
  wait "$FEEDER_PID" || rc=$?
  FED_AT=$(now_ms)
  if ((rc != 0)) || ! grep -q "produced $RECORDS records" "$SD/logs/feeder.log"; then
    fail "the feeder failed (exit $rc): $(tail -n3 "$SD/logs/feeder.log")"
    return 1
  fi
  local deadline=$((SECONDS + CATCH_UP_LIMIT)) streak=0 last="" line
  while ((SECONDS < deadline)); do
    line="$(last_watch)"
    if [[ "$line" != "$last" ]]; then
      last="$line"
      if (($(cut -d' ' -f1 <<<"$line") > FED_AT)) && [[ "$(watch_field "$line" behind)" == 0 ]]; then
        streak=$((streak + 1))
      else
        streak=0
      fi
      if ((streak >= 3)); then
        CAUGHT_UP_MS=$(($(cut -d' ' -f1 <<<"$line") - FED_AT))
        return 0
      fi
    fi
    sleep 0.2
  done
  fail "not caught up within ${CATCH_UP_LIMIT}s after the feed ended: $(last_watch)"
  return 1
}

# Captures inputs and outputs (read_committed) and compares the outputs with the offline replay
# of the recording; if the input topics do not hold exactly the recording (the feeder wrote a
# record twice), with the offline replay of what they hold instead, and says so.
scenario_compare() {
  local rc=0
  wait "$OFFLINE_PID" || rc=$?
  ((rc == 0)) || { fail "offline replay failed: $(tail -n3 "$SD/logs/offline.log")"; return 1; }
  local topics="$OUTPUT_TOPICS" t
  for t in telemetry telemetry.raw inspections reinspections registry permits; do topics+=",$PREFIX$t"; done
  "$TW" record --brokers "$BROKER" --topic-prefix "$PREFIX" --topics "$topics" \
    --out "$SD/captured.jsonl" --idle-exit 2s >"$SD/logs/record.log" 2>&1 ||
    { fail "record failed: $(tail -n3 "$SD/logs/record.log")"; return 1; }
  local expected="$SD/expected"
  INPUTS_NOTE=""
  rc=0
  python3 "$CHAOS_PY" inputs --fleet "$FLEET_FILE" --fleet-prefix "$FLEET_PREFIX" \
    --captured "$SD/captured.jsonl" --prefix "$PREFIX" --out "$SD/kafka-inputs.jsonl" \
    >"$SD/compare.txt" 2>&1 || rc=$?
  if ((rc != 0)); then
    cat "$SD/compare.txt"
    INPUTS_NOTE="; the input topics differ from the recording ($(sed -n 's/.*\(duplicated [0-9]*  lost [0-9]*\).*/\1/p' "$SD/compare.txt" | tr -s ' ')): compared with the offline replay of the input topics as captured"
    say "$CUR: the input topics do not hold exactly the recording; the oracle replays what they hold"
    "$TW" replay --input "$SD/kafka-inputs.jsonl" --topic-prefix "$PREFIX" --partitions "$PARTITIONS" \
      --out "$SD/expected-kafka" >>"$SD/logs/offline.log" 2>&1 ||
      { fail "offline replay of the captured inputs failed ($SD/logs/offline.log)"; return 1; }
    expected="$SD/expected-kafka"
  fi
  rc=0
  python3 "$CHAOS_PY" compare --expected "$expected" --captured "$SD/captured.jsonl" \
    --prefix "$PREFIX" >>"$SD/compare.txt" 2>&1 || rc=$?
  COMPARED="$(awk '$1 ~ /^(blacklist|cases|dlq)$/ { printf "%s%s %d/%d", (n++ ? ", " : ""), $1, $5, $3 }' "$SD/compare.txt")"
  read -r REPORTS SAMPLES <<<"$(fleet_samples)" || true
  if ((rc != 0)); then
    cat "$SD/compare.txt"
    fail "outputs differ from the offline replay ($SD/compare.txt)"
    return 1
  fi
  return 0
}

# After a scenario, passed or not: nothing of it left running.
scenario_finish() {
  [[ -n "${SD:-}" && -d "$SD" ]] || return 0
  if [[ ! -e "$SD/stop" ]] || { ((${#SUPERVISORS[@]})) && alive "${SUPERVISORS[-1]}"; }; then
    stop_services
  fi
  local p
  for p in "${FEEDER_PID:-}" "${WATCH_PID:-}" "${PROBE_PID:-}"; do
    if alive "$p"; then kill "$p" 2>/dev/null || true; fi
    [[ -n "$p" ]] && { wait "$p" 2>/dev/null || true; }
  done
  FEEDER_PID="" WATCH_PID="" PROBE_PID=""
  if ((${#FAILED[@]} == FAILED_BEFORE)); then
    rm -f "$SD/captured.jsonl" "$SD/kafka-inputs.jsonl" # passed: the large files go, logs stay
  else
    say "$CUR: logs of every service run are in $SD/logs (starts and exits in $SD/*.events)"
  fi
}

outputs_line() { echo "outputs (got/expected) $COMPARED: 0 missing, 0 extra, 0 duplicates$INPUTS_NOTE"; }

# ---------------------------------------------------------------------------------------------
# Scenarios

# SIGKILL the service at random moments of its life (during restore, processing, commits).
scenario_kills() {
  scenario_begin kills "${KILLS_FLEET[@]}" || return 1
  local port
  port="$(python3 "$CHAOS_PY" free-ports 1)"
  feeder_start "$KILLS_FEED_S" || return 1
  start_supervisor k0 "$port"
  local k pid="" streaming=0 uptimes=() selfexits=0 said=0
  # KILLS SIGKILLs delivered: a process that exits by itself first does not count.
  for ((k = 1; ${#uptimes[@]} < KILLS && k <= 2 * KILLS; k++)); do
    pid="$(wait_new_service k0 "$pid" 120)" || { fail "no service running 120 s after kill ${#uptimes[@]}"; break; }
    rand_between "${KILL_DELAY[@]}"
    sleep "$RAND_S"
    if alive "$pid"; then
      feeding && streaming=$((streaming + 1))
      kill -KILL "$pid" 2>/dev/null || true
      uptimes+=("$RAND_S")
    else
      selfexits=$((selfexits + 1))
      say "kills: pid $pid exited by itself before it was killed ($(grep " $pid " "$SD/k0.events" | tail -n1))"
    fi
    if ((${#uptimes[@]} % 10 == 0 && ${#uptimes[@]} > said)); then
      said=${#uptimes[@]}
      say "kills: $said SIGKILLs so far"
    fi
  done
  local n=${#uptimes[@]}
  say "kills: $n SIGKILLs delivered; waiting for the stream to end and the group to catch up"
  wait_caught_up || return 1
  stop_services
  scenario_compare || return 1
  local range
  range="$(printf '%s\n' "${uptimes[@]}" | sort -n | sed -n '1p;$p' | paste -sd-)"
  ((n == KILLS)) || fail "only $n of $KILLS SIGKILLs delivered"
  figure "kills: $n SIGKILLs survived ($streaming while the input was streaming; at $range s of the process's life; $selfexits exits of the service's own in between) over $RECORDS records, $SAMPLES samples; exits $(exit_codes); caught up $(ms_to_s "$CAUGHT_UP_MS") s after the feed ended; $(outputs_line)"
}

# The broker stopped gracefully, and SIGKILLed, mid-stream; how long until the service processes.
scenario_broker_restart() {
  scenario_begin broker-restart "${BROKER_FLEET[@]}" || return 1
  local port
  port="$(python3 "$CHAOS_PY" free-ports 1)"
  start_supervisor b0 "$port"
  probe_start "b0=$port"
  feeder_start "$BROKER_FEED_S" || return 1
  sleep 5
  local how i=0 worst=0 resumed=0 stopped_at start_at ready_at out answered processing committing hung
  for how in "${BROKER_RESTARTS[@]}"; do
    i=$((i + 1))
    feeding || say "broker-restart: note: the feed had ended before restart $i"
    local down_at
    down_at=$(now_ms)
    if [[ "$how" == graceful ]]; then
      say "broker-restart: stopping the broker gracefully (SIGTERM: controlled shutdown)"
      kafka stop >>"$SD/logs/broker.log" 2>&1
    else
      local bpid
      bpid="$(broker_pid)"
      say "broker-restart: SIGKILL to the broker (pid $bpid)"
      kill -KILL "$bpid"
      while alive "$bpid"; do sleep 0.05; done
    fi
    stopped_at=$(now_ms)
    sleep "$BROKER_DOWN"
    start_at=$(now_ms)
    kafka start >>"$SD/logs/broker.log" 2>&1 || { fail "the broker did not come back"; break; }
    ready_at=$(now_ms)
    local deadline=$((SECONDS + 120)) dumped=0
    while :; do
      out="$(python3 "$CHAOS_PY" resume "$SD/probe.log" "$stopped_at")"
      [[ "$out" != *none* ]] && break
      ((SECONDS < deadline)) || break
      if ((dumped == 0 && SECONDS > deadline - 60)); then
        dumped=1
        dump_stacks b0 "not processing 60 s after the broker came back"
      fi
      sleep 0.5
    done
    answered="$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$out")"
    processing="$(sed -n 's/.*processing=\([0-9]*\).*/\1/p' <<<"$out")"
    committing="$(sed -n 's/.*committing=\([0-9]*\).*/\1/p' <<<"$out")"
    if [[ -z "$answered" || -z "$processing" || -z "$committing" ]]; then
      fail "broker-restart ($how): the service was not processing and committing 120 s after the broker was back ($out)"
      # Alive but stuck: SIGKILL it, as a liveness probe watching progress would, so that the
      # scenario goes on and still checks the outputs.
      hung=""
      if hung="$(svc_pid b0)"; then
        say "broker-restart: SIGKILL to the stuck service (pid $hung); the supervisor restarts it"
        kill -KILL "$hung" 2>/dev/null || true
      fi
      figure "broker-restart ($how stop): NOT processing and committing 120 s after the broker was back ($out); service exits since the stop: $(exit_codes "$down_at")${hung:+; the stuck process (pid $hung) SIGKILLed by the suite}"
      continue
    fi
    resumed=$((resumed + 1))
    local resume=$((committing > processing ? committing - answered : processing - answered))
    ((resume > worst)) && worst=$resume
    target "broker resume ($how)" $((resume <= 10000))
    figure "broker-restart ($how stop, down $(ms_to_s $((start_at - stopped_at))) s): broker answering $(ms_to_s $((answered - start_at))) s after its start; service processing records $(ms_to_s $((processing - answered))) s and committing transactions $(ms_to_s $((committing - answered))) s after the broker answered (target <= 10 s: $TARGET); service exits since the stop: $(exit_codes "$down_at" "$committing")"
    sleep 3
  done
  wait_caught_up || return 1
  stop_services
  scenario_compare || return 1
  figure "broker-restart: ${#BROKER_RESTARTS[@]} broker restarts (${BROKER_RESTARTS[*]}) over $RECORDS records, $SAMPLES samples; $resumed resumed within 120 s, the worst after $(ms_to_s "$worst") s; all exits $(exit_codes); $(outputs_line)"
}

# Three instances, restarted at random (SIGKILL or SIGTERM, back after 0-15 s): partitions and
# their state move back and forth.
scenario_rebalance() {
  scenario_begin rebalance "${REBALANCE_FLEET[@]}" || return 1
  local ports
  read -r -a ports <<<"$(python3 "$CHAOS_PY" free-ports 3)"
  # Short timeouts, as in tests/kafka.rs, so that a stopped static member's partitions move.
  local env=(TAILWATCH_SESSION_TIMEOUT=10s TAILWATCH_TRANSACTION_TIMEOUT=5s)
  start_supervisor r0 "${ports[0]}" "${env[@]}"
  start_supervisor r1 "${ports[1]}" "${env[@]}"
  start_supervisor r2 "${ports[2]}" "${env[@]}"
  feeder_start "$REBALANCE_FEED_S" || return 1
  sleep 3
  local e inst sig hold pid kills=0 terms=0 long=0
  for ((e = 1; e <= REBALANCE_EVENTS; e++)); do
    rand_between "${REBALANCE_GAP[@]}"
    sleep "$RAND_S"
    inst="r$((RANDOM % 3))"
    rand_between "${REBALANCE_HOLD[@]}"
    hold=$RAND_S
    pid="$(svc_pid "$inst")" || continue # down (held back) already
    echo $(($(now_ms) + RAND_MS)) >"$SD/$inst.hold"
    if ((RANDOM % 2)); then sig=KILL; kills=$((kills + 1)); else sig=TERM; terms=$((terms + 1)); fi
    ((RAND_MS >= 10000)) && long=$((long + 1))
    say "rebalance: SIG$sig to $inst (pid $pid), back after $hold s + ${BACKOFF} s"
    kill "-$sig" "$pid" 2>/dev/null || true
  done
  for inst in r0 r1 r2; do
    wait_new_service "$inst" "" 60 >/dev/null || fail "$inst did not come back"
  done
  wait_caught_up || return 1
  stop_services
  scenario_compare || return 1
  local restores revokes vehicles
  restores=$(cat "$SD"/logs/r?.*.log | grep -c "Partition restored" || true)
  revokes=$(cat "$SD"/logs/r?.*.log | grep -c "Partition revoked" || true)
  vehicles=$(cat "$SD"/logs/r?.*.log | sed -n 's/.*Partition restored.* vehicles=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
  figure "rebalance: 3 instances, $((kills + terms)) restarts ($kills SIGKILL, $terms SIGTERM; $long of them down >= 10 s, the session timeout) over $RECORDS records, $SAMPLES samples on $PARTITIONS partitions; $restores partition restores ($vehicles vehicle states restored from the changelog), $revokes revocations; exits $(exit_codes); $(outputs_line)"
}

# The service's producer throttled to 4 KB/s by a broker quota for a while, then freed.
scenario_quota() {
  scenario_begin quota "${QUOTA_FLEET[@]}" || return 1
  local port
  port="$(python3 "$CHAOS_PY" free-ports 1)"
  start_supervisor q0 "$port"
  probe_start "q0=$port"
  feeder_start "$QUOTA_FEED_S" || return 1
  # RSS of the running service, every second: "<ms> <pid> <phase> <kB>".
  echo before >"$SD/phase"
  (
    while [[ ! -e "$SD/stop" && ! -e "$SD/rss.stop" ]]; do
      if pid="$(svc_pid q0)"; then
        kb="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        [[ -n "$kb" ]] && echo "$(now_ms) $pid $(cat "$SD/phase") $kb" >>"$SD/rss.log"
      fi
      sleep 1
    done
  ) &
  local sampler=$!
  bg_add "$sampler"
  sleep "$QUOTA_BEFORE"
  # The service's producer is the client "tailwatch-<instance id>" (src/kafka/mod.rs); the
  # feeder's client id differs, so the input keeps streaming.
  local client="tailwatch-q0" on_at off_at committed_on committed_off
  committed_on="$(watch_field "$(last_watch)" committed)"
  say "quota: producer_byte_rate=4096 for client $client for ${QUOTA_S} s"
  kafka run kafka.admin.ConfigCommand --bootstrap-server "$BROKER" --alter --entity-type clients \
    --entity-name "$client" --add-config producer_byte_rate=4096 >>"$SD/logs/quota.log" 2>&1 ||
    fail "could not set the quota ($SD/logs/quota.log)"
  on_at=$(now_ms)
  echo during >"$SD/phase"
  sleep "$QUOTA_S"
  committed_off="$(watch_field "$(last_watch)" committed)"
  kafka run kafka.admin.ConfigCommand --bootstrap-server "$BROKER" --alter --entity-type clients \
    --entity-name "$client" --delete-config producer_byte_rate >>"$SD/logs/quota.log" 2>&1 ||
    fail "could not remove the quota ($SD/logs/quota.log)"
  off_at=$(now_ms)
  echo after >"$SD/phase"
  say "quota: removed"
  # Processing again: the group's committed offsets grow past their value at the removal.
  local resumed="" deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    resumed="$(awk -v t="$off_at" -v c="$committed_off" '$2 == "ok" && $1 >= t {
        split($3, f, "="); if (f[2] > c) { print $1; exit } }' "$SD/watch.log")"
    [[ -n "$resumed" ]] && break
    sleep 0.5
  done
  sleep "$QUOTA_AFTER"
  touch "$SD/rss.stop"
  wait "$sampler" 2>/dev/null || true
  local during_exits
  during_exits="$(awk -v s="$on_at" -v u="$off_at" '$2 == "exit" && $1 >= s && $1 <= u {
      printf "%s%.0f s (exit %s)", (n++ ? ", " : ""), ($1 - s) / 1000, $5 } END { if (!n) printf "none" }' "$SD/q0.events")"
  local tx_during
  tx_during="$(awk -v s="$on_at" -v u="$off_at" '$1 >= s && $1 <= u && $3 != "q0=down" {
      split($3, a, "/"); if (a[2] + 0 < prev) base += prev; prev = a[2] + 0; last = a[2] + 0; if (!seen++) first = a[2] + 0 }
      END { print base + last - first }' "$SD/probe.log")"
  wait_caught_up || return 1
  stop_services
  scenario_compare || return 1
  local summary before during after growth within
  summary="$(python3 "$CHAOS_PY" rss-summary "$SD/rss.log")"
  before="$(sed -n 's/^before settled=\([0-9]*\).*/\1/p' <<<"$summary")"
  during="$(sed -n 's/^during .*max=\([0-9]*\).*/\1/p' <<<"$summary")"
  after="$(sed -n 's/^after settled=\([0-9]*\).*/\1/p' <<<"$summary")"
  growth="$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%+.1f", (a - b) * 100 / b }')"
  within=$(awk -v g="$growth" 'BEGIN { print (g <= 5 && g >= -5) ? 1 : 0 }')
  if [[ -n "$resumed" ]]; then
    figure "quota: producer_byte_rate=4096 on the service's client for ${QUOTA_S} s: input records committed meanwhile $((committed_off - committed_on)), transactions committed meanwhile ~$tx_during; service exits under the quota: $during_exits; committing again $(ms_to_s $((resumed - off_at))) s after the quota was removed"
  else
    fail "quota: the group's offsets did not move in the 120 s after the quota was removed"
    figure "quota: producer_byte_rate=4096 for ${QUOTA_S} s: service exits under the quota: $during_exits; NOT committing 120 s after the quota was removed"
  fi
  target "quota RSS" "$within"
  figure "quota: RSS before ${before} kB (the last 5 s before the quota), during ${during} kB (max), after ${after} kB (the last 5 s of the ${QUOTA_AFTER} s after removal): ${growth} % (target within 5 %: $TARGET); service pids $(awk '{ print $2 }' "$SD/rss.log" | uniq | paste -sd' ')"
  figure "quota: over $RECORDS records, $SAMPLES samples; exits $(exit_codes); $(outputs_line)"
}

# ---------------------------------------------------------------------------------------------

cleanup() {
  local rc=$?
  set +e
  local d f pid
  for d in "${SCENARIO_DIRS[@]}"; do
    touch "$d/stop"
    for f in "$d"/*.pid; do
      [[ -f "$f" ]] || continue
      pid="$(cat "$f")"
      if alive "$pid" && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- " run "; then
        kill -KILL "$pid" 2>/dev/null
      fi
    done
  done
  # Ours only: a listed pid whose command line names this suite (a pid may have been reused).
  for pid in $(cat "$W/bg.pids" 2>/dev/null) "${BG_PIDS[@]}"; do
    if alive "$pid" && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q chaos; then
      kill "$pid" 2>/dev/null
    fi
  done
  wait 2>/dev/null
  if [[ "$BROKER_STARTED" == 1 ]]; then
    kafka stop >>"$W/broker-stop.log" 2>&1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_scenario() { # NAME
  FAILED_BEFORE=${#FAILED[@]}
  CUR=$1
  say "=== $1"
  "scenario_${1//-/_}" || true
  scenario_finish
  ((${#FAILED[@]} == FAILED_BEFORE)) && say "$1: passed"
  SD=""
}

selected() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

say "mode $MODE, scenarios ${SCENARIOS[*]}, seed $SEED, binary $TW, work dir $W"
broker_setup
# In --short the quota scenario (a minute of quota, mostly waiting) runs alongside kills and
# rebalance, in a subshell with its own topics, group, client id and ports; broker-restart runs
# last and alone, as it takes the broker away. --long runs them one after another.
QUOTA_PID=""
if [[ "$MODE" == short ]] && selected quota && { selected kills || selected rebalance; }; then
  fleet_prepare "${QUOTA_FLEET[@]}" # (in this shell: the subshell's would be lost)
  SCENARIO_DIRS+=("$W/quota")
  say "quota runs alongside the next scenarios; its lines come when it is done"
  (
    trap 'scenario_finish' EXIT
    run_scenario quota
  ) >"$W/quota.out" 2>&1 &
  QUOTA_PID=$!
  bg_add "$QUOTA_PID"
fi
for s in kills rebalance quota broker-restart; do
  selected "$s" || continue
  if [[ "$s" == quota && -n "$QUOTA_PID" ]]; then
    wait "$QUOTA_PID" || true
    cat "$W/quota.out"
    continue
  fi
  [[ "$s" == broker-restart && -n "$QUOTA_PID" ]] && { wait "$QUOTA_PID" || true; }
  run_scenario "$s"
done
mapfile -t FAILED <"$W/failures.txt"
# Passed: the recordings go too.
((${#FAILED[@]})) || rm -f "$W"/fleet-*/fleet.jsonl

echo
echo "chaos ($MODE, seed $SEED) in $((SECONDS - STARTED_AT)) s; figures in $FIGURES:"
cat "$FIGURES"
if ((${#FAILED[@]})); then
  echo
  echo "chaos: FAILED (${#FAILED[@]}):"
  printf '  %s\n' "${FAILED[@]}"
  echo "chaos: logs in $W (each scenario's service runs under <scenario>/logs/)"
  exit 1
fi
echo "chaos: all scenarios passed"
