#!/usr/bin/env bash
# What migration 16 (LowCardinality(String) for the text columns of few values) buys on a current
# ClickHouse: the same N event rows in two tables that differ only in those columns' type, then
# their size on disk and the time of the queries the segment and RFM engines run on them (best
# of 3, server-side elapsed from the query log is not available behind the test front end, so
# wall time of the HTTP call on loopback).
#   bash benches/clickhouse/lowcardinality.sh [URL] [ROWS]
# URL defaults to the current engine of ../shared/clickhouse-current (http://127.0.0.1:18123).
set -euo pipefail
URL=${1:-http://127.0.0.1:18123}
ROWS=${2:-5000000}
DB=leadstream_bench_lc
q() { curl -fsS "$URL/" --data-binary "$1"; }
q "DROP DATABASE IF EXISTS $DB" >/dev/null
q "CREATE DATABASE $DB" >/dev/null
for variant in String LowCardinality; do
  if [ "$variant" = String ]; then T=String; else T="LowCardinality(String)"; fi
  q "CREATE TABLE $DB.events_$variant (
      workspace String, message_id String, profile_id String,
      event_type $T, kind $T, event $T, properties String, timestamp_ms Int64
    ) ENGINE = MergeTree() PARTITION BY toYYYYMM(toDateTime(intDiv(timestamp_ms, 1000)))
    ORDER BY (workspace, profile_id, timestamp_ms)" >/dev/null
  # 40 event names over 8 kinds and 4 types, 1M people, a year of times: the shapes query-scale
  # generates.
  q "INSERT INTO $DB.events_$variant SELECT
      'acme', toString(generateUUIDv4()), concat('user-', toString(number % 1000000)),
      ['track','page','identify','screen'][number % 4 + 1],
      ['page_viewed','email_opened','email_clicked','form_submitted','webinar_registered','file_downloaded','purchase_completed','identify'][intHash32(number) % 8 + 1],
      concat('Event ', toString(intHash32(number * 7) % 40)),
      '{\"plan\":\"pro\"}',
      1735689600000 + (intHash64(number) % 31536000000)
    FROM numbers($ROWS)" >/dev/null
  q "OPTIMIZE TABLE $DB.events_$variant FINAL" >/dev/null || true
done
best() { # query -> best seconds of 3
  local b=999
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); q "$1" >/dev/null; e=$(date +%s.%N)
    b=$(echo "$e - $s" | bc -l | awk -v b="$b" '{print ($1 < b) ? $1 : b}')
  done
  printf '%.3f' "$b"
}
echo "| column type | ${ROWS} rows: kind+event+event_type on disk | GROUP BY kind | count WHERE event = | segment-style count of people |"
echo "|---|---|---|---|---|"
for variant in String LowCardinality; do
  bytes=$(q "SELECT sum(data_compressed_bytes) FROM system.columns WHERE database = '$DB' AND table = 'events_$variant' AND name IN ('kind','event','event_type')")
  g=$(best "SELECT kind, count() FROM $DB.events_$variant GROUP BY kind FORMAT Null")
  w=$(best "SELECT count() FROM $DB.events_$variant WHERE event = 'Event 7' FORMAT Null")
  s=$(best "SELECT uniqExact(profile_id) FROM $DB.events_$variant WHERE workspace = 'acme' AND kind = 'form_submitted' AND event IN ('Event 3', 'Event 9') FORMAT Null")
  printf '| %s | %s KiB | %s s | %s s | %s s |\n' "$variant" "$((bytes / 1024))" "$g" "$w" "$s"
done
q "DROP DATABASE $DB" >/dev/null
