#!/usr/bin/env bash
# Build the PostgreSQL image of the `docker`/`podman` local runtime (docs/local-services.md)
# without an image registry: FROM the base image the project's image uses (scripts/build-image.sh),
# made with debootstrap when it is missing and cannot be pulled.
# Usage: scripts/build-postgres-image.sh [IMAGE]   (default metalab-postgres:latest)
# Env: METALAB_BASE_IMAGE (default python:3.11-slim, else metalab-base:bookworm when that one
#      exists or cannot be pulled), METALAB_BUILD_NETWORK (`docker build --network`, e.g. host),
#      METALAB_CONTAINER_CLI (docker or podman; default docker).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-metalab-postgres:latest}
CLI=${METALAB_CONTAINER_CLI:-docker}
PULLED=python:3.11-slim
MADE=metalab-base:bookworm
log() { printf '[build-postgres-image.sh] %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
have() { "$CLI" image inspect "$1" >/dev/null 2>&1; }

"$CLI" info >/dev/null 2>&1 || { log "ERROR: no container engine answers \`$CLI info\`"; exit 2; }
if [[ -n ${METALAB_BASE_IMAGE:-} ]]; then
    BASE=$METALAB_BASE_IMAGE
    have "$BASE" || timeout 300 "$CLI" pull -q "$BASE" >/dev/null \
        || { log "ERROR: base image $BASE is missing and cannot be pulled"; exit 2; }
elif have "$PULLED"; then BASE=$PULLED
elif have "$MADE"; then BASE=$MADE
elif timeout 300 "$CLI" pull -q "$PULLED" >/dev/null 2>&1; then BASE=$PULLED
else
    BASE=$MADE
    [[ $(id -u) -eq 0 ]] || { log "ERROR: no base image: run \`sudo scripts/infra/make-base-image.sh $MADE\`"; exit 2; }
    bash scripts/infra/make-base-image.sh "$MADE"
fi
t0=$(now_ms)
network=()
[[ -n ${METALAB_BUILD_NETWORK:-} ]] && network=(--network "$METALAB_BUILD_NETWORK")
"$CLI" build -q --force-rm "${network[@]}" --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" \
    scripts/postgres-image 2> >(grep -v -i "legacy builder\|buildx\|^ *$" >&2) >/dev/null
log "built $IMAGE from $BASE in $(( $(now_ms) - t0 )) ms"
