#!/usr/bin/env bash
# The main job on a fresh machine: install PostgreSQL binaries if missing, set up the venv, and
# run `metalab services up` in examples/quickstart (embedded local default: PostgreSQL + Atlas).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo "quickstart: installing PostgreSQL binaries"
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
scripts/bootstrap.sh
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root: run the server as an unprivileged account.
  id metalab >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/metalab --shell /usr/sbin/nologin metalab
fi
cd examples/quickstart
if [ "$(id -u)" -eq 0 ] && [ ! -e .metalab.local.toml ]; then
  # Machine-local override (git-ignored), so later `metalab services …` commands keep working.
  printf '[services.postgres]\nrun_as = "metalab"\n' > .metalab.local.toml
fi
../../.venv/bin/metalab services up
../../.venv/bin/metalab services status
