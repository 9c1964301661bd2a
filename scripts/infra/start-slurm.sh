#!/usr/bin/env bash
# Start a real single-node SLURM cluster (munged, slurmctld, slurmd as root) and wait until a
# trivial batch job runs to completion. Idempotent: running daemons are left alone unless
# slurm.conf changed. Stop with stop-slurm.sh.
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
source "$HERE/lib.sh"
require_root

CONF=/etc/slurm/slurm.conf
TIMEOUT_S=${METALAB_SLURM_TIMEOUT:-60}
NODE=$(hostname)
CONSOLE=/var/log/slurm/console  # daemons' stderr; their own logs are /var/log/slurm/*.log
t_start=$(now_ms)

for bin in munged slurmctld slurmd sbatch; do
    command -v "$bin" >/dev/null || die "$bin not found: run install-packages.sh first"
done

# slurmctld and slurmd resolve the node name; a fresh VM may not know its own hostname.
if ! getent hosts "$NODE" >/dev/null; then
    log "adding $NODE to /etc/hosts"
    echo "127.0.1.1 $NODE" >>/etc/hosts
fi

render_conf() {
    local mem_mb
    mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    cat <<CONF
# Written by metalab scripts/infra/start-slurm.sh: single-node test cluster, everything as root.
ClusterName=metalab
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
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
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
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
NodeName=$NODE CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
}

# running NAME PIDFILE: the daemon recorded in PIDFILE is alive.
running() {
    local pid
    pid=$(cat "$2" 2>/dev/null) && alive "$pid" && [[ $(ps -o comm= -p "$pid") == "$1" ]]
}

mkdir -p /etc/slurm /var/spool/slurmd /var/spool/slurmctld /var/log/slurm
new_conf=$(render_conf)
if [[ ! -f $CONF ]] || [[ $(cat "$CONF") != "$new_conf" ]]; then
    log "writing $CONF"
    printf '%s\n' "$new_conf" >"$CONF"
    if running slurmctld /run/slurmctld.pid || running slurmd /run/slurmd.pid; then
        log "config changed: restarting slurm daemons"
        "$HERE/stop-slurm.sh" --keep-munge
    fi
fi

# munge: key (the Debian package usually makes one), then the daemon as the munge user.
if [[ ! -s /etc/munge/munge.key ]]; then
    log "generating munge key"
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged: running"
else
    log "munged: starting"
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- munged --force
    wait_until 10 "munge credential round trip" bash -c 'munge -n | unmunge'
fi

ctld_ready() { scontrol ping; }
node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null; }
# slurmd has registered: the node is known and responding (no trailing '*').
node_responding() { local s; s=$(node_state) && [[ -n $s && $s != *'*' && $s != unknown ]]; }
# The node takes jobs: idle, or busy with other users' jobs (other sessions share this cluster).
node_up() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }

if running slurmctld /run/slurmctld.pid; then
    log "slurmctld: running"
else
    launch_daemon slurmctld "$CONSOLE/slurmctld.out" "$TIMEOUT_S" ctld_ready slurmctld -D
fi
if running slurmd /run/slurmd.pid; then
    log "slurmd: running"
else
    launch_daemon slurmd "$CONSOLE/slurmd.out" "$TIMEOUT_S" node_responding slurmd -D
fi

if ! poll_until 15 node_up; then
    # A node left DOWN/DRAINED by an earlier run (e.g. config change) is returned to service.
    log "node $NODE is '$(node_state)': resuming"
    scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
    wait_until "$TIMEOUT_S" "node $NODE up (see /var/log/slurm/slurmd.log)" node_up
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
            die "smoke job $job ended $state (see /var/log/slurm/)" ;;
    esac
    ((SECONDS < deadline)) || die "smoke job $job not done after ${TIMEOUT_S}s (state '$state')"
    sleep 0.1
done
[[ -z $(squeue -h -j "$job" 2>/dev/null) ]] || die "job $job completed but still in squeue"
log "smoke job $job completed in $(secs_since "$t_job") s"
log "slurm ready in $(secs_since "$t_start") s"
