#!/usr/bin/env bash
# Continue training the default model on a GPU for a fixed time, then choose its fit
# settings and evaluate it on the held-out test (issue 4), leaving models/ untouched.
# Its steps were checked on the CPU (train --resume --minutes, fit_settings --device);
# it has not run on a GPU yet.
#     bash bench/gpu_train.sh CHECKPOINT_RUN MINUTES [OUT_DIR]
# CHECKPOINT_RUN holds checkpoint.pt and log.csv of the run to continue (runs/upright);
# the new run, its model file, card and fit settings land in OUT_DIR (default runs/gpu).
set -u
from=$1 minutes=$2 out=${3:-runs/gpu}
mkdir -p "$out"
cp "$from/checkpoint.pt" "$from/log.csv" "$out/"
export PYTHONUNBUFFERED=1
workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
began=$SECONDS
python3 -m nbf_ros.cli train --resume --out "$out" --steps 6000 --batch 32 \
    --workers "$workers" --minutes "$minutes" --device cuda --quiet 2>&1 | tail -n 5
echo "train: $((SECONDS - began)) s"
[ -f "$out/model.pt" ] || exit 1
timeout 120 python3 bench/fit_settings.py --model "$out/model.pt" --device cuda --store \
    2>&1 | tail -n 14
timeout 150 python3 bench/network_eval.py --model "$out/model.pt" --count 64 --device cuda \
    --note "continued on the GPU from the CPU run for $minutes min (bench/gpu_train.sh)" \
    2>&1 | tail -n 30
cp bench/results/fit_settings.md bench/results/fit_settings.json "$out/" 2>/dev/null
echo "all: $((SECONDS - began)) s"
