# Shared by run.sh, peer.sh, ab.sh and ab-embedded.sh (sourced, from the repository's root): the
# run's scratch (start_scratch), starting a collector or the all-in-one, CPU time from /proc, and
# one measured wrk run with the collector's CPU per event. Expects BIN, DURATION, THREADS; the
# collector binary is $INGEST_BIN when set, else $BIN/leadstream-ingest; LINGER_MS, when set, is
# its producer's linger.ms and COMPRESSION its compression.type (else the defaults).

# WORK (a fresh scratch directory) and PIDS (processes to stop), both cleaned up at exit, and AUTH,
# the load scripts' write key as a Basic header.
start_scratch() {
  export AUTH="Basic $(printf 'wk_quickstart_demo:' | base64)"
  WORK=$(mktemp -d)
  PIDS=()
  trap cleanup EXIT
}
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }
ticks=$(getconf CLK_TCK)
cpu_seconds() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"; }
# CPU seconds of $1's threads whose name starts with $2 (thread names: /proc/<pid>/task/*/comm).
thread_cpu_seconds() {
  local task
  for task in /proc/"$1"/task/*; do
    [[ $(cat "$task/comm" 2>/dev/null) == "$2"* ]] || continue
    sed 's/^.*) //' "$task/stat" 2>/dev/null
  done | awk -v t="$ticks" '{ s += $12 + $13 } END { print s / t }'
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# The all-in-one's config at $1: data under $2, the collector on 18080, the query API on 18081, the
# load scripts' write key.
embedded_config() {
  cat > "$1" <<TOML
mode = "embedded"
data_dir = "$2"
[ingest]
listen = "127.0.0.1:18080"
[query]
listen = "127.0.0.1:18081"
[[workspaces]]
name = "bench"
write_keys = ["wk_quickstart_demo"]
TOML
}
# The all-in-one's scorer lags during a burst and catches up after it (see RESULTS.md): each run
# against it starts once the previous run's events are all applied (at most 120 s), so a run does
# not pay for the one before it. The lag gauge is measured only every 5 s (it can still read 0
# from before a short burst), so caught up also means no event applied in the last 2 s.
caught_up() { # port of the all-in-one's query API
  local lag= metrics applied seen=()
  for _ in $(seq 1 240); do
    metrics=$(curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null || true)
    lag=$(awk '/^leadstream_scorer_consumer_lag_events/ {print $2; exit}' <<<"$metrics")
    # Absent until the scorer's first event (a fresh all-in-one): nothing applied yet.
    applied=$(awk '/^leadstream_scorer_events_total/ {print $2; exit}' <<<"$metrics")
    [ -n "$metrics" ] && applied=${applied:-0}
    seen+=("$applied")
    [ "$lag" = 0 ] && [ ${#seen[@]} -ge 5 ] && [ -n "$applied" ] && [ "$applied" = "${seen[-5]}" ] && return 0
    sleep 0.5
  done
  echo "scorer still lagging (${lag:-no metric}) after 120 s" >&2
}

# tansu on its memory engine at $1 (host:port), stopped at exit with PIDS; a produce-only broker.
start_memory_tansu() {
  mkdir -p "$WORK/tansu-memory"
  (cd "$WORK/tansu-memory" && exec tansu broker --listener-url "tcp://$1" \
    --advertised-listener-url "tcp://$1" --storage-engine memory://tansu/) \
    >"$WORK/tansu-memory.log" 2>&1 & PIDS+=($!)
  wait_port "${1##*:}"
}

# wrk with its latency distribution; prints "events/s p99_ms non2xx events_sent". $1 port, $2
# script, $3 conns, $4 events per request; BATCH in the environment for the scripts.
run_wrk() {
  local out
  out=$(BATCH=$4 wrk -t"$THREADS" -c"$3" -d"$DURATION" --latency -s "$2" "http://127.0.0.1:$1")
  echo "$out" | awk -v per="$4" '
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" { v = $2; ms = v + 0; if (v ~ /us$/) ms = ms / 1000; else if (v ~ /ms$/) ms = ms; else if (v ~ /s$/) ms = ms * 1000; p99 = ms }
    /Non-2xx/ { bad = $NF }
    /requests in/ { reqs = $1 }
    END { printf "%.0f %.1f %d %d\n", rps * per, p99, bad + 0, reqs * per }'
}

# One measured run: $1 port, $2 pid, $3 script, $4 conns, $5 events per request.
# Prints "events/s p99_ms cpu_us_per_event non2xx".
measured() {
  local before after r
  before=$(cpu_seconds "$2")
  r=$(run_wrk "$1" "$3" "$4" "$5")
  sleep 1 # the last acknowledgements and the producer's flush belong to the run
  after=$(cpu_seconds "$2")
  echo "$r" | awk -v b="$before" -v a="$after" '{ printf "%s %s %.1f %s\n", $1, $2, ($4 > 0 ? (a - b) * 1e6 / $4 : 0), $3 }'
}

leadstream_run() { # broker conns per_request
  local topic="peer_ls_$RANDOM$RANDOM" pid
  cat > "$WORK/ls.toml" <<TOML
mode = "distributed"
data_dir = "$WORK/ls-data"
[ingest]
listen = "127.0.0.1:18082"
[kafka]
brokers = "$1"
events_topic = "$topic"
partitions = 6
${LINGER_MS:+linger_ms = $LINGER_MS}
${COMPRESSION:+compression = \"$COMPRESSION\"}
[[workspaces]]
name = "bench"
write_keys = ["wk_quickstart_demo"]
TOML
  RUST_LOG=warn "${INGEST_BIN:-$BIN/leadstream-ingest}" --config "$WORK/ls.toml" >"$WORK/ls.log" 2>&1 & pid=$!
  PIDS+=("$pid")
  wait_port 18082
  # One request first, so topic creation and the producer's start are not in the run.
  curl -fsS -o /dev/null -H "Authorization: $AUTH" -H 'Content-Type: application/json' \
    -d '{"type":"page","anonymousId":"warm-up","messageId":"warm-up-'"$topic"'"}' \
    http://127.0.0.1:18082/v1/page
  measured 18082 "$pid" benches/load/page.lua "$2" "$3"
  stop "$pid"
}

