#!/usr/bin/env bash
# Create the unprivileged system user our tests run PostgreSQL as (it refuses to run as root).
# Prints the user name on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

USER_NAME=metalab
HOME_DIR=/var/lib/metalab

if id -u "$USER_NAME" >/dev/null 2>&1; then
    log "user $USER_NAME exists"
else
    log "creating system user $USER_NAME"
    useradd --system --home-dir "$HOME_DIR" --create-home --shell /bin/bash "$USER_NAME"
fi
if [[ ! -d $HOME_DIR ]]; then
    install -d -o "$USER_NAME" -g "$(id -gn "$USER_NAME")" -m 755 "$HOME_DIR"
fi
echo "$USER_NAME"
