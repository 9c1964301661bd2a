#!/bin/bash
#SBATCH --job-name=metalab-sweep
#SBATCH --array=0-199%2
#SBATCH --partition=gpu
#SBATCH --time=4:00:00
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --ntasks=1
#SBATCH --account=lab
#SBATCH --mail-user=me@example.org

set -eo pipefail
export METALAB_WORKER=1
export JAVA_HOME=/opt/java
export WANDB_MODE=offline
module load cuda/12.1
module load python/3.11
eval "$(conda shell.bash hook)"
conda activate 'my env'
export OMP_NUM_THREADS=2
exec /opt/venv/bin/python -m metalab.executor.slurm_task /shared/exp/slurm/20260101-000000-abcdef 1000 "$SLURM_ARRAY_TASK_ID"
