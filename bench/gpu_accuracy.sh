#!/usr/bin/env bash
# The fit's accuracy figures on a GPU machine in one go (issues 4 and 7): choose the cold
# fit's turned starts on validation people and store them in the model file
# (bench/fit_hypotheses.py --store), then the rule that chooses among them behind the
# worst square (bench/hypothesis_choice.py --store), evaluate the model on the held-out test
# (bench/network_eval.py: its card), then the occlusion benchmark's own methods
# (bench/occlusion_benchmark.py; MediaPipe, which has no wheel there, joins on the CPU
# with --methods mediapipe --merge). Each part has its own time limit; PACK=FILE.tgz packs
# the results, the model file and the logs after every part; the occlusion part gets what
# is left of DEADLINE seconds (default 500) from the script's start.
#     PACK=$OUT/accuracy.tgz bash bench/gpu_accuracy.sh [IMAGES] [STRIDE]
set -u
images=${1:-8} stride=${2:-20}
logs=${LOGS:-$(mktemp -d)}
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
pack() {
    tar czf "$PACK" bench/results/fit_hypotheses.* bench/results/hypothesis_choice.* \
        bench/results/accuracy.* \
        bench/results/network_eval.png models/nbf_anny_net.* -C "$logs" . 2>/dev/null
}
TAIL_LINES=24
source "$(dirname "$0")/gpu_part.sh"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
part fit_hypotheses 150 python3 bench/fit_hypotheses.py --device cuda --count 64 \
    --weights 0 0.3 1 --store
part hypothesis_choice 150 python3 bench/hypothesis_choice.py --device cuda --people 24 \
    --stride 40 --batch 32 --store
history=$(sed -n 's/^- history: //p' models/nbf_anny_net.card.md)  # the card keeps it
part network_eval 150 python3 bench/network_eval.py --count 64 --device cuda \
    --note "${history:+$history; }cold fits' turned starts and their choice set by bench/fit_hypotheses.py and bench/hypothesis_choice.py --store"
part occlusion $(( ${DEADLINE:-500} - SECONDS )) python3 bench/occlusion_benchmark.py \
    --images "$images" --stride "$stride" --device cuda --methods regression full-fit plain-fit
