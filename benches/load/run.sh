#!/usr/bin/env bash
# The collector's load test, each figure beside its baseline from the same run:
#  - single-event POST /v1/track under wrk, against a trivial axum endpoint answering the same
#    requests under the same load (at each of $CONNECTIONS);
#  - POST /v1/batch with 100-event batches under wrk, against the log alone written the same way
#    (`log-baseline`: a bare rdkafka producer with the collector's producer settings, or the
#    embedded log directly).
# Beside the goal's baseline, each single-event row also shows the log alone at the same
# concurrency (`log-baseline … 1 <connections>`: as many writers as connections, each appending one
# event and waiting until it is durable): the ceiling of any collector that acknowledges only
# durable events, on this disk / this broker; and the trivial endpoint with one durable append of
# the body before it answers (`baseline-server <addr> embedded|kafka …`): HTTP and durability with
# nothing else, the least such a collector does per request, under the same wrk load.
# Embedded: the all-in-one `leadstream serve` (scorer included, as a newcomer runs it).
# Distributed: the collector on its own (`leadstream-ingest`) into tansu on loopback.
# Loopback only; every wrk run is bounded by $DURATION, every baseline by an event count.
# The embedded single-event runs also measure CPU per request from /proc (issue 20's goal 2: the
# collector's CPU per request at most 2x the trivial endpoint's), the all-in-one's threads by name:
# request workers, the log writer, the scorer.
# Last, the side-by-side run against PostHog capture (benches/load/peer.sh) when the peer is here.
# Prints Markdown tables for benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-"32 256"}
BATCH_CONNECTIONS=${BATCH_CONNECTIONS:-8}
BASELINE_EVENTS=${BASELINE_EVENTS:-200000}
SINGLE_LOG_EVENTS=${SINGLE_LOG_EVENTS:-30000}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p leadstream -p leadstream-ingest -p leadstream-benches \
  --bin leadstream --bin leadstream-ingest --bin baseline-server --bin log-baseline
BIN=${CARGO_TARGET_DIR:-target}/release
# start_scratch, wait_port, cpu_seconds, thread_cpu_seconds, caught_up, embedded_config.
source benches/load/measure.sh
start_scratch
wrk_rps() { # port script connections
  wrk -t"$THREADS" -c"$3" -d"$DURATION" -s "benches/load/$2" "http://127.0.0.1:$1" | awk '/Requests\/sec/ {print $2}'
}
stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
times100() { awk -v a="$1" 'BEGIN { printf "%.0f", 100 * a }'; }
us_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'; }
secs=${DURATION%s}
# Requests as wrk counted them: requests/s ($1) times the run's length.
requests() { awk -v r="$1" -v d="$secs" 'BEGIN { printf "%.0f", r * d }'; }
baseline_eps() { "$BIN/log-baseline" "$@" | awk -F= '/events_per_second/ {print $2}'; }

"$BIN/baseline-server" 127.0.0.1:18090 & PIDS+=($!)
wait_port 18090
TRIVIAL=${PIDS[-1]}
"$BIN/baseline-server" 127.0.0.1:18091 embedded "$WORK/durable-log" & PIDS+=($!)
wait_port 18091
DURABLE=${PIDS[-1]}
# requests/s and CPU µs per request of the durable trivial endpoint at $2 connections, port $1.
durable_run() {
  local d0 d1 rps
  d0=$(cpu_seconds "$DURABLE")
  rps=$(wrk_rps "$1" track.lua "$2")
  d1=$(cpu_seconds "$DURABLE")
  echo "$rps $(us_per "$d0" "$d1" "$(requests "$rps")")"
}
declare -A DUR
SINGLE_ROWS=()
BATCH_ROWS=()

# --- embedded -------------------------------------------------------------------------------
embedded_config "$WORK/embedded.toml" "$WORK/embedded"
RUST_LOG=warn "$BIN/leadstream" serve --config "$WORK/embedded.toml" >/dev/null & PIDS+=($!)
wait_port 18080
declare -A GOT BASE
CPU_ROWS=()
ALL_IN_ONE=${PIDS[-1]}
for c in $CONNECTIONS; do
  t0=$(cpu_seconds "$TRIVIAL")
  BASE[$c]=$(wrk_rps 18090 track.lua "$c")
  t1=$(cpu_seconds "$TRIVIAL")
  read -r drps dcpu <<<"$(durable_run 18091 "$c")"
  DUR[$c]=$drps
  caught_up 18081
  w0=$(thread_cpu_seconds "$ALL_IN_ONE" tokio-rt-worker); l0=$(thread_cpu_seconds "$ALL_IN_ONE" embedded-log-wr)
  s0=$(thread_cpu_seconds "$ALL_IN_ONE" scorer)
  GOT[$c]=$(wrk_rps 18080 track.lua "$c")
  w1=$(thread_cpu_seconds "$ALL_IN_ONE" tokio-rt-worker); l1=$(thread_cpu_seconds "$ALL_IN_ONE" embedded-log-wr)
  s1=$(thread_cpu_seconds "$ALL_IN_ONE" scorer)
  n_base=$(requests "${BASE[$c]}")
  n_got=$(requests "${GOT[$c]}")
  trivial=$(us_per "$t0" "$t1" "$n_base")
  workers=$(us_per "$w0" "$w1" "$n_got"); writer=$(us_per "$l0" "$l1" "$n_got")
  scorer=$(us_per "$s0" "$s1" "$n_got")
  ratio=$(awk -v w="$workers" -v l="$writer" -v t="$trivial" 'BEGIN { printf "%.1f×", (w + l) / t }')
  dratio=$(awk -v d="$dcpu" -v t="$trivial" 'BEGIN { printf "%.1f×", d / t }')
  CPU_ROWS+=("| $c | ${BASE[$c]} / $trivial | $drps ($(pct "$drps" "${BASE[$c]}")) / $dcpu ($dratio) | ${GOT[$c]} ($(pct "${GOT[$c]}" "${BASE[$c]}")) | $workers | $writer | **$ratio** | $scorer |")
done
caught_up 18081
got=$(times100 "$(wrk_rps 18080 batch.lua "$BATCH_CONNECTIONS")")
stop_last
stop_last # the durable trivial endpoint
for c in $CONNECTIONS; do
  log=$(baseline_eps embedded "$WORK/single-log-$c" "$SINGLE_LOG_EVENTS" 1 "$c")
  SINGLE_ROWS+=("| embedded (all-in-one, fsynced) | $c | ${GOT[$c]} | ${BASE[$c]} | $(pct "${GOT[$c]}" "${BASE[$c]}") | $log ($(pct "${GOT[$c]}" "$log")) | ${DUR[$c]} ($(pct "${GOT[$c]}" "${DUR[$c]}")) |")
done
base=$(baseline_eps embedded "$WORK/baseline-log" "$BASELINE_EVENTS" 100 "$BATCH_CONNECTIONS")
BATCH_ROWS+=("| embedded (all-in-one, fsynced) | $BATCH_CONNECTIONS | $got | $base (redb log alone) | $(pct "$got" "$base") |")

# --- distributed ----------------------------------------------------------------------------
KAFKA=$(bash scripts/services.sh)
TOPIC="bench_$RANDOM$RANDOM"
cat > "$WORK/distributed.toml" <<TOML
mode = "distributed"
data_dir = "$WORK/distributed"
[ingest]
listen = "127.0.0.1:18082"
[kafka]
brokers = "$KAFKA"
events_topic = "$TOPIC"
partitions = 6
[[workspaces]]
name = "bench"
write_keys = ["wk_quickstart_demo"]
TOML
"$BIN/baseline-server" 127.0.0.1:18092 kafka "$KAFKA" "${TOPIC}_durable" & PIDS+=($!)
wait_port 18092
DURABLE=${PIDS[-1]}
RUST_LOG=warn "$BIN/leadstream-ingest" --config "$WORK/distributed.toml" >/dev/null & PIDS+=($!)
wait_port 18082
for c in $CONNECTIONS; do
  BASE[$c]=$(wrk_rps 18090 track.lua "$c"); GOT[$c]=$(wrk_rps 18082 track.lua "$c")
  read -r drps _ <<<"$(durable_run 18092 "$c")"
  DUR[$c]=$drps
done
got=$(times100 "$(wrk_rps 18082 batch.lua "$BATCH_CONNECTIONS")")
stop_last
stop_last # the durable trivial endpoint
for c in $CONNECTIONS; do
  log=$(baseline_eps kafka "$KAFKA" "$TOPIC" "$SINGLE_LOG_EVENTS" 1 "$c")
  SINGLE_ROWS+=("| distributed (collector, acks=all to tansu) | $c | ${GOT[$c]} | ${BASE[$c]} | $(pct "${GOT[$c]}" "${BASE[$c]}") | $log ($(pct "${GOT[$c]}" "$log")) | ${DUR[$c]} ($(pct "${GOT[$c]}" "${DUR[$c]}")) |")
done
base=$(baseline_eps kafka "$KAFKA" "$TOPIC" "$BASELINE_EVENTS" 100 "$BATCH_CONNECTIONS")
BATCH_ROWS+=("| distributed (collector, acks=all to tansu) | $BATCH_CONNECTIONS | $got | $base (bare rdkafka producer) | $(pct "$got" "$base") |")

echo "Single-event POST /v1/track (goal: 60 % of the trivial endpoint)"
echo
echo "| target | connections | requests/s | baseline (trivial axum) requests/s | ratio (goal) | log alone, same concurrency, events/s (collector's share) | trivial axum + one durable append, requests/s (collector's share) |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${SINGLE_ROWS[@]}"
echo
echo "CPU per single-event request, embedded (issue 20, goal 2: the collector at most 2× the trivial"
echo "endpoint's CPU per request, and at least 50 % of its requests/s; the scorer is shown apart)"
echo
echo "| connections | trivial axum: requests/s / CPU µs per request | trivial + one durable append: requests/s (share) / CPU µs per request (× trivial) | all-in-one: requests/s (share) | request workers, µs | log writer, µs | collector (workers + writer) / trivial | scorer during the run, µs |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${CPU_ROWS[@]}"
echo
echo "POST /v1/batch, 100 events per request (goal: 50 % of the log alone)"
echo
echo "| target | connections / writers | events/s | baseline events/s | ratio |"
echo "|---|---|---|---|---|"
printf '%s\n' "${BATCH_ROWS[@]}"
echo
echo "wrk -t$THREADS -d$DURATION, release build, $(nproc) cores, loopback, $(date -u +%F)."

# Against PostHog's collector, when it is on this machine (PEER=0 skips it): benches/load/peer.sh.
PEER_DIR=${PEER_DIR:-${LEADSTREAM_SHARED:-../shared}/peers/posthog-capture}
if [ "${PEER:-1}" != 0 ] && [ -x "$PEER_DIR/capture" ]; then
  echo
  SKIP_BUILD=1 PEER_DIR=$PEER_DIR bash benches/load/peer.sh
fi
