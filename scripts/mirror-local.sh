#!/usr/bin/env bash
# Local Apache Kafka MirrorMaker 2 (dedicated mode) between two local clusters, for development
# and integration tests of tailwatch: it mirrors a neighbouring province's topics (default
# Tianjin's tw.shared.overlimit) into our cluster (Beijing) as SOURCE.TOPIC, e.g.
# tianjin.tw.shared.overlimit (DefaultReplicationPolicy).
#
#   scripts/mirror-local.sh start    install (first time), write the config, start MirrorMaker, wait until it replicates
#   scripts/mirror-local.sh stop     SIGTERM, wait up to 20 s, then SIGKILL
#   scripts/mirror-local.sh status   exit 0 running, 3 stopped
#   scripts/mirror-local.sh check [SAMPLES]
#                                    with both brokers and MirrorMaker up: produce key LGDCHA1G8MA127733 with a
#                                    unique value to the source's tw.shared.overlimit (created compacted with 4
#                                    partitions if missing), consume the target's tianjin.tw.shared.overlimit until
#                                    it shows up; print the delay of each sample and the median
#   scripts/mirror-local.sh check-txn
#                                    one aborted then one committed transaction on the source topic: passes when
#                                    only the committed record is mirrored
#   scripts/mirror-local.sh run CLASS|FILE.java [ARGS...]
#                                    run a class or a single-file Java program with MirrorMaker's jars
#
# The brokers are not started here: start them with scripts/kafka-local.sh, e.g.
#   TAILWATCH_KAFKA_HOME=.kafka-tianjin TAILWATCH_KAFKA_PORT=29092 TAILWATCH_KAFKA_LIBS=.kafka/libs scripts/kafka-local.sh start
#   scripts/kafka-local.sh start                                   # beijing on 9092
#   scripts/mirror-local.sh start && scripts/mirror-local.sh check
#
# MirrorMaker comes from Maven Central (scripts/mirror/pom.xml: org.apache.kafka:connect-mirror,
# same Kafka version as scripts/kafka/pom.xml). Everything lives in the cache folder:
#   $TAILWATCH_MIRROR_HOME (default <repo>/.kafka-mirror)
#     libs/         jars (+ libs/.pom.sha256; Maven runs again only when the pom changes)
#     config/       mm2.properties, log4j2 configs (rewritten on every start)
#     logs/         mirror.log (MirrorMaker), mirror.log.prev (previous run)
#     mirror.pid
# MirrorMaker keeps its state (Connect config/offset/status topics mm2-*.SOURCE.internal) on the
# target cluster, so a restart resumes where the last committed offsets were.
#
# Environment:
#   TAILWATCH_MIRROR_HOME            cache folder (default <repo>/.kafka-mirror)
#   TAILWATCH_MIRROR_SOURCE          source cluster alias (default tianjin); the remote topic prefix
#   TAILWATCH_MIRROR_SOURCE_BROKERS  source bootstrap (default 127.0.0.1:29092)
#   TAILWATCH_MIRROR_TARGET          target cluster alias (default beijing)
#   TAILWATCH_MIRROR_TARGET_BROKERS  target bootstrap (default 127.0.0.1:9092)
#   TAILWATCH_MIRROR_TOPICS          source topics, a Java regex (default tw\.shared\.overlimit)
#   TAILWATCH_MIRROR_CREATE_TOPICS   start: create missing source topics first, compacted, with
#                                    TAILWATCH_MIRROR_PARTITIONS partitions: "1" = tw.shared.overlimit,
#                                    else a comma-separated list of names (default empty: create none)
#   TAILWATCH_MIRROR_PARTITIONS      partitions of topics created here (default 4)
#   TAILWATCH_MIRROR_START_TIMEOUT   seconds `start` waits for replication to be ready (default 90)
#   TAILWATCH_MIRROR_CHECK_TIMEOUT   seconds `check` waits for one record (default 60)
#   TAILWATCH_MIRROR_HEAP_OPTS       MirrorMaker heap (default "-Xms32m -Xmx96m"; about 12 MB is live
#                                    when mirroring test traffic, RSS about 110-130 MB)
#   TAILWATCH_MIRROR_EXTRA_PROPS     more lines for mm2.properties (appended, so they override)
#   JAVA_HOME                        Java 17+ to use (default: `java` on PATH)
#
# Replication is one-way, source -> target (the reverse flow, heartbeats, checkpoints and offset
# syncs are off), replication factor 1 for every topic it creates, new source topics are picked
# up within 2 s, the source is read with isolation.level=read_committed (records of aborted
# transactions are not mirrored), and remote topics get the source topic's partition count and
# its non-default configs (cleanup.policy=compact stays compact). Neither broker needs
# auto.create.topics.enable: MirrorMaker creates the remote topics with its admin client.
# Delivery is at least once (after a kill, records since the last offset commit are mirrored
# again) and target offsets differ from source offsets (transaction markers and aborted records
# take offsets on the source only). On this 2-core machine `start` is ready in about 5 s, and a
# record takes about 10 ms (median) to appear on the target; a topic created on the source while
# MirrorMaker runs is picked up within about 2.5 s.
# Expected noise in mirror.log: "ERROR Failed to configure MirrorCheckpointConnector" (checkpoints
# are off on purpose; MirrorMaker still tries to configure it) and, from the periodic config sync,
# "WARN Could not alter configuration of topic SOURCE.TOPIC".
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/mirror/pom.xml"
PROBE="$SCRIPT_DIR/mirror/MirrorProbe.java"

MIRROR_HOME="${TAILWATCH_MIRROR_HOME:-$REPO_ROOT/.kafka-mirror}"
SOURCE="${TAILWATCH_MIRROR_SOURCE:-tianjin}"
SOURCE_BROKERS="${TAILWATCH_MIRROR_SOURCE_BROKERS:-127.0.0.1:29092}"
TARGET="${TAILWATCH_MIRROR_TARGET:-beijing}"
TARGET_BROKERS="${TAILWATCH_MIRROR_TARGET_BROKERS:-127.0.0.1:9092}"
TOPICS="${TAILWATCH_MIRROR_TOPICS:-tw\.shared\.overlimit}"
CREATE_TOPICS="${TAILWATCH_MIRROR_CREATE_TOPICS:-}"
PARTITIONS="${TAILWATCH_MIRROR_PARTITIONS:-4}"
START_TIMEOUT="${TAILWATCH_MIRROR_START_TIMEOUT:-90}"
CHECK_TIMEOUT="${TAILWATCH_MIRROR_CHECK_TIMEOUT:-60}"
HEAP_OPTS="${TAILWATCH_MIRROR_HEAP_OPTS:--Xms32m -Xmx96m}"
EXTRA_PROPS="${TAILWATCH_MIRROR_EXTRA_PROPS:-}"

CHECK_TOPIC=tw.shared.overlimit
CHECK_KEY=LGDCHA1G8MA127733

LIBS="$MIRROR_HOME/libs"
CONFIG_DIR="$MIRROR_HOME/config"
LOG_DIR="$MIRROR_HOME/logs"
LOG_FILE="$LOG_DIR/mirror.log"
PID_FILE="$MIRROR_HOME/mirror.pid"
MM2_PROPS="$CONFIG_DIR/mm2.properties"
MM2_LOG4J="$CONFIG_DIR/log4j2.properties"
TOOLS_LOG4J="$CONFIG_DIR/tools-log4j2.properties"
POM_HASH_FILE="$LIBS/.pom.sha256"
MAIN_CLASS=org.apache.kafka.connect.mirror.MirrorMaker

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

say() { printf 'mirror-local: %s\n' "$*"; }
die() {
  printf 'mirror-local: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

for v in SOURCE TARGET; do
  [[ "${!v}" =~ ^[A-Za-z0-9_-]+$ ]] || die "TAILWATCH_MIRROR_$v must be a plain alias ([A-Za-z0-9_-]), got '${!v}'"
done
[[ "$SOURCE" != "$TARGET" ]] || die "source and target aliases must differ"
[[ "$PARTITIONS" =~ ^[1-9][0-9]*$ ]] || die "TAILWATCH_MIRROR_PARTITIONS must be a positive number"

# ---------------------------------------------------------------------------------------------
# Installation (Maven Central -> $LIBS), as in kafka-local.sh

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

jars_up_to_date() {
  [[ -f "$POM_HASH_FILE" ]] || return 1
  [[ "$(cat "$POM_HASH_FILE")" == "$(pom_hash)" ]] || return 1
  compgen -G "$LIBS/connect-mirror-[0-9]*.jar" >/dev/null
}

ensure_jars() {
  if jars_up_to_date; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch the MirrorMaker jars)"
  say "fetching MirrorMaker jars with Maven (scripts/mirror/pom.xml) into $LIBS ..."
  local tmp="$MIRROR_HOME/libs.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$MIRROR_HOME"
  local mvn_log="$MIRROR_HOME/maven.log"
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    tail -n 40 "$mvn_log" >&2
    die "Maven could not fetch the MirrorMaker jars (full output in $mvn_log)"
  fi
  compgen -G "$tmp/connect-mirror-[0-9]*.jar" >/dev/null || {
    rm -rf "$tmp"
    die "Maven ran but no connect-mirror jar was copied"
  }
  pom_hash >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  say "jars cached ($(find "$LIBS" -name '*.jar' | wc -l) jars)"
}

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka 4 needs Java 17+; set JAVA_HOME)"
  local v major
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${v%%.*}"
  [[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
  if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 17)); then
    die "Kafka 4 needs Java 17 or newer, $JAVA is $v"
  fi
}

# Run a class or a single-file program from the cached jars (quiet logging to stderr, small heap).
TOOL_JVM=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
run_class() {
  "$JAVA" "${TOOL_JVM[@]}" -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" "$@"
}

probe() { run_class "$PROBE" "$@"; }

# ---------------------------------------------------------------------------------------------
# Configuration

write_config() {
  mkdir -p "$CONFIG_DIR" "$LOG_DIR"
  # Java .properties: a backslash escapes the next character, so the regex's backslashes double.
  local topics_prop="${TOPICS//\\/\\\\}"
  cat >"$MM2_PROPS" <<EOF
# Written by scripts/mirror-local.sh on every start; edits here are overwritten.
# MirrorMaker 2 dedicated mode, one-way $SOURCE -> $TARGET, for local development and tests.
clusters = $SOURCE, $TARGET
$SOURCE.bootstrap.servers = $SOURCE_BROKERS
$TARGET.bootstrap.servers = $TARGET_BROKERS

$SOURCE->$TARGET.enabled = true
$SOURCE->$TARGET.topics = $topics_prop
$TARGET->$SOURCE.enabled = false
# DefaultReplicationPolicy: remote topics are named $SOURCE.<topic> on $TARGET.
replication.policy.class = org.apache.kafka.connect.mirror.DefaultReplicationPolicy

# Our producers are transactional: mirror committed records only. MirrorMakerConfig turns
# <source>.consumer.* into the connector's source.consumer.*, which MirrorSourceTask's consumer
# uses (MirrorConnectorConfig.sourceConsumerConfig).
$SOURCE.consumer.isolation.level = read_committed

# Only the records: no heartbeats (which would also start a $TARGET->$SOURCE herder), no
# consumer-group checkpoints, no offset syncs (only checkpoints use them), no ACL sync (the
# local brokers have no authorizer).
emit.heartbeats.enabled = false
emit.checkpoints.enabled = false
sync.group.offsets.enabled = false
emit.offset-syncs.enabled = false
sync.topic.acls.enabled = false

# Remote topics get the source topic's partition count and non-default configs
# (cleanup.policy=compact stays compact); re-synced every 10 s.
sync.topic.configs.enabled = true
sync.topic.configs.interval.seconds = 10
# Pick up new source topics and partitions quickly.
refresh.topics.enabled = true
refresh.topics.interval.seconds = 2
tasks.max = 1

# One-node clusters: replication factor 1 for every topic MirrorMaker creates. (No
# offset-syncs.* setting: with emit.offset-syncs.enabled=false MirrorSourceConnector rejects any.)
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
config.storage.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
offset.storage.partitions = 1
status.storage.partitions = 1

# Find the connectors through their ServiceLoader manifests instead of scanning every class on
# the classpath (the default hybrid_warn scan costs seconds of CPU and, with a small heap, ends
# in OutOfMemoryError). Top level: MirrorMaker's own plugin loader; $TARGET.: the flow's worker.
plugin.discovery = service_load
$TARGET.plugin.discovery = service_load

# Connect worker of the $SOURCE->$TARGET flow (its group lives on $TARGET): commit source
# offsets every 5 s (fewer duplicates after a restart) and hand out the tasks of a worker that
# died at once instead of waiting 5 minutes for it to come back. Delivery is at least once: after
# a kill, records since the last offset commit are mirrored again.
$TARGET.offset.flush.interval.ms = 5000
$TARGET.scheduled.rebalance.max.delay.ms = 0
# A worker killed with SIGKILL stays in the group until its session times out: keep that at
# the broker's minimum (6 s) so a restart after a kill is ready in about 10 s, not 15.
$TARGET.session.timeout.ms = 6000
$TARGET.heartbeat.interval.ms = 2000
EOF
  if [[ -n "$EXTRA_PROPS" ]]; then
    printf '\n# TAILWATCH_MIRROR_EXTRA_PROPS\n%s\n' "$EXTRA_PROPS" >>"$MM2_PROPS"
  fi

  # MirrorMaker log: info to stdout (start() sends it to logs/mirror.log), without the long
  # "XxxConfig values:" dumps of every client it creates.
  cat >"$MM2_LOG4J" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = warn
logger.reflections.name = org.reflections
logger.reflections.level = error
EOF

  cat >"$TOOLS_LOG4J" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Topic names to create on the source before starting (TAILWATCH_MIRROR_CREATE_TOPICS).
topics_to_create() {
  case "$CREATE_TOPICS" in
    "" | 0) ;;
    1) echo "$CHECK_TOPIC" ;;
    *) tr ',' '\n' <<<"$CREATE_TOPICS" | sed 's/^ *//; s/ *$//' | grep -v '^$' || true ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Process state

live_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: the process must be our MirrorMaker.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$MAIN_CLASS $MM2_PROPS" || return 1
  fi
  echo "$pid"
}

clear_stale_pid() {
  if [[ -f "$PID_FILE" ]] && ! live_pid >/dev/null; then
    say "removing stale pid file $PID_FILE"
    rm -f "$PID_FILE"
  fi
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null
}

show_log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    echo "----- last 40 lines of $LOG_FILE -----" >&2
    tail -n 40 "$LOG_FILE" >&2
    echo "-----" >&2
  fi
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_start() {
  mkdir -p "$MIRROR_HOME"
  local pid
  if pid="$(live_pid)"; then
    say "already running (pid $pid), $SOURCE ($(sed -n "s/^$SOURCE.bootstrap.servers = //p" "$MM2_PROPS")) -> $TARGET ($(sed -n "s/^$TARGET.bootstrap.servers = //p" "$MM2_PROPS")); run '$0 stop' first to change its settings"
    return 0
  fi
  clear_stale_pid
  check_java
  ensure_jars
  write_config
  local b
  for b in "$SOURCE_BROKERS" "$TARGET_BROKERS"; do
    port_open "${b%%,*}" || die "no broker answers on ${b%%,*} (start it with scripts/kafka-local.sh)"
  done
  local t
  while read -r t; do
    [[ -n "$t" ]] || continue
    say "source topic $t: $(probe create "$SOURCE_BROKERS" "$t" "$PARTITIONS")"
  done < <(topics_to_create)

  if [[ -s "$LOG_FILE" ]]; then
    mv -f "$LOG_FILE" "$LOG_FILE.prev"
  fi
  local since t0
  since="$(date +%s%3N)"
  t0="$since"
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  # shellcheck disable=SC2086 # HEAP_OPTS is a list of JVM flags
  "${detach[@]}" nohup "$JAVA" $HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$MM2_LOG4J" \
    -cp "$LIBS/*" "$MAIN_CLASS" "$MM2_PROPS" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  say "started MirrorMaker (pid $pid), $SOURCE ($SOURCE_BROKERS) -> $TARGET ($TARGET_BROKERS), topics /$TOPICS/, log $LOG_FILE; waiting until it replicates"

  # The probe waits for the connector (and its tasks, when a source topic exists); watch the
  # process meanwhile so a MirrorMaker that dies does not cost the whole timeout.
  # (exec: $! is the probe's JVM itself, so killing it leaves nothing behind holding our stdout.)
  (exec "$JAVA" "${TOOL_JVM[@]}" -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" "$PROBE" \
    ready "$SOURCE_BROKERS" "$TARGET_BROKERS" "$SOURCE" "$TOPICS" "$SOURCE" "$since" "$START_TIMEOUT") \
    2> >(sed 's/^/mirror-local: /' >&2) &
  local probe_pid=$!
  while kill -0 "$probe_pid" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      kill "$probe_pid" 2>/dev/null || true
      wait "$probe_pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      show_log_tail
      die "MirrorMaker exited during startup"
    fi
    sleep 0.2
  done
  if wait "$probe_pid"; then
    say "ready after $((($(date +%s%3N) - t0))) ms (pid $pid)"
    return 0
  fi
  show_log_tail
  die "MirrorMaker (pid $pid) did not get ready within ${START_TIMEOUT}s; it is left running, see $LOG_FILE or run '$0 stop'"
}

cmd_stop() {
  local pid
  if ! pid="$(live_pid)"; then
    clear_stale_pid
    say "not running"
    return 0
  fi
  say "stopping MirrorMaker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still alive after 20 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if ! pid="$(live_pid)"; then
    clear_stale_pid
    say "stopped"
    return 3
  fi
  say "running (pid $pid): $(grep -c 'replicating .* topic-partitions' "$LOG_FILE" 2>/dev/null || echo 0) task start(s) in $LOG_FILE"
  return 0
}

need_jars() {
  jars_up_to_date || die "jars not installed yet; run '$0 start' first"
  [[ -f "$TOOLS_LOG4J" ]] || write_config
}

cmd_check() {
  local samples="${1:-5}"
  [[ "$samples" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 check [SAMPLES]"
  need_jars
  live_pid >/dev/null || say "warning: no MirrorMaker of $MIRROR_HOME is running; the check relies on one running elsewhere"
  probe check "$SOURCE_BROKERS" "$TARGET_BROKERS" "$CHECK_TOPIC" "$SOURCE.$CHECK_TOPIC" "$CHECK_KEY" \
    "$PARTITIONS" "$CHECK_TIMEOUT" "$samples"
}

cmd_check_txn() {
  need_jars
  probe txn "$SOURCE_BROKERS" "$TARGET_BROKERS" "$CHECK_TOPIC" "$SOURCE.$CHECK_TOPIC" "$CHECK_KEY" \
    "$PARTITIONS" "$CHECK_TIMEOUT"
}

cmd_run() {
  (($# >= 1)) || die "usage: $0 run CLASS|FILE.java [ARGS...]"
  need_jars
  run_class "$@"
}

with_lock() {
  mkdir -p "$MIRROR_HOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$MIRROR_HOME/.lock"
    flock -w 180 9 || die "another mirror-local.sh is busy with $MIRROR_HOME"
  fi
  "$@"
}

main() {
  local cmd="${1:-}"
  (($# > 0)) && shift
  case "$cmd" in
    start) with_lock cmd_start ;;
    stop) with_lock cmd_stop ;;
    status) cmd_status ;;
    check) cmd_check "$@" ;;
    check-txn) cmd_check_txn ;;
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
