#!/usr/bin/env bash
# The GPU speed figures of bench/results/speed_cuda_*.md and profile_frame_cuda.txt in one
# go (issue 6): the CUDA tests of the graph replay, the compiled fitting step at 1, 4 and 16
# people with a reduced step budget (also pipelined), a per-part profile of one tracked
# frame, the pipeline table with the 3DNBF reference, and the eager-step reduced table.
# Each part has its own time limit, so one that hangs or fails leaves the others' results.
# On an H200 (2026-11-26) the parts took about 40, 120, 40, 60 and 40 s.
#     bash bench/gpu_speed.sh [OUT_DIR]        (default bench/results)
# SUFFIX=_h100 appends to each table's name, so that one card's tables keep another's;
# PACK=FILE.tgz re-packs the tables and logs after every part, so that a device call cut
# short still returns what finished, in one file.
set -u
out=${1:-bench/results}
logs=${LOGS:-$(mktemp -d)}  # one log per part
suffix=${SUFFIX:-}
mkdir -p "$out" "$logs"
echo "logs in $logs"
export PYTHONUNBUFFERED=1
pack() { tar czf "$PACK" -C "$out" . -C "$logs" .; }
source "$(dirname "$0")/gpu_part.sh"
bench=(python3 -m nbf_ros.cli bench --device cuda --engine torch --frames 20 --out "$out" --quiet)
reduced=(--no-reference --sizes 640x480 --param tracking_iterations=5 --pipelined)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
part cuda_tests 80 python3 -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
    tests/test_graph_replay.py tests/fitting/test_fitter.py tests/nbv/test_renderer.py \
    tests/pipeline/test_pipeline.py -k "cuda or graph or replay or Cuda"
part speed_compiled_reduced 180 "${bench[@]}" --tag "torch_compiled_reduced$suffix" "${reduced[@]}" \
    --people 1 4 16 --param fit_compile=true
part profile 80 python3 bench/profile_frame.py --param engine=torch \
    --param tracking_iterations=5 --param fit_compile=true
cp "$logs/profile.log" "$out/profile_frame_cuda$suffix.txt"
part speed_torch 130 "${bench[@]}" --tag "torch$suffix"
part speed_reduced 80 "${bench[@]}" --tag "torch_reduced$suffix" "${reduced[@]}"
