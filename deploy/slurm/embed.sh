#!/usr/bin/env bash
# Embeds a dataset on N GPU nodes as a Slurm job array, then merges the shard
# caches in a job that starts once every shard has succeeded.
#
#   bash deploy/slurm/embed.sh /shared/ultrafeedback llama-3-8b-rm 8
#
# Assumes ser on PATH, SER_HOME on a shared file system holding the backbone,
# and ORT_LIB pointing at an ONNX Runtime 1.29 core with its CUDA provider
# beside it. A preempted task resumes from its own cache file when requeued.
set -euo pipefail
DATA=${1:?data folder or file}
MODEL=${2:-default}
N=${3:-8}
SHARDS=${SER_HOME:?set SER_HOME}/shards
mkdir -p "$SHARDS"
array=$(sbatch --parsable --array=0-$((N - 1)) --gres=gpu:1 --requeue --job-name=ser-embed \
  --output="$SHARDS/embed-%a.log" \
  --wrap="ser --device cuda --quiet embed --model '$MODEL' --data '$DATA' --shard \${SLURM_ARRAY_TASK_ID}/$N --cache '$SHARDS'/shard-\${SLURM_ARRAY_TASK_ID}.feat")
sbatch --dependency=afterok:"$array" --job-name=ser-merge --output="$SHARDS/merge.log" \
  --wrap="ser cache merge --model '$MODEL' '$SHARDS'/shard-*.feat"
echo "submitted: array $array ($N shards), then the merge"
