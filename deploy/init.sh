#!/bin/sh
# The compose stack's first start (the `init` service), installed as /usr/local/bin/leadstream-init.
# First start: copies the config template to /config/leadstream.toml, appends a new workspace
# (its write key and API token are printed here, once: `docker compose logs init`) and writes a
# random metrics token for Prometheus. Every start: checks the config and applies the ClickHouse
# migrations, then exits; the services start after it.
set -eu
CONFIG=${LEADSTREAM_CONFIG:-/config/leadstream.toml}
TEMPLATE=${LEADSTREAM_TEMPLATE:-/etc/leadstream/leadstream.toml}
WORKSPACE=${LEADSTREAM_WORKSPACE:-acme}
TOKEN_FILE=$(dirname "$CONFIG")/metrics-token

if [ ! -s "$TOKEN_FILE" ]; then
  umask 077
  od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$TOKEN_FILE.tmp"
  mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
  chmod 0644 "$TOKEN_FILE"   # Prometheus runs as another user and reads it
fi
if [ ! -s "$CONFIG" ]; then
  cp "$TEMPLATE" "$CONFIG.tmp"
  echo "leadstream: first start, creating workspace '$WORKSPACE' (keys shown once):"
  leadstream workspace create "$WORKSPACE" --mode distributed --config "$CONFIG.tmp" --append-to "$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
else
  echo "leadstream: $CONFIG exists (its workspaces' keys were printed at the first start)"
fi
leadstream config check --config "$CONFIG"
leadstream migrate --config "$CONFIG"
