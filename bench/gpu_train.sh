#!/usr/bin/env bash
# Continue training the default model on a GPU for a fixed time (issue 4) and install it as
# models/nbf_anny_net.pt; evaluate it afterwards with bench/gpu_accuracy.sh (its card, the
# occlusion benchmark). It starts from a model file (default the shipped one, so a fresh
# clone holds all it needs: `nbf-ros train --init`, new scenes only, the fit settings carried
# over) or resumes a run folder holding checkpoint.pt and log.csv.
#     bash bench/gpu_train.sh MINUTES [FROM] [OUT_DIR]
# OUT_DIR (default runs/gpu) receives the run. DEVICE (default cuda), STEPS (the cosine's
# length, default 8000) and BATCH (default 32) override; PACK=FILE.tgz packs the installed
# model file, the run's log and its loss plot. Checked on the CPU with DEVICE=cpu.
set -u
minutes=$1 from=${2:-models/nbf_anny_net.pt} out=${3:-runs/gpu}
if [ -d "$from" ]; then
    mkdir -p "$out"
    cp "$from/checkpoint.pt" "$from/log.csv" "$out/" || exit 1
    start=(--resume)
else
    start=(--init "$from")
fi
export PYTHONUNBUFFERED=1
# Scenes are rendered on the CPU: every core but two renders.
workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
began=$SECONDS
python3 -m nbf_ros.cli train "${start[@]}" --out "$out" --steps "${STEPS:-8000}" \
    --batch "${BATCH:-32}" --workers "$workers" --minutes "$minutes" \
    --device "${DEVICE:-cuda}" --install models/nbf_anny_net.pt --quiet 2>&1 | tail -n 5
status=${PIPESTATUS[0]}
echo "train: exit $status after $((SECONDS - began)) s"
[ -z "${PACK:-}" ] || tar czf "$PACK" models/nbf_anny_net.pt -C "$out" log.csv losses.png
exit "$status"
