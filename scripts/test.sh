#!/usr/bin/env bash
# The whole test suite on a fresh machine: install and start the real components (PostgreSQL
# binaries, single-node SLURM, sshd, Docker + Compose, Podman, Chromium), set up the venv with
# the dev toolchain, then lint, type-check and run pytest. Extra arguments go to pytest. The
# multi-node SLURM cluster (scripts/infra/multinode-slurm.sh, ~0.2 s) is started by its tests'
# fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/infra/ci-setup.sh --docker --browser --podman
# SLURM commands go to the suite's private test cluster, never to a system one (/etc/slurm).
source scripts/infra/slurm-env.sh
scripts/bootstrap.sh --dev
export METALAB_CI=1
export METALAB_SLOW=1  # the 200-run SLURM sweep (~2.5 min) runs in CI too
echo "test: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "test: import contracts"
.venv/bin/lint-imports
echo "test: mypy"
.venv/bin/mypy clients/python/src services/common/src services/registry/src \
  services/orchestrator/src services/tunnel/src services/atlas/src tests benchmarks
echo "test: pytest"
.venv/bin/python -m pytest "$@"
echo "test: done in $(( $(date +%s) - started ))s"
