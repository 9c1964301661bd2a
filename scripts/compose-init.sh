#!/usr/bin/env bash
# Prepare `docker compose up`: write .env (METALAB_ROOT, your uid/gid) and, unless it exists,
# a random token in secrets/metalab.token (0600). Usage: scripts/compose-init.sh ROOT_DIR
# ROOT_DIR is shared with the containers at the same path: put the projects (or their
# file_root) that use the containers under it.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 ]] || { echo "usage: $0 ROOT_DIR" >&2; exit 2; }
mkdir -p "$1"
root=$(cd "$1" && pwd -P)
umask 077
mkdir -p secrets
if [[ ! -s secrets/metalab.token ]]; then
    head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >secrets/metalab.token
fi
uid=$(id -u) gid=$(id -g)
if [[ $uid -eq 0 ]]; then
    # The containers never run as root (PostgreSQL refuses to): use the image's account.
    uid=1000 gid=1000
    chown "$uid:$gid" "$root" secrets/metalab.token
fi
cat >.env <<ENV
METALAB_ROOT=$root
METALAB_UID=$uid
METALAB_GID=$gid
ENV
echo "wrote .env (METALAB_ROOT=$root) and secrets/metalab.token"
