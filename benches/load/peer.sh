#!/usr/bin/env bash
# leadstream's distributed collector beside PostHog's Rust collector ("capture", the peer in
# $PEER_DIR, default ../shared/peers/posthog-capture), the same broker, the same wrk settings and
# the same event content (a ~1 KB page view: posthog-js's `$pageview` for capture, analytics.js's
# `page` call for leadstream, benches/load/page.lua), the same number of events per request:
#  - single events at each of $CONNECTIONS, one event per request;
#  - 100-event batches at $BATCH_CONNECTIONS.
# Each row: events/s (wrk), p99 latency (wrk --latency), and CPU per event: the collector
# process's CPU seconds (utime + stime from /proc/<pid>/stat) over the run, divided by the
# events the run sent. Both collectors answer only after the broker acknowledged every event
# (capture: acks=all, no idempotence; leadstream: idempotent producer, acks=all, lz4).
# capture runs twice per load: with leadstream's linger.ms (5) and with its own default (20).
# Brokers: tansu on its memory engine (a produce-only benchmark; started here on 127.0.0.1:29092,
# stopped at the end) and, unless SQLITE=0, the SQLite-engine tansu that scripts/services.sh runs.
# Each collector gets a fresh process and a fresh 6-partition topic for each load.
# Beside them, the limit of any librdkafka collector at that concurrency: `log-baseline`, a bare
# rdkafka producer with leadstream's producer settings and as many writers as wrk has
# connections, each handing over one event (or 100) of the page view's size and waiting until the
# broker acknowledged it, with its own CPU per event. And for single events, the least an HTTP
# collector with that producer does: `baseline-server <addr> kafka …`, a trivial axum endpoint that
# sends the body as one message and answers once the broker confirmed it (no parsing, validation or
# enrichment), under the same wrk load: the ceiling of the collector's own design on this machine.
# LINGER_MS and COMPRESSION, when set, change leadstream's producer (benches/load/measure.sh), not
# the bare producer's or capture's.
# Loopback only; every wrk run is bounded by $DURATION. Prints a Markdown table.
# Called by run.sh; runs alone too (`bash benches/load/peer.sh`).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-"32 256"}
BATCH_CONNECTIONS=${BATCH_CONNECTIONS:-8}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
SQLITE=${SQLITE:-1}
PEER_DIR=${PEER_DIR:-${LEADSTREAM_SHARED:-../shared}/peers/posthog-capture}
PEER_DIR=$(cd "$PEER_DIR" && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p leadstream-ingest -p leadstream-benches --bin leadstream-ingest \
    --bin log-baseline --bin baseline-server
fi
BIN=${CARGO_TARGET_DIR:-target}/release
MEMORY_KAFKA=127.0.0.1:29092

# start_scratch, wait_port, start_memory_tansu, run_wrk, measured, leadstream_run.
source benches/load/measure.sh
start_scratch

capture_run() { # broker conns per_request linger
  local topic="peer_ph_$RANDOM$RANDOM" pid cpid script
  tansu topic create --broker "tcp://$1" --partitions 6 "$topic" >/dev/null
  script=$PEER_DIR/single.lua
  [ "$3" -gt 1 ] && script=$PEER_DIR/batch.lua
  KAFKA_TOPIC=$topic KAFKA_PRODUCER_LINGER_MS=$4 CAPTURE_ADDRESS=127.0.0.1:18300 \
    CAPTURE_STATE_DIR=$WORK "$PEER_DIR/run.sh" "$1" >"$WORK/capture.log" 2>&1 & pid=$!
  PIDS+=("$pid")
  wait_port 18300
  cpid=$(pgrep -P "$pid" -x capture)
  # One request first, as leadstream gets: the producer's start and the topic's metadata are not
  # in the run.
  curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    -d '{"api_key":"phc_bench0000000000000000000000000000000000000","event":"$pageview","distinct_id":"warm-up","properties":{}}' \
    http://127.0.0.1:18300/i/v0/e
  # batch.lua sets its own path and size; single.lua one event per request.
  measured 18300 "$cpid" "$script" "$2" 1 | awk -v per="$3" '{ printf "%d %s %.1f %s\n", $1 * per, $2, $3 / per, $4 }'
  stop "$pid"
}

LOG_EVENTS_SINGLE=${LOG_EVENTS_SINGLE:-40000}
LOG_EVENTS_BATCH=${LOG_EVENTS_BATCH:-300000}
bare_run() { # broker events per_request writers -> "events/s cpu_us_per_event"
  local topic="peer_bare_$RANDOM$RANDOM"
  tansu topic create --broker "tcp://$1" --partitions 6 "$topic" >/dev/null
  LOG_BASELINE_EVENT_BYTES=1245 "$BIN/log-baseline" kafka "$1" "$topic" "$2" "$3" "$4" |
    awk -F= '/events_per_second/ { e = $2 } /cpu_us_per_event/ { c = $2 } END { print e " " c }'
}

# The trivial endpoint with the collector's producer: "events/s cpu_us_per_event p99_ms".
minimal_run() { # broker conns
  local topic="peer_min_$RANDOM$RANDOM" pid
  "$BIN/baseline-server" 127.0.0.1:18093 kafka "$1" "$topic" >"$WORK/minimal.log" 2>&1 & pid=$!
  PIDS+=("$pid")
  wait_port 18093
  curl -fsS -o /dev/null -d '{}' http://127.0.0.1:18093/v1/page
  measured 18093 "$pid" benches/load/page.lua "$2" 1 | awk '{ print $1 " " $3 " " $2 }'
  stop "$pid"
}

ROWS=()
# $1 events/s as a multiple of the better of capture's two ($2, $3).
vs_capture() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { m = (b > c ? b : c); printf "%.2f×", a / m }'; }
row() { # broker_label load_label ls c5 c20 bare [minimal]
  read -r ls_eps ls_p99 ls_cpu ls_bad <<<"$3"
  read -r c5_eps c5_p99 c5_cpu c5_bad <<<"$4"
  read -r c20_eps c20_p99 c20_cpu c20_bad <<<"$5"
  local ratio bad=""
  ratio=$(vs_capture "$ls_eps" "$c5_eps" "$c20_eps")
  [ "$ls_bad$c5_bad$c20_bad" != 000 ] && bad=" (non-2xx: $ls_bad / $c5_bad / $c20_bad)"
  read -r bare_eps bare_cpu <<<"$6"
  local minimal="—"
  if [ -n "${7:-}" ]; then
    read -r min_eps min_cpu min_p99 <<<"$7"
    minimal="$min_eps / $min_cpu / $min_p99 ($(vs_capture "$min_eps" "$c5_eps" "$c20_eps"))"
  fi
  ROWS+=("| $1 | $2 | $ls_eps | $c5_eps / $c20_eps | $ratio | $ls_cpu / $c5_cpu / $c20_cpu | $ls_p99 / $c5_p99 / $c20_p99 | $bare_eps / $bare_cpu | $minimal |$bad")
}

brokers=()
start_memory_tansu "$MEMORY_KAFKA"
brokers+=("memory $MEMORY_KAFKA")
if [ "$SQLITE" = 1 ]; then
  brokers+=("sqlite $(bash scripts/services.sh)")
fi

for b in "${brokers[@]}"; do
  read -r engine addr <<<"$b"
  for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNECTIONS; do
      row "tansu $engine" "single, $c conn." "$(leadstream_run "$addr" "$c" 1)" \
        "$(capture_run "$addr" "$c" 1 5)" "$(capture_run "$addr" "$c" 1 20)" \
        "$(bare_run "$addr" "$LOG_EVENTS_SINGLE" 1 "$c")" "$(minimal_run "$addr" "$c")"
    done
    row "tansu $engine" "batch of 100, $BATCH_CONNECTIONS conn." \
      "$(leadstream_run "$addr" "$BATCH_CONNECTIONS" 100)" \
      "$(capture_run "$addr" "$BATCH_CONNECTIONS" 100 5)" "$(capture_run "$addr" "$BATCH_CONNECTIONS" 100 20)" \
      "$(bare_run "$addr" "$LOG_EVENTS_BATCH" 100 "$BATCH_CONNECTIONS")"
  done
done

echo "Against PostHog capture (goal: leadstream ≥ 1.5× capture's events/s, lower CPU per event, no worse p99)"
echo
echo "| broker | load | leadstream events/s | capture events/s (linger 5 / 20 ms) | ratio to capture's better | CPU µs per event: leadstream / capture 5 / 20 | p99 ms: leadstream / capture 5 / 20 | bare producer, same writers: events/s / CPU µs per event | trivial axum + the same producer: events/s / CPU µs per event / p99 ms (× capture's better) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "wrk -t$THREADS -d$DURATION --latency, release build, $(nproc) cores, loopback, $(date -u +%F)."
