# shellcheck shell=bash
# Shared helpers for scripts/infra/*.sh (sourced, not executed).
# Progress goes to stderr so a script's stdout can carry a value (e.g. a user name).

log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

# now_ms: wall clock in milliseconds, for measuring steps.
now_ms() { date +%s%3N; }

# secs_since START_MS: elapsed seconds with one decimal.
secs_since() { awk -v s="$1" -v e="$(now_ms)" 'BEGIN { printf "%.1f", (e - s) / 1000 }'; }

# alive PID: the process exists and is not a zombie (an init that does not reap leaves those).
alive() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) && [[ -n $stat && $stat != Z* ]]
}

# poll_until TIMEOUT_S CMD...: run CMD every 0.2 s until it succeeds (0) or time runs out (1).
poll_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# wait_until TIMEOUT_S WHAT CMD...: poll_until, or die naming WHAT.
wait_until() {
    local timeout=$1 what=$2; shift 2
    poll_until "$timeout" "$@" || die "timed out after ${timeout}s waiting for: $what"
}

# launch_daemon NAME LOGFILE TIMEOUT_S READY CMD...: start CMD (which must stay in the foreground)
# detached in its own session, stdout/stderr to LOGFILE, and poll READY until it succeeds.
# Fails fast, showing the log's tail, if the daemon exits (e.g. its port is taken). It runs in
# /: a daemon outliving the checkout it was started from must not keep a deleted directory as
# its working directory (slurmstepd then prefixes every job's output with an error line).
launch_daemon() {
    local name=$1 logfile=$2 timeout=$3 ready=$4; shift 4
    log "$name: starting (log $logfile)"
    mkdir -p "$(dirname "$logfile")"
    (cd / && exec setsid "$@" </dev/null >>"$logfile" 2>&1) &
    local pid=$! deadline=$((SECONDS + timeout))
    until "$ready" >/dev/null 2>&1; do
        if ! alive "$pid"; then
            tail -n 5 "$logfile" >&2
            die "$name exited (log: $logfile)"
        fi
        ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $name ($logfile)"
        sleep 0.2
    done
}
