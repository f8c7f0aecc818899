#!/usr/bin/env bash
# Event-to-visible-score latency (issue 20, goal 4): from the collector's acknowledgement of an
# event until `GET /v1/profiles/{id}` on the query API shows it, under a steady load.
#  - embedded: the all-in-one `leadstream serve` (as a newcomer runs it);
#  - distributed (DISTRIBUTED=1, the default): `leadstream-ingest`, `leadstream-scorer` and
#    `leadstream-query-api` as three processes on tansu and ClickHouse (scripts/services.sh's,
#    unless LEADSTREAM_TEST_KAFKA / LEADSTREAM_TEST_CLICKHOUSE say otherwise).
# For each: the burst rate first (`score-latency … 0`: batches back to back for $MAX_SECS, until
# the store has absorbed them: the collector takes the cores first and the scorer catches up in
# large flushes afterwards, which no steady load allows); then the maximum steady rate, searched in
# $STEPS paced runs of $STEP_SECS between 0 and the burst rate (a rate is kept up when the senders
# reach 95 % of it and no probe waits $KEEP_UP_MS or more: a scorer falling behind makes every
# later probe wait longer); then probes at $RATE events/s and at half the maximum steady rate,
# $SECS each (benches/src/bin/score_latency.rs).
# LEADSTREAM_BIN / SCORER_BIN: other builds, for before/after runs. Loopback only; every run is
# bounded by its duration and by 30 s per probe.
# Prints a Markdown table for benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${RATE:-10000}
SECS=${SECS:-30}
MAX_SECS=${MAX_SECS:-20}
STEPS=${STEPS:-4}
STEP_SECS=${STEP_SECS:-15}
KEEP_UP_MS=${KEEP_UP_MS:-1000}
EMBEDDED=${EMBEDDED:-1}
DISTRIBUTED=${DISTRIBUTED:-1}
CH=${LEADSTREAM_TEST_CLICKHOUSE:-http://127.0.0.1:8123}
cargo build --release -q -p leadstream -p leadstream-ingest -p leadstream-scorer \
  -p leadstream-query-api -p leadstream-benches --bin leadstream --bin leadstream-ingest \
  --bin leadstream-scorer --bin leadstream-query-api --bin score-latency
BIN=${CARGO_TARGET_DIR:-target}/release
LEADSTREAM_BIN=${LEADSTREAM_BIN:-$BIN/leadstream}
SCORER_BIN=${SCORER_BIN:-$BIN/leadstream-scorer}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
val() { awk -F= -v k="$2" '$1 == k {print $2}' "$1"; }
ROWS=()

measure() { # label collector-port query-port
  local out=$WORK/out
  "$BIN/score-latency" "http://127.0.0.1:$2" "http://127.0.0.1:$3" wk_latency_bench lst_latency_bench 0 "$MAX_SECS" >"$out"
  local max; max=$(val "$out" sustained_events_per_second)
  echo "[latency] $1: burst $max events/s ($(val "$out" events_sent) sent, absorbed in $(val "$out" absorbed_seconds) s)" >&2
  local lo=0 hi=$max rate sent worst kept
  for _ in $(seq 1 "$STEPS"); do
    rate=$(( (lo + hi) / 2 ))
    "$BIN/score-latency" "http://127.0.0.1:$2" "http://127.0.0.1:$3" wk_latency_bench lst_latency_bench "$rate" "$STEP_SECS" >"$out"
    sent=$(val "$out" sent_events_per_second); worst=$(val "$out" max_ms)
    kept=$(awk -v r="$rate" -v s="$sent" -v w="$worst" -v k="$KEEP_UP_MS" -v n="$(val "$out" probes_not_visible)" \
      'BEGIN { print (s >= 0.95 * r && w + 0 < k && n + 0 == 0) ? 1 : 0 }')
    echo "[latency] $1: steady $rate events/s: sent $sent, slowest probe $worst ms, kept up: $kept" >&2
    if [ "$kept" = 1 ]; then lo=$rate; else hi=$rate; fi
  done
  local steady=$lo
  local half; half=$(( steady / 2 ))
  for rate in "$RATE" "$half"; do
    [ "$rate" -gt 0 ] || continue
    "$BIN/score-latency" "http://127.0.0.1:$2" "http://127.0.0.1:$3" wk_latency_bench lst_latency_bench "$rate" "$SECS" >"$out"
    ROWS+=("| $1 | $rate | $(val "$out" sent_events_per_second) | $(val "$out" probes) ($(val "$out" probes_not_visible) not visible) | $(val "$out" p50_ms) | $(val "$out" p90_ms) | $(val "$out" p99_ms) | $(val "$out" max_ms) | $steady | $max |")
    echo "[latency] ${ROWS[-1]}" >&2
  done
}

# FLUSH_MS: the scorer's flush_interval_ms (its default when unset); FETCH_WAIT_MS: librdkafka's
# fetch.wait.max.ms for the distributed scorer (its default, 500, when unset; see RESULTS.md on
# tansu's fetch).
SCORER_SECTION="[scorer]${FLUSH_MS:+
flush_interval_ms = $FLUSH_MS}"
KAFKA_PROPERTIES="${FETCH_WAIT_MS:+[kafka.properties]
\"fetch.wait.max.ms\" = \"$FETCH_WAIT_MS\"}"
WORKSPACE='[[workspaces]]
name = "bench"
write_keys = ["wk_latency_bench"]
api_tokens = ["lst_latency_bench"]'

if [ "$EMBEDDED" = 1 ]; then
  cat > "$WORK/embedded.toml" <<TOML
mode = "embedded"
data_dir = "$WORK/embedded"
[ingest]
listen = "127.0.0.1:18180"
[query]
listen = "127.0.0.1:18181"
$SCORER_SECTION
$WORKSPACE
TOML
  RUST_LOG=warn "$LEADSTREAM_BIN" serve --config "$WORK/embedded.toml" >"$WORK/embedded.log" 2>&1 & PIDS+=($!)
  wait_port 18180; wait_port 18181
  measure "embedded (all-in-one)" 18180 18181
  echo "[latency] embedded store files at the end: $(find "$WORK/embedded/store" -name '*.parquet' | wc -l)" >&2
  stop_all
fi

if [ "$DISTRIBUTED" = 1 ]; then
  KAFKA=${LEADSTREAM_TEST_KAFKA:-$(bash scripts/services.sh)}
  RUN=$RANDOM$RANDOM
  cat > "$WORK/distributed.toml" <<TOML
mode = "distributed"
data_dir = "$WORK/distributed"
[ingest]
listen = "127.0.0.1:18182"
[query]
listen = "127.0.0.1:18183"
$SCORER_SECTION
listen = "127.0.0.1:18184"
handoff_topic = "latency_${RUN}_handoffs"
dead_letter_topic = "latency_${RUN}_dead"
[kafka]
brokers = "$KAFKA"
events_topic = "latency_$RUN"
consumer_group = "latency_$RUN"
partitions = 6
[clickhouse]
url = "$CH"
database = "latency_$RUN"
$KAFKA_PROPERTIES
$WORKSPACE
TOML
  RUST_LOG=warn "$BIN/leadstream-ingest" --config "$WORK/distributed.toml" >"$WORK/ingest.log" 2>&1 & PIDS+=($!)
  RUST_LOG=warn "$SCORER_BIN" --config "$WORK/distributed.toml" >"$WORK/scorer.log" 2>&1 & PIDS+=($!)
  RUST_LOG=warn "$BIN/leadstream-query-api" --config "$WORK/distributed.toml" >"$WORK/query.log" 2>&1 & PIDS+=($!)
  wait_port 18182; wait_port 18183; wait_port 18184
  measure "distributed (tansu, ClickHouse)" 18182 18183
  stop_all
  curl -fsS "$CH/" --data-binary "DROP DATABASE IF EXISTS latency_$RUN" >/dev/null || true
fi

echo "Event to visible score: collector acknowledgement → GET /v1/profiles/{id} shows it (goal: p99 < 1 s at 10 k/s, < 200 ms at half the maximum steady rate)"
echo
echo "| target | asked events/s | sent events/s | probes | p50 ms | p90 ms | p99 ms | max ms | max steady events/s | burst absorbed events/s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "score-latency: batches of ${BATCH:-20} from ${SENDERS:-32} senders, ${PROBES:-5} probes/s polled every ${POLL_MS:-10} ms, $SECS s per rate, release build, $(nproc) cores, loopback, $(date -u +%F)."
