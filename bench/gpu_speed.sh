#!/usr/bin/env bash
# The GPU speed figures of bench/results/speed_cuda_*.md and engines_cuda.md in one go
# (issue 6): the pipeline table with the 3DNBF reference, a reduced step budget, the
# compiled fitting step at one person, and the feature network per engine. Each part has its
# own time limit, so one that hangs or fails leaves the others' results. On an H200
# (2026-11-26) the parts took about 45, 20, 30 and 65 s, before the reduced and compiled parts
# also measured the pipelined layout (--pipelined: network of frame t+1 on a second thread
# while frame t is fitted), which has not run on a GPU yet.
#     bash bench/gpu_speed.sh [OUT_DIR]        (default bench/results)
set -u
out=${1:-bench/results}
logs=${LOGS:-$(mktemp -d)}  # one log per part
mkdir -p "$out" "$logs"
echo "logs in $logs"
export PYTHONUNBUFFERED=1
part() {  # part NAME SECONDS COMMAND...: run with a limit, log, report its exit status
    local name=$1 limit=$2; shift 2
    local began=$SECONDS
    timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    echo "$name: exit $? after $((SECONDS - began)) s"
    tail -n 14 "$logs/$name.log"
}
bench=(python3 -m nbf_ros.cli bench --device cuda --engine torch --frames 20 --out "$out" --quiet)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
part speed_torch 150 "${bench[@]}" --tag torch
part speed_reduced 130 "${bench[@]}" --tag torch_reduced --no-reference --sizes 640x480 \
    --param tracking_iterations=5 --pipelined
part speed_compiled_reduced 150 "${bench[@]}" --tag torch_compiled_reduced --no-reference \
    --people 1 --sizes 640x480 --param fit_compile=true --param tracking_iterations=5 --pipelined
part engines 100 python3 bench/engines.py --device cuda --runs 50 --engines torch compiled \
    --out "$out"
