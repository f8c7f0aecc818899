#!/usr/bin/env bash
# The collector's load test: single-event POST /v1/track under wrk, against the embedded default
# and against the real broker (distributed mode, tansu on loopback), each beside the baseline of a
# trivial axum endpoint answering the same requests under the same load. Loopback only; every run
# is bounded by wrk's duration. Prints a Markdown table for benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p leadstream -p leadstream-benches --bin leadstream --bin baseline-server
BIN=${CARGO_TARGET_DIR:-target}/release
export AUTH="Basic $(printf 'wk_quickstart_demo:' | base64)"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }
rps() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s benches/load/track.lua "http://127.0.0.1:$1" | awk '/Requests\/sec/ {print $2}'; }

"$BIN/baseline-server" 127.0.0.1:18090 & PIDS+=($!)
wait_port 18090

cat > "$WORK/embedded.toml" <<TOML
mode = "embedded"
data_dir = "$WORK/embedded"
[ingest]
listen = "127.0.0.1:18080"
dedup_window_secs = 86400
[query]
listen = "127.0.0.1:18081"
[[workspaces]]
name = "bench"
write_keys = ["wk_quickstart_demo"]
TOML
RUST_LOG=warn "$BIN/leadstream" serve --config "$WORK/embedded.toml" >/dev/null & PIDS+=($!)
wait_port 18080
base1=$(rps 18090); emb=$(rps 18080)
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

bash scripts/services.sh >/dev/null
TOPIC="bench_$RANDOM$RANDOM"
cat > "$WORK/distributed.toml" <<TOML
mode = "distributed"
[ingest]
listen = "127.0.0.1:18082"
[query]
listen = "127.0.0.1:18083"
[kafka]
brokers = "127.0.0.1:9092"
events_topic = "$TOPIC"
consumer_group = "$TOPIC-scorer"
partitions = 6
[clickhouse]
database = "$TOPIC"
[[workspaces]]
name = "bench"
write_keys = ["wk_quickstart_demo"]
TOML
RUST_LOG=warn "$BIN/leadstream" serve --config "$WORK/distributed.toml" >/dev/null & PIDS+=($!)
wait_port 18082
base2=$(rps 18090); dist=$(rps 18082)
curl -s "http://127.0.0.1:8123/?query=DROP%20DATABASE%20IF%20EXISTS%20$TOPIC" -X POST >/dev/null || true

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
echo "| target | requests/s | baseline (trivial axum) requests/s | ratio |"
echo "|---|---|---|---|"
echo "| embedded: POST /v1/track, fsynced | $emb | $base1 | $(pct "$emb" "$base1") |"
echo "| distributed: POST /v1/track, acks=all to tansu | $dist | $base2 | $(pct "$dist" "$base2") |"
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, release build, $(nproc) cores, loopback."
