#!/usr/bin/env bash
# Before and after, measured together: two or more builds of the distributed collector, each
# given as label=path, run in turn (a, b, a, b, …) against the same broker under the same wrk
# load, each run with a fresh process and topic (benches/load/measure.sh), so that a change's
# effect is read beside the run-to-run spread rather than across days.
#   bash benches/load/ab.sh before=/var/tmp/ab/ingest-before after=target/release/leadstream-ingest
# LOADS: "events_per_request:connections …" (default "1:32 1:256 100:8"; 1 = one page view per
# request, POST /v1/page; 100 = POST /v1/batch); ROUNDS (3); DURATION (10s). The broker: a fresh tansu
# on its memory engine for each run, on 127.0.0.1:29092 (KAFKA=host:port uses that one for all).
# Prints each run and, per load and build, the medians. Loopback only, bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 label=collector-binary label=collector-binary [...]" >&2; exit 2; }
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
LOADS=${LOADS:-"1:32 1:256 100:8"}
BIN=${CARGO_TARGET_DIR:-target}/release
export PATH="$HOME/.cargo/bin:$PATH"
source benches/load/measure.sh
start_scratch

# Without KAFKA, each run gets a fresh memory-engine tansu: one broker kept for every run grew
# and slowed down as the runs went on (the same build's CPU per event rose from ~45 to ~65 µs
# over three rounds), which favoured whichever build ran first.
FRESH_BROKER=
if [ -z "${KAFKA:-}" ]; then
  KAFKA=127.0.0.1:29092
  FRESH_BROKER=1
fi

declare -A RUNS
echo "| load | build | round | events/s | CPU µs per event | p99 ms |"
echo "|---|---|---|---|---|---|"
for load in $LOADS; do
  per=${load%%:*} conns=${load##*:}
  for round in $(seq 1 "$ROUNDS"); do
    for build in "$@"; do
      label=${build%%=*}
      if [ -n "$FRESH_BROKER" ]; then
        rm -rf "$WORK/tansu-memory"
        start_memory_tansu "$KAFKA"
      fi
      r=$(INGEST_BIN=${build#*=} leadstream_run "$KAFKA" "$conns" "$per")
      if [ -n "$FRESH_BROKER" ]; then
        stop "${PIDS[-1]}"
        unset 'PIDS[-1]'
      fi
      read -r eps p99 cpu bad <<<"$r"
      [ "$bad" = 0 ] || echo "warning: $label had $bad non-2xx answers" >&2
      echo "| $per × $conns | $label | $round | $eps | $cpu | $p99 |"
      RUNS["$load $label"]+="$eps $cpu $p99;"
    done
  done
done
echo
echo "Medians of $ROUNDS rounds (wrk -t$THREADS -d$DURATION, $(date -u +%F)):"
echo
echo "| load | build | events/s | CPU µs per event | p99 ms |"
echo "|---|---|---|---|---|"
for load in $LOADS; do
  for build in "$@"; do
    label=${build%%=*}
    echo "${RUNS["$load $label"]}" | tr ';' '\n' | awk -v l="${load%%:*} × ${load##*:}" -v b="$label" '
      NF == 3 { n++; e[n] = $1; c[n] = $2; p[n] = $3 }
      function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
      END { printf "| %s | %s | %d | %.1f | %.1f |\n", l, b, med(e, n), med(c, n), med(p, n) }'
  done
done
