#!/usr/bin/env bash
# Stop the suite's private SLURM cluster started by start-slurm.sh (slurmd, slurmctld, munged),
# found by the pid files under $METALAB_SLURM_DIR; a system SLURM is never touched.
# Usage: stop-slurm.sh [--keep-munge]
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
source "$HERE/lib.sh"
source "$HERE/slurm-env.sh"
require_root

D=$METALAB_SLURM_DIR

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

stop slurmd "$D/run/slurmd.pid"
stop slurmctld "$D/run/slurmctld.pid"
if [[ ${1:-} != --keep-munge ]]; then
    stop munged "$D/munge/munged.pid"
fi
log "stopped"
