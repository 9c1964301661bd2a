#!/usr/bin/env bash
# Install the Debian packages metalab's integration tests need. Only missing packages are
# installed; `apt-get update` runs only when something is missing and the lists are > 1 h old.
# Usage: install-packages.sh [--docker] [--browser] [--podman]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

groups=(base)
for arg in "$@"; do
    case $arg in
        --docker) groups+=(docker) ;;
        --browser) groups+=(browser) ;;
        --podman) groups+=(podman) ;;
        *) die "usage: $0 [--docker] [--browser] [--podman]" ;;
    esac
done

declare -A packages=(
    [base]="postgresql slurm-wlm munge openssh-server openssh-client iproute2 procps psmisc"
    [docker]="docker.io debootstrap python3-venv"
    [browser]="chromium chromium-driver"
    # Podman and what rootless Podman needs (subuid maps, user networking, overlay as a user,
    # an init); runc too: crun refuses hybrid cgroup v1/v2 hosts.
    [podman]="podman uidmap slirp4netns passt fuse-overlayfs catatonit crun runc"
)

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -o DPkg::Lock::Timeout=600)
STAMP=/var/lib/apt/periodic/metalab-update-success-stamp
MAX_LIST_AGE_S=3600

is_installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }

lists_age_s() {
    local newest=0 f t
    # Debian's own stamp (apt.conf.d/15update-stamp) or ours, whichever is newer.
    for f in "$STAMP" /var/lib/apt/periodic/update-success-stamp; do
        [[ -e $f ]] && t=$(stat -c %Y "$f") && ((t > newest)) && newest=$t
    done
    echo $(($(date +%s) - newest))
}

apt_update() {
    local t0; t0=$(now_ms)
    log "apt-get update"
    "${APT[@]}" update >/dev/null
    mkdir -p "${STAMP%/*}" && touch "$STAMP"
    log "apt-get update: $(secs_since "$t0") s"
}

# Keep packages from starting their services on install (postgresql, ssh, munge, slurm,
# docker): we start exactly what we need ourselves. Respect an existing policy.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

updated=false
for group in "${groups[@]}"; do
    missing=()
    for pkg in ${packages[$group]}; do is_installed "$pkg" || missing+=("$pkg"); done
    if ((${#missing[@]} == 0)); then
        log "$group: all present (${packages[$group]})"
        continue
    fi
    if ! $updated && (($(lists_age_s) > MAX_LIST_AGE_S)); then apt_update; updated=true; fi
    log "$group: installing ${missing[*]}"
    t0=$(now_ms)
    if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null; then
        $updated && die "apt-get install failed: ${missing[*]}"
        log "install failed; retrying after apt-get update"
        apt_update; updated=true
        "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
    fi
    log "$group: installed in $(secs_since "$t0") s"
done

# A packaged PostgreSQL cluster (and its start.conf or systemd unit) is the system's: left as
# it is. Our tests run their own servers from these binaries, in private directories on free
# ports.
for bin in initdb pg_ctl postgres; do
    [[ -x /usr/lib/postgresql/15/bin/$bin ]] || die "missing /usr/lib/postgresql/15/bin/$bin"
done
log "done"
