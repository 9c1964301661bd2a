#!/usr/bin/env bash
# Build a Debian bookworm base image (python3, python3-venv, ca-certificates) with debootstrap
# and `docker import` it as IMAGE; no image registry is reachable, so nothing can be pulled.
# Skips the build when IMAGE exists (unless this script made it before its "/" was 0755). Usage: make-base-image.sh IMAGE
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

[[ $# -eq 1 ]] || die "usage: $0 IMAGE"
IMAGE=$1
SUITE=bookworm
INCLUDE=python3,python3-venv,ca-certificates

ROOT_LABEL=io.metalab.base-root
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    made=$(docker image inspect --format "{{.Comment}}|{{index .Config.Labels \"$ROOT_LABEL\"}}" "$IMAGE")
    # One this script imported before its "/" was made 0755 is made again (rootless Podman).
    if [[ $made != "Imported from -|" ]]; then
        log "$IMAGE exists: skipping build"
        exit 0
    fi
    log "$IMAGE was made with a 0700 \"/\" (unusable by rootless Podman): making it again"
fi
command -v debootstrap >/dev/null || die "debootstrap not found: run scripts/infra/install-packages.sh --docker"

# The mirror apt already uses for $SUITE (deb822 *.sources or one-line *.list entries).
apt_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -e $f ]] || continue
        awk -v suite="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
            {
                types = suites = uris = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^#/) continue
                    split($i, kv, /:[ \t]*/)
                    key = tolower(kv[1]); val = substr($i, length(kv[1]) + 2); sub(/^[ \t]+/, "", val)
                    if (key == "types") types = val; else if (key == "suites") suites = val
                    else if (key == "uris") uris = val; else if (key == "enabled") enabled = val
                }
                if (enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -e $f ]] || continue
        awk -v suite="$SUITE" '$1 == "deb" {
                n = 2  # skip "[ option=value ... ]"
                if ($n ~ /^\[/) { while ($n !~ /\]$/) n++; n++ }
                if ($(n + 1) == suite) { print $n; exit }
            }' "$f"
    done
}
MIRROR=$(apt_mirror | head -n1)
[[ -n $MIRROR ]] || die "no '$SUITE' deb mirror found in /etc/apt/sources.list{,.d/}"

ROOTFS=$(mktemp -d /var/tmp/metalab-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

t0=$(now_ms)
log "debootstrap $SUITE from $MIRROR (minbase + $INCLUDE)"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" \
    >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; die "debootstrap failed"; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
log "debootstrap: $(secs_since "$t0") s, $(du -sh "$ROOTFS" | cut -f1)"

t1=$(now_ms)
# mktemp made the root 0700: as the image's "/" that locks out every non-root account under
# rootless Podman's --userns=keep-id (Docker's runtime happens to open it, Podman's does not).
chmod 0755 "$ROOTFS"
tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL $ROOT_LABEL=0755" \
    - "$IMAGE" >/dev/null
log "docker import: $(secs_since "$t1") s"
docker run --rm --network none "$IMAGE" python3 -c 'import ssl, venv' || die "$IMAGE: python3 check failed"
log "built $IMAGE in $(secs_since "$t0") s"
