#!/usr/bin/env bash
# Installs Segment's, RudderStack's and PostHog's own SDKs (pinned in ingest/tests/sdks/) for the SDK
# compatibility test (ingest/tests/sdks.rs): the Python ones into ingest/tests/sdks/.venv from
# PyPI, the Node.js and browser ones into ingest/tests/sdks/node_modules from the npm registry.
# Reuses what is already installed; needs python3 (with venv) and npm.
set -euo pipefail
cd "$(dirname "$0")/../ingest/tests/sdks"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# `npm install` rather than `npm ci`: npm 11 calls the lock file out of sync over optional
# platform packages it never installs here; the lock file still pins every version.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error
