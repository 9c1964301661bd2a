#!/usr/bin/env bash
# The suite's private multi-node SLURM cluster on one machine, as root.
#
# slurmctld runs on the host side (the "login node"); each of N compute nodes is a slurmd in a
# network + UTS namespace of its own, so a job on node2 has its own host name and address
# (10.232.0.12) and 127.0.0.1 there is not the host's. The nodes hang off a bridge that lives in
# a namespace of its own ("switch"): a bridge in the host namespace would be filtered by the
# host's iptables (Docker's FORWARD DROP). Mounts are not unshared, so every path is on the
# "shared filesystem" and every process is in one pid namespace.
#
# Everything is private: SLURM_CONF, munged key and socket, ports (16817/16818), state, spool,
# pid and log files under $METALAB_MN_DIR, cluster metalabmn, namespaces and links named
# mlmn-*. The system SLURM (/etc/slurm) and the single-node test cluster (slurm-env.sh) keep
# running untouched beside it. Traffic goes only to loopback and to the namespaces made here.
#
# A "laptop" namespace (mlmn-laptop, 10.233.0.2) is linked to the host side alone (10.233.0.1):
# it has no route to the nodes, so a client in it reaches the cluster only through the login
# side (an sshd the tests start on 10.233.0.1), as a user's laptop would.
#
# Partitions: "mn" (the default) and "urgent" on the same nodes, a higher tier whose jobs
# preempt mn's in requeue mode (SIGTERM, 10 s grace, then the job is queued again).
#
# Usage: multinode-slurm.sh up|down|status|env|fail N|restore N
#   up         build the cluster and wait until every node is idle (reuses a healthy one)
#   down       stop every daemon and job of the cluster and remove its namespaces
#   status     the nodes' states and the queue; exit 1 unless every node responds
#   env        print the SLURM_CONF line to source: eval "$(multinode-slurm.sh env)"
#   fail N     node N dies: everything running in it is killed (-9), then it is marked DOWN
#   restore N  node N comes back: its slurmd starts again and the node is resumed
# Settings: METALAB_MN_DIR (/var/lib/metalab-mnslurm), METALAB_MN_NODES (2),
# METALAB_MN_NET (10.232.0, a /24), METALAB_MN_LAPTOP_NET (10.233.0, a /24),
# METALAB_MN_PORT (16817; slurmd the next one up).
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
source "$HERE/lib.sh"

D=${METALAB_MN_DIR:-/var/lib/metalab-mnslurm}
NODES=${METALAB_MN_NODES:-2}
NET=${METALAB_MN_NET:-10.232.0}
LAPTOP_NET=${METALAB_MN_LAPTOP_NET:-10.233.0}
PORT=${METALAB_MN_PORT:-16817}
CLUSTER=metalabmn
CTLD=mlmn-ctl          # the controller's host name (its own UTS namespace)
SWITCH=mlmn-sw         # the namespace holding the bridge
UPLINK=mlmn-host       # host side of the host <-> switch link
LAPTOP=mlmn-laptop     # the client's namespace, linked to the host side only
LAPTOP_LINK=mlmn-lap   # host side of the host <-> laptop link
export SLURM_CONF=$D/etc/slurm.conf
MUNGE_SOCKET=$D/munge/munge.socket

node_ns() { echo "mlmn-node$1"; }
node_addr() { echo "$NET.$((10 + $1))"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }
# node_namespaces: the node namespaces present now (a cluster may have been built larger).
node_namespaces() { ip netns list | awk '$1 ~ /^mlmn-node[0-9]+$/ { print $1 }'; }

render_conf() {
    cat <<CONF
# Written by metalab scripts/infra/multinode-slurm.sh: the suite's private multi-node cluster.
ClusterName=$CLUSTER
SlurmctldHost=$CTLD($NET.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
PlugStackConfig=$D/etc/plugstack.conf
# No cgroups: "ip netns exec" would remount /sys, and the nodes share one kernel anyway.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/builtin
# sched_interval: the periodic pass that starts a requeued job once its BeginTime is over.
SchedulerParameters=batch_sched_delay=0,sched_interval=2
# Jobs of the higher-tier partition "urgent" preempt those of "mn" by requeueing them.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MaxArraySize=10001
MaxJobCount=100000
# A node set DOWN stays down until "restore" (2 would return it as soon as it answers an RPC).
ReturnToService=1
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
MessageTimeout=10
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
MinJobAge=30
CONF
    local i
    for i in $(seq "$NODES"); do
        # Node names do not resolve: the controller reaches each node by its NodeAddr.
        echo "NodeName=node$i NodeAddr=$(node_addr "$i") CPUs=$(nproc) RealMemory=1000 State=UNKNOWN"
    done
    # GraceTime: a preempted job has SIGTERM and 10 s to stop before it is killed.
    echo "PartitionName=mn Nodes=node[1-$NODES] Default=YES MaxTime=INFINITE State=UP" \
        "PriorityTier=1 GraceTime=10"
    echo "PartitionName=urgent Nodes=node[1-$NODES] Default=NO MaxTime=INFINITE State=UP" \
        "PriorityTier=2 PreemptMode=OFF"
}

# Every node is in both partitions: ask about one, or each node is counted twice.
idle_nodes() { sinfo -h -N -p mn -o '%T' 2>/dev/null | grep -c '^idle$' || true; }
# responding: every configured node has registered and is not DOWN/not responding.
responding() {
    local states
    states=$(sinfo -h -N -p mn -o '%T' 2>/dev/null) || return 1
    [[ $(grep -c . <<<"$states") == "$NODES" ]] && ! grep -qE '\*|down|unknown|fail' <<<"$states"
}

start_slurmd() {
    local i=$1
    mkdir -p "$D/spool/node$i"
    # nsenter --net, not "ip netns exec": that remounts /sys and slurmd loses the cgroup tree.
    nsenter --net="/run/netns/$(node_ns "$i")" unshare --uts \
        sh -c "hostname node$i && cd / && exec slurmd -N node$i" \
        </dev/null >>"$D/log/console-node$i" 2>&1
}

up() {
    require_root
    for bin in munged mungekey slurmctld slurmd sinfo ip nsenter unshare; do
        command -v "$bin" >/dev/null || die "$bin not found: run install-packages.sh first"
    done
    if ns_exists "$SWITCH"; then
        if ! responding; then
            log "a broken cluster is in the way: taking it down first"
            down
        elif ! render_conf | cmp -s - "$SLURM_CONF"; then
            log "the cluster runs an older configuration: rebuilding it"
            down
        else
            log "already up: $NODES nodes ($SLURM_CONF)"
            return 0
        fi
    fi
    local t0 i
    t0=$(now_ms)
    install -d -m 755 "$D" "$D/etc" "$D/run" "$D/log" "$D/spool" "$D/munge"
    install -d -m 700 "$D/state"
    : >"$D/etc/plugstack.conf"
    render_conf >"$SLURM_CONF.tmp" && chmod 644 "$SLURM_CONF.tmp" && mv "$SLURM_CONF.tmp" "$SLURM_CONF"

    # munged: our own key and socket; a path socket is reachable from every network namespace.
    [[ -s $D/munge/munge.key ]] || mungekey --create --keyfile="$D/munge/munge.key"
    chmod 400 "$D/munge/munge.key"
    munged --force --socket="$MUNGE_SOCKET" --key-file="$D/munge/munge.key" \
        --pid-file="$D/munge/munged.pid" --log-file="$D/log/munged.log" \
        --seed-file="$D/munge/munged.seed"

    ip netns add "$SWITCH"
    ip -n "$SWITCH" link add br0 type bridge
    ip -n "$SWITCH" link set br0 up
    ip link add "$UPLINK" type veth peer name uplink netns "$SWITCH"
    ip -n "$SWITCH" link set uplink master br0 up
    ip addr add "$NET.1/24" dev "$UPLINK"
    ip link set "$UPLINK" up
    for i in $(seq "$NODES"); do
        local ns
        ns=$(node_ns "$i")
        ip netns add "$ns"
        ip -n "$SWITCH" link add "port$i" type veth peer name eth0 netns "$ns"
        ip -n "$SWITCH" link set "port$i" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$(node_addr "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
    done

    ip netns add "$LAPTOP"
    ip link add "$LAPTOP_LINK" type veth peer name eth0 netns "$LAPTOP"
    ip addr add "$LAPTOP_NET.1/24" dev "$LAPTOP_LINK"
    ip link set "$LAPTOP_LINK" up
    ip -n "$LAPTOP" link set lo up
    ip -n "$LAPTOP" addr add "$LAPTOP_NET.2/24" dev eth0
    ip -n "$LAPTOP" link set eth0 up

    # slurmctld starts only where the host name equals SlurmctldHost: a UTS namespace of its own.
    (cd / && unshare --uts sh -c "hostname $CTLD && exec slurmctld" \
        </dev/null >>"$D/log/console-slurmctld" 2>&1)
    for i in $(seq "$NODES"); do
        start_slurmd "$i"
    done
    local deadline=$((SECONDS + ${METALAB_MN_TIMEOUT:-30}))
    until [[ $(idle_nodes) == "$NODES" ]]; do
        if ((SECONDS >= deadline)); then
            sinfo -N >&2 || true
            die "nodes not idle after ${METALAB_MN_TIMEOUT:-30}s (logs: $D/log)"
        fi
        sleep 0.05
    done
    log "$NODES nodes idle in $(secs_since "$t0") s: export SLURM_CONF=$SLURM_CONF"
}

# kill_namespace NS SIGNAL: signal every process in network namespace NS (slurmd, steps, jobs).
kill_namespace() {
    local pid
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        kill "-$2" "$pid" 2>/dev/null || true
    done
}

# stop_pidfile FILE NAME: TERM the daemon FILE names, if it is that daemon.
stop_pidfile() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    alive "$pid" && [[ $(ps -o comm= -p "$pid") == "$2" ]] && kill "$pid" 2>/dev/null || true
}

down() {
    require_root
    local t0 ns namespaces
    t0=$(now_ms)
    namespaces=$(node_namespaces)
    for ns in $namespaces; do kill_namespace "$ns" TERM; done
    stop_pidfile "$D/run/slurmctld.pid" slurmctld
    stop_pidfile "$D/munge/munged.pid" munged
    local deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        local left=""
        for ns in $namespaces; do left+=$(ip netns pids "$ns" 2>/dev/null); done
        [[ -z $left ]] && ! { pid=$(cat "$D/run/slurmctld.pid" 2>/dev/null) && alive "$pid"; } && break
        sleep 0.1
    done
    for ns in $namespaces; do
        kill_namespace "$ns" KILL
        ip netns del "$ns"
    done
    kill_namespace "$LAPTOP" KILL
    ip netns del "$LAPTOP" 2>/dev/null || true
    ip netns del "$SWITCH" 2>/dev/null || true  # takes the bridge and the node veths along
    ip link del "$UPLINK" 2>/dev/null || true
    ip link del "$LAPTOP_LINK" 2>/dev/null || true
    rm -rf "$D/state" "$D/spool" "$D/run" "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$D/munge/munged.pid"
    log "down in $(secs_since "$t0") s"
}

status() {
    ns_exists "$SWITCH" || { echo "down"; return 1; }
    sinfo -N -o '%N %T %o' || return 1
    squeue || true
    responding
}

fail() {
    require_root
    local i=${1:?usage: fail N}
    ns_exists "$(node_ns "$i")" || die "no node $i"
    # Killed first, as a power loss would: a slurmd still answering the controller's RPCs
    # after "state=down" would make the node look alive again.
    local deadline=$((SECONDS + 10))
    while [[ -n $(ip netns pids "$(node_ns "$i")") ]]; do
        ((SECONDS < deadline)) || die "processes of node$i survive SIGKILL"
        kill_namespace "$(node_ns "$i")" KILL
        sleep 0.05
    done
    scontrol update nodename="node$i" state=down reason="metalab fail $i"
    log "node$i: everything that ran there is killed and the node is DOWN"
}

restore() {
    require_root
    local i=${1:?usage: restore N}
    ns_exists "$(node_ns "$i")" || die "no node $i"
    [[ -z $(ip netns pids "$(node_ns "$i")") ]] || die "node$i still runs processes"
    start_slurmd "$i"
    scontrol update nodename="node$i" state=resume 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    until [[ $(sinfo -h -p mn -n "node$i" -o %T) =~ ^(idle|mixed|allocated)$ ]]; do
        ((SECONDS < deadline)) || die "node$i not back after 30 s ($(sinfo -h -p mn -n "node$i" -o %T))"
        sleep 0.1
    done
    log "node$i is back ($(sinfo -h -p mn -n "node$i" -o %T))"
}

case ${1:-} in
    up | down | status) "$1" ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    fail | restore) "$1" "${2:-}" ;;
    *) die "usage: $0 up|down|status|env|fail N|restore N" ;;
esac
