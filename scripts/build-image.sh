#!/usr/bin/env bash
# Build metalab's service image. Step 1 (needs the package index, or a pip cache): `pip wheel`
# metalab's six packages and their dependencies into build/wheelhouse/ on this machine, pinned
# to the versions installed in .venv (dependencies are resolved again only when those change).
# Step 2 (needs no image registry and no Python package index): the base image, used when it
# exists, else pulled, else (no registry reachable) made with debootstrap as root; then
# `docker build`, which installs from the wheelhouse alone (pip --no-index).
# Usage: scripts/build-image.sh [IMAGE]   (default $METALAB_IMAGE, else metalab:latest)
# Env: METALAB_BASE_IMAGE (default python:3.11-slim, else metalab-base:bookworm when that one
#      exists or cannot be pulled; its Python must match .venv's),
#      METALAB_UID/METALAB_GID (the image's account; default: .env's, else 1000),
#      METALAB_BUILD_NETWORK (`docker build --network`, e.g. host; default: Docker's),
#      METALAB_WHEELHOUSE_ONLY=1 (stop after step 1, e.g. to copy it to an air-gapped site).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-${METALAB_IMAGE:-metalab:latest}}
PULLED=python:3.11-slim  # the default base, when a registry is reachable
MADE=metalab-base:bookworm  # the default base otherwise (scripts/infra/make-base-image.sh)
PYTHON=.venv/bin/python
WHEELS=build/wheelhouse
PACKAGES=(clients/python services/common services/registry services/orchestrator services/tunnel
    services/atlas)
log() { printf '[build-image.sh] %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

[[ -x $PYTHON ]] || { log "ERROR: no .venv: run scripts/bootstrap.sh first"; exit 1; }

# The base image: used when present (no pull), else pulled, else made with debootstrap (root).
have() { docker image inspect "$1" >/dev/null 2>&1; }
pull() {
    local out
    out=$(timeout 300 docker pull -q "$1" 2>&1) && return 0
    log "cannot pull $1: $(tail -n1 <<<"$out")"
    return 1
}
base_image() {
    local wanted=${METALAB_BASE_IMAGE:-} candidates make
    if [[ -n $wanted ]]; then
        candidates=("$wanted") make=$wanted
    else
        candidates=("$PULLED" "$MADE") make=$MADE
    fi
    for BASE in "${candidates[@]}"; do have "$BASE" && return 0; done
    BASE=${candidates[0]}
    [[ $BASE != "$MADE" ]] && pull "$BASE" && return 0
    BASE=$make
    if [[ $(id -u) -ne 0 ]]; then
        log "ERROR: no base image $BASE: make it without a registry (debootstrap) as root with" \
            "\`sudo scripts/infra/make-base-image.sh $BASE\`, then run this again"
        exit 2
    fi
    log "making base image $BASE with debootstrap (scripts/infra/make-base-image.sh)"
    bash scripts/infra/make-base-image.sh "$BASE"
}
if [[ ${METALAB_WHEELHOUSE_ONLY:-} != 1 ]]; then
    if ! docker info >/dev/null 2>&1; then
        log "ERROR: no Docker engine answers \`docker info\` (root: scripts/infra/start-docker.sh)"
        exit 2
    fi
    t_base=$(now_ms)
    base_image
    log "base image: $BASE ($(( $(now_ms) - t_base )) ms)"
fi

t0=$(now_ms)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$WHEELS"
quiet() { "$@" --disable-pip-version-check 2>&1 | { grep -v "WARNING: Location" || true; } >&2; }
# Our wheels, built with a cached hatchling (one build environment instead of six).
TOOLS=build/wheel-tools
if [[ ! -x $TOOLS/bin/hatchling ]]; then
    "$PYTHON" -m venv "$TOOLS"
    quiet "$TOOLS/bin/python" -m pip install -q hatchling
fi
quiet "$TOOLS/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$tmp/metalab" \
    "${PACKAGES[@]}"
# The dependencies, resolved again only when .venv's versions or our requirements change.
"$PYTHON" -m pip freeze --exclude-editable --disable-pip-version-check >"$tmp/constraints.txt"
stamp=$(cat "$tmp/constraints.txt" "${PACKAGES[@]/%//pyproject.toml}" | sha256sum | cut -c1-16)
if [[ $(cat "$WHEELS/deps/.stamp" 2>/dev/null) != "$stamp" ]]; then
    mkdir -p "$WHEELS/deps"
    quiet "$PYTHON" -m pip wheel -q -c "$tmp/constraints.txt" --find-links "$tmp/metalab" \
        --find-links "$WHEELS/deps" -w "$tmp/all" "$tmp"/metalab/*.whl
    # deps/ holds exactly the resolved set (stale versions would be installed too).
    rm -rf "$WHEELS/deps" && mkdir -p "$WHEELS/deps"
    for wheel in "$tmp"/all/*.whl; do
        [[ -e $tmp/metalab/$(basename "$wheel") ]] || mv "$wheel" "$WHEELS/deps/"
    done
    echo "$stamp" >"$WHEELS/deps/.stamp"
fi
rm -rf "$WHEELS/metalab" && mv "$tmp/metalab" "$WHEELS/metalab"
log "wheelhouse: $(ls "$WHEELS/deps" | wc -l) dependencies + $(ls "$WHEELS/metalab" | wc -l) metalab wheels in $(( $(now_ms) - t0 )) ms"
[[ ${METALAB_WHEELHOUSE_ONLY:-} == 1 ]] && exit 0

# The image's account: METALAB_UID/GID from the environment, else from .env (compose-init.sh).
for key in METALAB_UID METALAB_GID; do
    if [[ -z ${!key:-} && -f .env ]]; then
        value=$(sed -n "s/^$key=//p" .env | tail -n1)
        [[ -n $value ]] && export "$key=$value"
    fi
done
if [[ ${METALAB_UID:-1000} == 0 ]]; then
    log "ERROR: METALAB_UID=0: the services never run as root (PostgreSQL refuses to)"; exit 2
fi
t1=$(now_ms)
network=()
[[ -n ${METALAB_BUILD_NETWORK:-} ]] && network=(--network "$METALAB_BUILD_NETWORK")
docker build -q --force-rm "${network[@]}" --build-arg "BASE_IMAGE=$BASE" \
    --build-arg "METALAB_UID=${METALAB_UID:-1000}" --build-arg "METALAB_GID=${METALAB_GID:-1000}" \
    -t "$IMAGE" . 2> >(grep -v -i "legacy builder\|buildx\|^ *$" >&2) >/dev/null
log "built $IMAGE from $BASE in $(( $(now_ms) - t1 )) ms"
