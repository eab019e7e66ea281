#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x (KRaft, combined broker+controller) for
# development and integration tests of tailwatch.
#
#   scripts/kafka-local.sh start    install (first time), format (first time), start, wait until ready
#   scripts/kafka-local.sh stop     SIGTERM, wait up to 20 s, then SIGKILL
#   scripts/kafka-local.sh status   exit 0 running and answering, 1 running but not answering, 3 stopped
#   scripts/kafka-local.sh run CLASS|FILE.java [ARGS...]
#                                   run a Kafka tool class, or a single-file Java program (Java 17
#                                   source launch), with the cached jars on the classpath, e.g.
#                                   run org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#                                   run scripts/kafka/CompressedProducer.java 127.0.0.1:9092 zstd < records.tsv
#
# The broker comes from Maven Central (scripts/kafka/pom.xml -> `mvn dependency:copy-dependencies`),
# not from the Apache tarball. The jars include kafka-clients with its codec libraries
# (snappy-java, lz4-java, zstd-jni), so the tests produce compressed batches with the Java client.
# Everything lives in the cache folder:
#   $TAILWATCH_KAFKA_HOME (default <repo>/.kafka)
#     libs/        jars (+ libs/.pom.sha256; Maven runs again only when the pom changes)
#     config/      server.properties, log4j2 configs (rewritten on every start)
#     data/        KRaft metadata + topic data (formatted once; delete the folder to reset)
#     logs/        server.log (broker), server.log.prev (previous run)
#     kafka.pid
#
# Environment:
#   TAILWATCH_KAFKA_HOME           cache folder (default <repo>/.kafka)
#   TAILWATCH_KAFKA_PORT           client port (default 9092); the controller uses port+1
#   TAILWATCH_KAFKA_LIBS           jar folder (default $TAILWATCH_KAFKA_HOME/libs); a second broker
#                                  (another HOME and PORT) can use the first one's, e.g. <repo>/.kafka/libs,
#                                  to fetch the jars once (fetch them with one broker before starting two)
#   TAILWATCH_KAFKA_START_TIMEOUT  seconds to wait for readiness (default 60)
#   TAILWATCH_KAFKA_HEAP_OPTS      broker heap (default "-Xms256m -Xmx512m")
#   JAVA_HOME                      Java 17+ to use (default: `java` on PATH)
#
# Broker settings are for one node: replication factor 1 everywhere (so transactions and
# exactly-once work), auto.create.topics.enable=false, and it binds to 127.0.0.1 only.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KAFKA_HOME="${TAILWATCH_KAFKA_HOME:-$REPO_ROOT/.kafka}"
PORT="${TAILWATCH_KAFKA_PORT:-9092}"
START_TIMEOUT="${TAILWATCH_KAFKA_START_TIMEOUT:-60}"
HEAP_OPTS="${TAILWATCH_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
HOST=127.0.0.1

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65534)); then
  echo "kafka-local: TAILWATCH_KAFKA_PORT must be a port number below 65535, got '$PORT'" >&2
  exit 2
fi
CONTROLLER_PORT=$((PORT + 1))
BOOTSTRAP="$HOST:$PORT"

LIBS="${TAILWATCH_KAFKA_LIBS:-$KAFKA_HOME/libs}"
CONFIG_DIR="$KAFKA_HOME/config"
DATA_DIR="$KAFKA_HOME/data"
LOG_DIR="$KAFKA_HOME/logs"
LOG_FILE="$LOG_DIR/server.log"
PID_FILE="$KAFKA_HOME/kafka.pid"
SERVER_PROPS="$CONFIG_DIR/server.properties"
BROKER_LOG4J="$CONFIG_DIR/log4j2.properties"
TOOLS_LOG4J="$CONFIG_DIR/tools-log4j2.properties"
POM_HASH_FILE="$LIBS/.pom.sha256"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

say() { printf 'kafka-local: %s\n' "$*"; }
die() {
  printf 'kafka-local: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# Installation (Maven Central -> $LIBS)

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

jars_up_to_date() {
  [[ -f "$POM_HASH_FILE" ]] || return 1
  [[ "$(cat "$POM_HASH_FILE")" == "$(pom_hash)" ]] || return 1
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null
}

ensure_jars() {
  if jars_up_to_date; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch the Kafka jars)"
  say "fetching Kafka jars with Maven (scripts/kafka/pom.xml) into $LIBS ..."
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME" "$(dirname "$LIBS")"
  local mvn_log="$KAFKA_HOME/maven.log"
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    tail -n 40 "$mvn_log" >&2
    die "Maven could not fetch the Kafka jars (full output in $mvn_log)"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || {
    rm -rf "$tmp"
    die "Maven ran but no kafka_2.13 jar was copied"
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

# Run a class from the cached jars (tools: quiet logging to stderr, small heap).
run_class() {
  local class="$1"
  shift
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J" \
    -cp "$LIBS/*" "$class" "$@"
}

# ---------------------------------------------------------------------------------------------
# Configuration

write_config() {
  mkdir -p "$CONFIG_DIR" "$DATA_DIR" "$LOG_DIR"
  cat >"$SERVER_PROPS" <<EOF
# Written by scripts/kafka-local.sh on every start; edits here are overwritten.
# Single-node KRaft (combined broker + controller) for local development and tests.
process.roles=broker,controller
node.id=1
# Static quorum of one voter (KIP-853 dynamic quorums would pin the controller port at format time).
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT

listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER

log.dirs=$DATA_DIR

# One node: every internal topic must have replication factor 1, or transactions,
# consumer groups and exactly-once never get their coordinators.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true

# Recordings replay old event times as record timestamps: a development broker must never
# delete them by age.
log.retention.ms=-1
log.retention.check.interval.ms=10000
log.segment.bytes=104857600

# Modest footprint on a small machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF

  # Broker log: everything to stdout, which start() sends to logs/server.log.
  cat >"$BROKER_LOG4J" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.apache.name = org.apache.kafka
logger.apache.level = info
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF

  # Tools: warnings and errors only, on stderr.
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

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id="$(run_class kafka.tools.StorageTool random-uuid | tail -n1)"
  [[ -n "$cluster_id" ]] || die "could not generate a cluster id"
  say "formatting storage in $DATA_DIR (cluster id $cluster_id)"
  run_class kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$SERVER_PROPS" \
    --ignore-formatted >/dev/null ||
    die "kafka.tools.StorageTool format failed"
}

# ---------------------------------------------------------------------------------------------
# Process state

# Prints the pid when the pid file names a live Kafka broker of this cache folder.
live_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: the process must be our broker.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $SERVER_PROPS" || return 1
  fi
  echo "$pid"
}

clear_stale_pid() {
  if [[ -f "$PID_FILE" ]] && ! live_pid >/dev/null; then
    say "removing stale pid file $PID_FILE"
    rm -f "$PID_FILE"
  fi
}

# Client port the running broker was started with (from the server.properties it was given).
running_port() {
  sed -n "s#^listeners=PLAINTEXT://[^:]*:\([0-9]*\),.*#\1#p" "$SERVER_PROPS" 2>/dev/null | head -n1
}

# Point PORT/BOOTSTRAP at the running broker; warn when the caller asked for another port.
use_running_port() {
  local rp
  rp="$(running_port)"
  if [[ -n "$rp" && "$rp" != "$PORT" ]]; then
    say "note: the running broker listens on $HOST:$rp, not on the requested port $PORT"
    PORT="$rp"
    BOOTSTRAP="$HOST:$PORT"
  fi
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# True once the broker answers an ApiVersions request on the client listener.
broker_ready() {
  port_open "$PORT" || return 1
  timeout 20 "$JAVA" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$BOOTSTRAP" 2>/dev/null |
    grep -q "^$HOST:$PORT (id: 1"
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
  mkdir -p "$KAFKA_HOME"
  local pid
  if pid="$(live_pid)"; then
    local requested="$PORT"
    use_running_port
    if [[ "$PORT" != "$requested" ]]; then
      die "already running (pid $pid) on $BOOTSTRAP; run '$0 stop' first to move it to port $requested"
    fi
    if [[ -d "$LIBS" ]] && broker_ready; then
      say "already running (pid $pid) on $BOOTSTRAP"
      return 0
    fi
    say "broker process $pid exists but is not answering yet; waiting"
  else
    clear_stale_pid
    check_java
    ensure_jars
    write_config
    format_storage
    local p
    for p in "$PORT" "$CONTROLLER_PORT"; do
      if port_open "$p"; then
        die "port $HOST:$p is already in use by another process (set TAILWATCH_KAFKA_PORT)"
      fi
    done
    if [[ -s "$LOG_FILE" ]]; then
      mv -f "$LOG_FILE" "$LOG_FILE.prev"
    fi
    local detach=()
    command -v setsid >/dev/null 2>&1 && detach=(setsid)
    # shellcheck disable=SC2086 # HEAP_OPTS is a list of JVM flags
    "${detach[@]}" nohup "$JAVA" $HEAP_OPTS \
      -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$BROKER_LOG4J" \
      -cp "$LIBS/*" kafka.Kafka "$SERVER_PROPS" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    say "started broker (pid $pid), log $LOG_FILE; waiting for it to accept requests on $BOOTSTRAP"
  fi

  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      show_log_tail
      die "broker exited during startup"
    fi
    if broker_ready; then
      say "ready on $BOOTSTRAP (pid $pid)"
      return 0
    fi
    sleep 1
  done
  show_log_tail
  die "broker (pid $pid) did not accept requests within ${START_TIMEOUT}s; it is left running, see $LOG_FILE or run '$0 stop'"
}

cmd_stop() {
  local pid
  if ! pid="$(live_pid)"; then
    clear_stale_pid
    say "not running"
    return 0
  fi
  say "stopping broker (pid $pid)"
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
  use_running_port
  if [[ -d "$LIBS" ]] && broker_ready; then
    say "running (pid $pid) on $BOOTSTRAP"
    return 0
  fi
  say "running (pid $pid) but not accepting requests on $BOOTSTRAP"
  return 1
}

cmd_run() {
  (($# >= 1)) || die "usage: $0 run CLASS [ARGS...]"
  jars_up_to_date || die "jars not installed yet; run '$0 start' first"
  [[ -f "$TOOLS_LOG4J" ]] || write_config
  run_class "$@"
}

with_lock() {
  mkdir -p "$KAFKA_HOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$KAFKA_HOME/.lock"
    flock -w 180 9 || die "another kafka-local.sh is busy with $KAFKA_HOME"
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
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
