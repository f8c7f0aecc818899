#!/usr/bin/env bash
# Installs (only when missing) and starts, on loopback only, the real servers the
# integration tests talk to: a Kafka-API broker (tansu) on 127.0.0.1:9092 and ClickHouse
# (HTTP on 127.0.0.1:8123), and installs Chromium with its WebDriver for the console's tests.
# tansu runs on its SQLite storage engine, not `memory://`: the memory engine (dynostore,
# tansu 0.6.0) answers a fetch that starts inside a record batch with the *next* batch, so a
# consumer resuming from a committed offset in the middle of a producer's batch silently skips the
# rest of that batch (Apache Kafka returns the containing batch and the client skips the records
# below its offset). The SQLite engine stores records one by one and serves exactly from the
# requested offset. A fresh database each start: tests use their own topics, and never delete
# them, because deleting a topic on the SQLite engine (0.6.0) breaks the metadata of the others
# ("no partitions").
# Idempotent: a server that already answers is left alone, with one exception: a tansu broker
# someone else started on the memory engine (the command line in the developers' guide) is not
# used, because the exactly-once test would fail on its defect rather than on ours; our own broker
# then starts on 127.0.0.1:19092 beside it.
# Prints the Kafka address the tests are to use (scripts/test.sh exports it as
# LEADSTREAM_TEST_KAFKA); everything else goes to stderr.
set -euo pipefail

KAFKA_ADDR=${LEADSTREAM_TEST_KAFKA:-127.0.0.1:9092}
FALLBACK_KAFKA_ADDR=127.0.0.1:19092
CH_URL=${LEADSTREAM_TEST_CLICKHOUSE:-http://127.0.0.1:8123}
STATE_DIR=${LEADSTREAM_SERVICES_DIR:-/tmp/leadstream-services}
mkdir -p "$STATE_DIR"
export PATH="$HOME/.cargo/bin:$PATH"

log() { echo "[services] $*" >&2; }

port_open() { # host:port
  local host=${1%:*} port=${1##*:}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

ensure_clickhouse() {
  if curl -fsS "$CH_URL/ping" >/dev/null 2>&1; then log "clickhouse already up at $CH_URL"; return; fi
  if ! command -v clickhouse-server >/dev/null 2>&1; then
    log "installing clickhouse-server (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
  fi
  log "starting clickhouse-server"
  mkdir -p /var/lib/clickhouse /var/log/clickhouse-server
  # The whole subshell's output goes to the file (not only the server's): this script's stdout
  # is read by scripts/test.sh and must close when the script ends.
  (cd /var/lib/clickhouse && exec nohup clickhouse-server \
      --config-file=/etc/clickhouse-server/config.xml) </dev/null >"$STATE_DIR/clickhouse.out" 2>&1 &
  for _ in $(seq 1 120); do
    curl -fsS "$CH_URL/ping" >/dev/null 2>&1 && { log "clickhouse up"; return; }
    sleep 0.5
  done
  log "clickhouse did not come up; last output:"; tail -20 "$STATE_DIR/clickhouse.out" >&2; exit 1
}

# Is the broker answering on host:port a tansu on the memory engine? (By its command line.)
memory_tansu_on() {
  local port=${1##*:}
  ps -eo args= | grep -E '(^|/)tansu( |$).*broker' | grep -E -- ":$port( |/|$)" \
    | grep -qF 'memory://'
}

# The broker the tests use: LEADSTREAM_TEST_KAFKA or 9092, unless 9092 is held by a tansu on the
# memory engine; then ours on the fallback address.
choose_kafka() {
  if [ -z "${LEADSTREAM_TEST_KAFKA:-}" ] && port_open "$KAFKA_ADDR" && memory_tansu_on "$KAFKA_ADDR"; then
    log "the broker at $KAFKA_ADDR is tansu on the memory engine, which skips records when a" \
        "consumer resumes inside a batch; using our own (sqlite) at $FALLBACK_KAFKA_ADDR"
    KAFKA_ADDR=$FALLBACK_KAFKA_ADDR
    STATE_DIR="$STATE_DIR/fallback"
    mkdir -p "$STATE_DIR"
  fi
}

ensure_tansu() {
  if port_open "$KAFKA_ADDR"; then log "kafka api already up at $KAFKA_ADDR"; return; fi
  if ! command -v tansu >/dev/null 2>&1; then
    log "installing tansu from crates.io (takes ~8 minutes on 2 cores)"
    cargo install tansu --features dynostore,libsql
  fi
  log "starting tansu broker (sqlite storage under $STATE_DIR)"
  rm -f "$STATE_DIR"/tansu.db*
  (cd "$STATE_DIR" && exec nohup tansu broker --listener-url "tcp://$KAFKA_ADDR" \
      --advertised-listener-url "tcp://$KAFKA_ADDR" \
      --storage-engine sqlite://tansu.db) </dev/null >"$STATE_DIR/tansu.out" 2>&1 &
  for _ in $(seq 1 120); do
    port_open "$KAFKA_ADDR" && { log "tansu up"; return; }
    sleep 0.5
  done
  log "tansu did not come up; last output:"; tail -20 "$STATE_DIR/tansu.out" >&2; exit 1
}

# A browser for the console's tests (leadstream/tests/console.rs drives it over WebDriver).
ensure_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    log "chromium and chromedriver present"; return
  fi
  log "installing chromium and chromium-driver (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
}

# Installers may print to stdout; only the address goes there.
ensure_browser >&2
ensure_clickhouse >&2
choose_kafka >&2
ensure_tansu >&2
echo "$KAFKA_ADDR"
