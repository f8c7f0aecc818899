#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts tansu (Kafka API) and ClickHouse on
# loopback, then runs every test of the workspace against them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
LEADSTREAM_TEST_KAFKA=$(bash scripts/services.sh)
export LEADSTREAM_TEST_KAFKA
# Segment's and RudderStack's own SDKs, for the compatibility test (ingest/tests/sdks.rs).
bash scripts/sdks.sh
# Unit tests, the HTTP contract tests, and the integration / end-to-end tests against the real
# broker and ClickHouse. Test binaries run one at a time; tests inside a binary in parallel.
cargo test --workspace --locked --no-fail-fast "$@"
