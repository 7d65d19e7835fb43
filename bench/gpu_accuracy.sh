#!/usr/bin/env bash
# The fit's accuracy figures on a GPU machine in one go (issues 4 and 7): optionally
# re-choose the model's fit objective (fit_settings, not run unless named), choose the cold
# fit's turned starts on validation people and store them in the model file
# (fit_hypotheses: bench/fit_hypotheses.py --store), then the rule that chooses among them
# behind the worst square, whether to blend them instead and how far to heed the turn head
# (hypothesis_choice: bench/hypothesis_choice.py --store, then --store-blend on the same
# fits), evaluate
# the model on the held-out test (network_eval: its card), then the occlusion benchmark's
# own methods (occlusion: bench/occlusion_benchmark.py; MediaPipe, which has no wheel there,
# joins on the CPU with --methods mediapipe --merge). PARTS names the parts to run (default
# "fit_hypotheses hypothesis_choice network_eval occlusion"). Each part has its own time
# limit; PACK=FILE.tgz packs the results, the model file and the logs after every part; the
# occlusion part gets what is left of DEADLINE seconds (default 500) from the script's start.
#     PACK=$OUT/accuracy.tgz bash bench/gpu_accuracy.sh [IMAGES] [STRIDE]
set -u
images=${1:-8} stride=${2:-20}
parts=" ${PARTS:-fit_hypotheses hypothesis_choice network_eval occlusion} "
logs=${LOGS:-$(mktemp -d)}
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
pack() {
    tar czf "$PACK" bench/results/fit_settings.* bench/results/fit_hypotheses.* \
        bench/results/hypothesis_choice.* bench/results/accuracy.* \
        bench/results/network_eval.png models/nbf_anny_net.* -C "$logs" . 2>/dev/null
}
TAIL_LINES=24
source "$(dirname "$0")/gpu_part.sh"
chosen=()  # what this call stored in the model file, for the card's history
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [[ $parts == *" fit_settings "* ]]; then
    part fit_settings 120 python3 bench/fit_settings.py --device cuda --store
    chosen+=("fit objective re-chosen by bench/fit_settings.py --store")
fi
if [[ $parts == *" fit_hypotheses "* ]]; then
    part fit_hypotheses 150 python3 bench/fit_hypotheses.py --device cuda --count 64 \
        --weights 0 0.3 1 --store
    chosen+=("cold fits' turned starts set by bench/fit_hypotheses.py --store")
fi
if [[ $parts == *" hypothesis_choice "* ]]; then
    # The fits are kept (outside the logs: tens of MB that PACK must not carry), so that
    # the blend is chosen by the stored weights in seconds.
    fits=$(mktemp -d)/hypothesis_choice_fits.pt
    part hypothesis_choice 150 python3 bench/hypothesis_choice.py --device cuda --people 24 \
        --stride 40 --batch 32 --fits "$fits" --store
    part hypothesis_blend 120 python3 bench/hypothesis_choice.py --device cuda --people 24 \
        --stride 40 --batch 32 --fits "$fits" --store-blend
    chosen+=("the choice among them, its blend and its turn prior set by "
             "bench/hypothesis_choice.py --store, then --store-blend")
fi
if [[ $parts == *" network_eval "* ]]; then
    history=$(sed -n 's/^- history: //p' models/nbf_anny_net.card.md)  # the card keeps it
    note=$history
    for item in "${chosen[@]}"; do note="${note:+$note; }$item"; done
    part network_eval 150 python3 bench/network_eval.py --count 64 --device cuda \
        ${note:+--note "$note"}
fi
if [[ $parts == *" occlusion "* ]]; then
    part occlusion $(( ${DEADLINE:-500} - SECONDS )) python3 bench/occlusion_benchmark.py \
        --images "$images" --stride "$stride" --device cuda \
        --methods regression full-fit plain-fit
fi
