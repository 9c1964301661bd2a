#!/usr/bin/env bash
# Create .venv (from Debian's /usr/bin/python3, so unprivileged accounts can execute it) and
# install the workspace: the client package, the shared server kit, the three gRPC services and
# Atlas (services/atlas).
# Usage: scripts/bootstrap.sh [--dev]     (idempotent; --dev adds the test/lint toolchain)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${METALAB_BOOTSTRAP_PYTHON:-/usr/bin/python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
packages=(-e clients/python -e services/common -e services/registry -e services/orchestrator -e services/tunnel
  -e services/atlas)
extra=()
[ "${1:-}" = "--dev" ] && extra=(-r requirements-dev.txt)
echo "bootstrap: installing the workspace${extra:+ and the dev toolchain}"
.venv/bin/python -m pip install -q --disable-pip-version-check "${packages[@]}" "${extra[@]}" 2>&1 \
  | grep -v "WARNING: Location" || true
.venv/bin/metalab --version
