#!/usr/bin/env bash
# Make the installed Podman usable by the tests, as root and rootless, without touching its
# configuration (the tests run their own `podman system service` on private storage):
# /dev/net/tun usable by every account (udev's default mode, missing where no udev runs), which
# rootless networking (slirp4netns, pasta) needs. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

command -v podman >/dev/null || die "podman is not installed (install-packages.sh --podman)"
command -v newuidmap >/dev/null || die "newuidmap is missing (package uidmap)"
if [[ -c /dev/net/tun && $(stat -c %a /dev/net/tun) != 666 ]]; then
    chmod 0666 /dev/net/tun
    log "/dev/net/tun: 0666 (as udev makes it)"
fi
log "$(podman --version)"
