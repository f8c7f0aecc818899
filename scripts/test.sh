#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts tansu (Kafka API) and ClickHouse on
# loopback, then runs every test of the workspace against them, and every ClickHouse test once
# more against a current ClickHouse release (../shared/clickhouse-current: ClickHouse 26.x's
# engine behind its HTTP interface), since Debian's clickhouse-server is 18.16.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
LEADSTREAM_TEST_KAFKA=$(bash scripts/services.sh)
export LEADSTREAM_TEST_KAFKA
# Segment's, RudderStack's and PostHog's own SDKs, for the compatibility tests (ingest/tests/sdks.rs).
bash scripts/sdks.sh
# Unit tests, the HTTP contract tests, and the integration / end-to-end tests against the real
# broker and ClickHouse 18.16. Test binaries run one at a time; tests inside a binary in parallel.
cargo test --workspace --locked --no-fail-fast "$@"
# The ClickHouse suites (the store, segments, RFM, campaigns; every end-to-end test, whose
# distributed halves use ClickHouse) against the current release.
SHARED=${LEADSTREAM_SHARED:-$(cd .. && pwd)/shared}
CURRENT=$(bash "$SHARED/clickhouse-current/start.sh" 18123)
echo "[test] again on the current ClickHouse at $CURRENT" >&2
LEADSTREAM_TEST_CLICKHOUSE=$CURRENT cargo test --locked --no-fail-fast -p leadstream-platform \
  --test clickhouse --test campaigns --test rfm --test segments "$@"
LEADSTREAM_TEST_CLICKHOUSE=$CURRENT cargo test --locked --no-fail-fast -p leadstream --tests "$@"
