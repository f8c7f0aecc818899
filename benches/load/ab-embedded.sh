#!/usr/bin/env bash
# Before and after for the all-in-one (`leadstream serve`, embedded): two or more builds, each
# given as label=path to a `leadstream` binary, run in turn (a, b, a, b, …) under the same wrk
# load, each run a fresh process with an empty data directory. A run is wrk for DURATION, then the
# wait until the scorer has applied everything (so its catch-up counts, and the next run does not
# pay for it). CPU per request: each thread group's utime + stime (/proc/<pid>/task) over the run
# and the catch-up, divided by the requests wrk counted. The catch-up column is the wait itself,
# which includes the 2 s it needs to see no event applied (measure.sh's caught_up).
#   bash benches/load/ab-embedded.sh before=/var/tmp/ab/leadstream-before after=target/release/leadstream
# SCRIPT (batch.lua; track.lua for single events), CONNECTIONS (8), ROUNDS (4), DURATION (10s).
# Prints each run and, per build, the medians. Loopback only, bounded by DURATION and the 120 s wait.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 label=leadstream-binary label=leadstream-binary [...]" >&2; exit 2; }
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-4}
SCRIPT=${SCRIPT:-batch.lua}
CONNECTIONS=${CONNECTIONS:-8}
source benches/load/measure.sh
start_scratch
secs=${DURATION%s}

embedded_config "$WORK/embedded.toml" "$WORK/data"

declare -A RUNS
echo "| build | round | requests/s | CPU µs per request: all threads | request workers | log writer | scorer | p50 latency | scorer's catch-up after wrk, s |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for build in "$@"; do
    label=${build%%=*}
    rm -rf "$WORK/data"
    RUST_LOG=warn "${build#*=}" serve --config "$WORK/embedded.toml" >/dev/null & PIDS+=($!)
    pid=${PIDS[-1]}
    wait_port 18080
    wait_port 18081
    a0=$(cpu_seconds "$pid"); w0=$(thread_cpu_seconds "$pid" tokio-rt-worker)
    l0=$(thread_cpu_seconds "$pid" embedded-log-wr); s0=$(thread_cpu_seconds "$pid" scorer)
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "benches/load/$SCRIPT" http://127.0.0.1:18080)
    t0=$(date +%s.%N); caught_up 18081; t1=$(date +%s.%N)
    a1=$(cpu_seconds "$pid"); w1=$(thread_cpu_seconds "$pid" tokio-rt-worker)
    l1=$(thread_cpu_seconds "$pid" embedded-log-wr); s1=$(thread_cpu_seconds "$pid" scorer)
    stop "$pid"; unset 'PIDS[-1]'
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "Latency" {print $2}' <<<"$out")
    row=$(awk -v r="$rps" -v d="$secs" -v t0="$t0" -v t1="$t1" \
      -v a0="$a0" -v a1="$a1" -v w0="$w0" -v w1="$w1" -v l0="$l0" -v l1="$l1" -v s0="$s0" -v s1="$s1" \
      'BEGIN { n = r * d; printf "%.0f %.1f %.1f %.1f %.1f %.1f", r, (a1-a0)*1e6/n, (w1-w0)*1e6/n, (l1-l0)*1e6/n, (s1-s0)*1e6/n, t1-t0 }')
    read -r q all workers writer scorer catchup <<<"$row"
    echo "| $label | $round | $q | $all | $workers | $writer | $scorer | $p50 | $catchup |"
    RUNS[$label]+="$q $all $workers $writer $scorer $catchup;"
  done
done
echo
echo "Medians of $ROUNDS rounds ($SCRIPT, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(date -u +%F)):"
echo
echo "| build | requests/s | CPU µs per request: all threads | request workers | log writer | scorer | scorer's catch-up, s |"
echo "|---|---|---|---|---|---|---|"
for build in "$@"; do
  label=${build%%=*}
  echo "${RUNS[$label]}" | tr ';' '\n' | awk -v b="$label" '
    NF == 6 { n++; for (i = 1; i <= 6; i++) v[i, n] = $i }
    function med(c, n,   i, j, t, a) { for (i = 1; i <= n; i++) a[i] = v[c, i]; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
    END { printf "| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", b, med(1, n), med(2, n), med(3, n), med(4, n), med(5, n), med(6, n) }'
done
