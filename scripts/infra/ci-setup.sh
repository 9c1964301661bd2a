#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) for metalab's integration tests: packages, the
# unprivileged PostgreSQL user, the suite's private single-node SLURM (slurm-env.sh); with
# --docker also the Docker engine, Compose v2 and the base image ($METALAB_BASE_IMAGE); with
# --podman Podman and rootless Podman's helpers (prepare-podman.sh).
# Idempotent; a system SLURM, PostgreSQL, Docker or Podman is left as it is.
# Usage: ci-setup.sh [--docker] [--browser] [--podman]
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
source "$HERE/lib.sh"
require_root

docker=false podman=false
for arg in "$@"; do
    case $arg in
        --docker) docker=true ;;
        --podman) podman=true ;;
        --browser) ;;
        *) die "usage: $0 [--docker] [--browser] [--podman]" ;;
    esac
done

t_total=$(now_ms)
step() {
    local t0; t0=$(now_ms)
    "$@"
    log "${1##*/}: $(secs_since "$t0") s"
}

step "$HERE/install-packages.sh" "$@"
step "$HERE/ensure-user.sh" >/dev/null
step "$HERE/start-slurm.sh"
if $docker; then
    step "$HERE/start-docker.sh"
    step "$HERE/make-base-image.sh" "${METALAB_BASE_IMAGE:-metalab-base:bookworm}"
fi
if $podman; then
    step "$HERE/prepare-podman.sh"
fi
log "total: $(secs_since "$t_total") s"
