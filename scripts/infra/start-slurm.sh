#!/usr/bin/env bash
# Start the suite's private single-node SLURM cluster (munged, slurmctld, slurmd as root) and
# wait until a trivial batch job runs to completion. Everything it uses is its own (see
# slurm-env.sh): SLURM_CONF under $METALAB_SLURM_DIR, its own munged key and socket, ports,
# state, spool, pid and log files and cluster name. It never reads or writes /etc/slurm,
# /etc/munge or a system daemon's files, so a system SLURM keeps running untouched beside it.
# Idempotent: running daemons are left alone unless the config changed. Stop with
# stop-slurm.sh. Clients reach it with `export SLURM_CONF=$METALAB_SLURM_DIR/etc/slurm.conf`.
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
source "$HERE/lib.sh"
source "$HERE/slurm-env.sh"
require_root

D=$METALAB_SLURM_DIR
CONF=$SLURM_CONF
TIMEOUT_S=${METALAB_SLURM_TIMEOUT:-60}
NODE=$(hostname)
CONSOLE=$D/log/console  # daemons' stderr; their own logs are $D/log/*.log
t_start=$(now_ms)

for bin in munged mungekey slurmctld slurmd sbatch; do
    command -v "$bin" >/dev/null || die "$bin not found: run install-packages.sh first"
done

# The daemons are given 127.0.0.1 and need no name lookup, and /etc/hosts is the system's: say
# so, rather than edit it, when clients (metalab's services report the node name) cannot
# resolve this host.
getent hosts "$NODE" >/dev/null \
    || log "warning: host name $NODE does not resolve: jobs' services cannot be reached by name"

render_conf() {
    local mem_mb
    mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    cat <<CONF
# Written by metalab scripts/infra/start-slurm.sh: the test suite's private single-node
# cluster, everything as root. Addresses are given, so the host name need not resolve.
ClusterName=$METALAB_SLURM_CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$METALAB_SLURM_PORT
SlurmdPort=$((METALAB_SLURM_PORT + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket
PlugStackConfig=$D/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/builtin
SelectType=select/cons_tres
# Allocate CPUs only: memory is not consumable, so jobs without --mem don't block each other.
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MaxArraySize=10001
ReturnToService=2
SlurmdSpoolDir=$D/spool/slurmd
StateSaveLocation=$D/state
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
# Fast turnaround on an idle test node (batch_sched_delay=0: schedule on submit, ~1 s
# instead of ~3 s; sched/builtin and sched/backfill measured equal here).
SchedulerParameters=batch_sched_delay=0
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
# Array tasks count against MaxJobCount until MinJobAge after they end: a 10,000-run sweep
# must fit beside the previous one.
MaxJobCount=100000
MinJobAge=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
}

# running NAME PIDFILE: the daemon recorded in PIDFILE is alive.
running() {
    local pid
    pid=$(cat "$2" 2>/dev/null) && alive "$pid" && [[ $(ps -o comm= -p "$pid") == "$1" ]]
}

# World-readable config and munge socket: jobs and the CLI may run as other users.
install -d -m 755 "$D" "$D/etc" "$D/run" "$D/log" "$D/spool" "$D/munge"
install -d -m 700 "$D/state"
[[ -f $D/etc/plugstack.conf ]] || : >"$D/etc/plugstack.conf"
new_conf=$(render_conf)
if [[ ! -f $CONF ]] || [[ $(cat "$CONF") != "$new_conf" ]]; then
    log "writing $CONF"
    printf '%s\n' "$new_conf" >"$CONF.tmp" && chmod 644 "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    if running slurmctld "$D/run/slurmctld.pid" || running slurmd "$D/run/slurmd.pid"; then
        log "config changed: restarting slurm daemons"
        "$HERE/stop-slurm.sh" --keep-munge
    fi
fi

# munge: our own key and socket (AuthInfo above), never /etc/munge or /run/munge.
KEY=$D/munge/munge.key
if [[ ! -s $KEY ]]; then
    log "generating munge key $KEY"
    mungekey --create --keyfile="$KEY"
fi
chmod 400 "$KEY"
munge_ok() { munge -S "$D/munge/munge.socket" -n | unmunge -S "$D/munge/munge.socket"; }
if munge_ok >/dev/null 2>&1; then
    log "munged: running"
else
    log "munged: starting"
    munged --force --socket="$D/munge/munge.socket" --key-file="$KEY" \
        --pid-file="$D/munge/munged.pid" --log-file="$D/log/munged.log" \
        --seed-file="$D/munge/munged.seed"
    wait_until 10 "munge credential round trip" munge_ok
fi

ctld_ready() { scontrol ping; }
node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null; }
# slurmd has registered: the node is known and responding (no trailing '*').
node_responding() { local s; s=$(node_state) && [[ -n $s && $s != *'*' && $s != unknown ]]; }
# The node takes jobs: idle, or busy with other users' jobs (other sessions share this cluster).
node_up() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }

if running slurmctld "$D/run/slurmctld.pid"; then
    log "slurmctld: running"
else
    launch_daemon slurmctld "$CONSOLE/slurmctld.out" "$TIMEOUT_S" ctld_ready slurmctld -D
fi
if running slurmd "$D/run/slurmd.pid"; then
    log "slurmd: running"
else
    launch_daemon slurmd "$CONSOLE/slurmd.out" "$TIMEOUT_S" node_responding slurmd -D
fi

if ! poll_until 15 node_up; then
    # A node left DOWN/DRAINED by an earlier run (e.g. config change) is returned to service.
    log "node $NODE is '$(node_state)': resuming"
    scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
    wait_until "$TIMEOUT_S" "node $NODE up (see $D/log/slurmd.log)" node_up
fi
log "node $NODE $(node_state) after $(secs_since "$t_start") s"
if [[ -n $(squeue -h -t PENDING,RUNNING -o %i) ]]; then
    # Shared cluster in use: the smoke job could queue behind others' work for a long time.
    log "other jobs are queued or running: skipping the smoke job"
    exit 0
fi

# A trivial job proves the whole chain (munge, controller, slurmd, slurmstepd) works.
t_job=$(now_ms)
job=$(sbatch --parsable --job-name=metalab-smoke --output=/dev/null --chdir=/tmp --wrap true)
deadline=$((SECONDS + TIMEOUT_S))
while :; do
    state=$(squeue -h -j "$job" -t all -o %T 2>/dev/null || true)
    case $state in
        COMPLETED) break ;;
        FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
            die "smoke job $job ended $state (see $D/log/)" ;;
    esac
    ((SECONDS < deadline)) || die "smoke job $job not done after ${TIMEOUT_S}s (state '$state')"
    sleep 0.1
done
[[ -z $(squeue -h -j "$job" 2>/dev/null) ]] || die "job $job completed but still in squeue"
log "smoke job $job completed in $(secs_since "$t_job") s"
log "slurm ready in $(secs_since "$t_start") s: export SLURM_CONF=$CONF"
