#!/usr/bin/env bash
# The scorer from the real broker (issue 20, goal 4), each figure beside its baseline from the
# same run:
#  - one `leadstream-scorer` process consuming a topic of $EVENTS records ($PEOPLE people) from
#    tansu and storing into ClickHouse: events per second from its first applied event until
#    ClickHouse holds every event, against a bare rdkafka consumer that only drains the same
#    topic (`scorer-broker drain`, run before and after the scorer; the median of those runs);
#  - its ClickHouse writes (rows over the summed time of its store writes,
#    `leadstream_scorer_flush_duration_seconds`) against the same rows inserted directly with the
#    clickhouse crate's Inserter in RowBinary (`scorer-broker reinsert`).
# Uses the broker and ClickHouse of scripts/services.sh (tansu's SQLite engine, the
# engine the scorer is tested on) unless LEADSTREAM_TEST_KAFKA / LEADSTREAM_TEST_CLICKHOUSE say
# otherwise. Loopback only; bounded by $EVENTS and, for each wait, $WAIT_SECS.
# SCORER_LOG sets the scorer's log level; KEEP_LOG=<file> keeps its log.
# Prints a Markdown table for benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-300000}
PEOPLE=${PEOPLE:-30000}
DRAINS=${DRAINS:-3}
WAIT_SECS=${WAIT_SECS:-600}
CH=${LEADSTREAM_TEST_CLICKHOUSE:-http://127.0.0.1:8123}
BROKER=${LEADSTREAM_TEST_KAFKA:-$(bash scripts/services.sh)}
cargo build --release -q -p leadstream-scorer -p leadstream-benches \
  --bin leadstream-scorer --bin scorer-broker
BIN=${CARGO_TARGET_DIR:-target}/release
SCORER_BIN=${SCORER_BIN:-$BIN/leadstream-scorer} # another build, for before/after runs
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_LOG:-}" ] && [ -f "$WORK/scorer.log" ]; then cp "$WORK/scorer.log" "$KEEP_LOG"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
metric() { # port name: the value of an unlabelled metric
  curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="$2" '$1 == n {print $2; exit}'
}
ch() { curl -fsS "$CH/" --data-binary "$1"; }

RUN=$RANDOM$RANDOM
TOPIC="scorer_bench_$RUN"
DB="scorer_bench_$RUN"
"$BIN/scorer-broker" fill "$BROKER" "$TOPIC" "$EVENTS" "$PEOPLE" >"$WORK/fill.out"
DRAIN=()
drain() { DRAIN+=("$("$BIN/scorer-broker" drain "$BROKER" "$TOPIC" "$EVENTS" | awk -F= '/events_per_second/ {print $2}')"); }
for _ in $(seq 1 $(( (DRAINS + 1) / 2 ))); do drain; done

cat > "$WORK/scorer.toml" <<TOML
mode = "distributed"
data_dir = "$WORK/data"
[kafka]
brokers = "$BROKER"
events_topic = "$TOPIC"
consumer_group = "scorer_$RUN"
partitions = 6
[clickhouse]
url = "$CH"
database = "$DB"
[scorer]
listen = "127.0.0.1:18095"
handoff_topic = "${TOPIC}_handoffs"
dead_letter_topic = "${TOPIC}_dead"
[[workspaces]]
name = "acme"
write_keys = ["wk_scorer_bench"]
TOML
RUST_LOG=${SCORER_LOG:-warn} "$SCORER_BIN" --config "$WORK/scorer.toml" >"$WORK/scorer.log" 2>&1 & PIDS+=($!)
first= stored=0
deadline=$(( $(date +%s) + WAIT_SECS ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  applied=$(metric 18095 leadstream_scorer_events_total || true)
  if [ -z "$first" ] && [ "${applied:-0}" != 0 ]; then first=$(now); fi
  if [ -n "$first" ]; then
    stored=$(ch "SELECT count() FROM $DB.events" 2>/dev/null || echo 0)
    [ "$stored" -ge "$EVENTS" ] && break
  fi
  sleep 0.2
done
last=$(now)
[ "$stored" -ge "$EVENTS" ] || { echo "the scorer stored $stored of $EVENTS events in $WAIT_SECS s" >&2; grep -v REQTMOUT "$WORK/scorer.log" | tail -40 >&2; exit 1; }
flush_sum=$(metric 18095 leadstream_scorer_flush_duration_seconds_sum)
flushes=$(metric 18095 leadstream_scorer_flush_duration_seconds_count)
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
for _ in $(seq 1 $(( DRAINS / 2 ))); do drain; done

"$BIN/scorer-broker" reinsert "$CH" "$DB" "${DB}_bare" >"$WORK/reinsert.out"
rows=$(awk -F= '/^rows=/ {print $2}' "$WORK/reinsert.out")
bare_s=$(awk -F= '/^insert_seconds=/ {print $2}' "$WORK/reinsert.out")
ch "DROP DATABASE IF EXISTS ${DB}_bare" >/dev/null

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
drain_med=$(median "${DRAIN[@]}")
awk -v n="$EVENTS" -v a="$first" -v b="$last" -v d="$drain_med" -v ds="${DRAIN[*]}" \
    -v rows="$rows" -v fs="$flush_sum" -v fl="$flushes" -v bs="$bare_s" -v people="$PEOPLE" '
BEGIN {
  eps = n / (b - a)
  printf "| what | events/s or rows/s | baseline | ratio (goal) |\n|---|---|---|---|\n"
  printf "| one scorer, tansu → ClickHouse (%d events, %d people) | %.0f events/s | %.0f events/s (bare consumer, drains: %s) | %.2f (0.5) |\n", n, people, eps, d, ds, eps / d
  printf "| its ClickHouse writes (%d rows in %d flushes) | %.0f rows/s (%.2f s writing) | %.0f rows/s (bare Inserter, %.2f s) | %.2f (0.7) |\n", rows, fl, rows / fs, fs, rows / bs, bs, (rows / fs) / (rows / bs)
}'
