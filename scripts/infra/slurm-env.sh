# shellcheck shell=bash
# Where the suite's private SLURM test cluster lives (sourced by start-slurm.sh, stop-slurm.sh
# and scripts/test.sh). Nothing here is the system's: its own SLURM_CONF, munged (own key and
# socket), ports, state, spool, pid and log files, and cluster name. A system SLURM on the same
# machine (/etc/slurm, ports 6817/6818, /run/munge) keeps running untouched beside it.
# Override the directory with METALAB_SLURM_DIR and the controller's port with
# METALAB_SLURM_PORT (slurmd listens on the next one up).
METALAB_SLURM_DIR=${METALAB_SLURM_DIR:-/var/lib/metalab-slurm}
METALAB_SLURM_PORT=${METALAB_SLURM_PORT:-17817}
METALAB_SLURM_CLUSTER=${METALAB_SLURM_CLUSTER:-metalabtest}
export SLURM_CONF=$METALAB_SLURM_DIR/etc/slurm.conf
