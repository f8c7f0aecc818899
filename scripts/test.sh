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
bash scripts/deploy-tools.sh
# Unit tests, the HTTP contract tests, and the integration / end-to-end tests against the real
# broker and ClickHouse 18.16. Test binaries run one at a time; tests inside a binary in parallel.
cargo test --workspace --locked --no-fail-fast "$@"
# Every test once more, the ClickHouse ones (the store, segments, RFM, campaigns; the distributed
# halves of the end-to-end tests) against the current release. The same `--workspace` selection
# as above, so nothing is built again.
SHARED=${LEADSTREAM_SHARED:-$(cd .. && pwd)/shared}
CURRENT=$(bash "$SHARED/clickhouse-current/start.sh" 18123)
echo "[test] again on the current ClickHouse at $CURRENT" >&2
LEADSTREAM_TEST_CLICKHOUSE=$CURRENT cargo test --workspace --locked --no-fail-fast "$@"
