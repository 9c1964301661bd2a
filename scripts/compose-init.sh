#!/usr/bin/env bash
# Prepare `docker compose up`: write .env (METALAB_ROOT, your uid/gid) and, unless it exists,
# a random token in secrets/metalab.token (0600). Usage: scripts/compose-init.sh ROOT_DIR
# ROOT_DIR is shared with the containers at the same path: put the projects (or their
# file_root) that use the containers under it. As root, the containers run as uid 1000: it gets
# ROOT_DIR and, through an inherited ACL entry (scripts/share_dir.py), rwx on every directory
# root creates under it, so a project made there by root works as it is.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 ROOT_DIR" >&2; exit 2; }
mkdir -p "$1"
root=$(cd "$1" && pwd -P)
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets
if [[ ! -s secrets/metalab.token ]]; then
    head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >secrets/metalab.token
fi
uid=$(id -u) gid=$(id -g)
if [[ $uid -eq 0 ]]; then
    # The containers never run as root (PostgreSQL refuses to): they use the image's account,
    # 1000. It owns ROOT, and an ACL entry on ROOT, inherited by whatever is created under it
    # later (a project directory root makes, its file_root), gives it rwx there too.
    uid=1000 gid=1000
    status=0
    python3 scripts/share_dir.py "$uid" "$root" || status=$?
    [[ $status -eq 0 || $status -eq 3 ]] || exit "$status"
    chown "$uid:$gid" "$root" secrets/metalab.token
    if [[ $status -eq 3 ]]; then
        echo "warning: as root, make each project directory you create under $root writable" \
            "by the containers' account: chown -R $uid:$gid DIR (or run this as its owner)" >&2
    fi
fi
cat >.env <<ENV
METALAB_ROOT=$root
METALAB_UID=$uid
METALAB_GID=$gid
ENV
echo "wrote .env (METALAB_ROOT=$root) and secrets/metalab.token"
