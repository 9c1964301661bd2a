#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by start-slurm.sh (slurmd, slurmctld, munged).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

# stop NAME PIDFILE: SIGTERM the daemon recorded in PIDFILE and wait for it to exit.
stop() {
    local name=$1 pidfile=$2 pid
    pid=$(cat "$pidfile" 2>/dev/null) || pid=""
    if [[ -z $pid ]] || ! alive "$pid" || [[ $(ps -o comm= -p "$pid") != "$name" ]]; then
        log "$name: not running"
        return 0
    fi
    log "$name: stopping pid $pid"
    kill "$pid"
    dead() { ! alive "$pid"; }
    wait_until 30 "$name (pid $pid) to exit" dead
}

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
if [[ ${1:-} != --keep-munge ]]; then
    stop munged /run/munge/munged.pid
fi
log "stopped"
