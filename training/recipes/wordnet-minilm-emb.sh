#!/usr/bin/env bash
# Recipe of assets/models/wordnet-minilm-emb, relex's default model ([EMB] / w_embeds pooling, v2):
# the flags of the run that produced the shipped weights, with its step count pinned
# (that run stopped its schedule at 5,108 steps by a wall-clock budget; --max-steps 5108
# --train-budget 100000 gives the same schedule and data stream, which depend only on seed and step).
#
#   training/recipes/wordnet-minilm-emb.sh [STEP ...] [-- EXTRA train_ce.py FLAGS]
#
# Steps (default: train export natural):
#   train    GPU (one H200: 163 s of training, 355 s in all): train_ce.py --arch emb
#            with the POS cue, test domains held out of queries and negatives; evaluates dev/test
#            rerank, all senses of the lemma, the 162 natural sentences and the demo domain
#            (400 anchor + 441 test rows, fp16 autocast), then ANNCUR on those rows (anncur_quick.py).
#            -> OUT/train/{metrics_emb.json, model_emb/, anchor_scores_emb.npy, test_scores_emb.npy},
#               OUT/anncur.json, OUT/train.log
#   export   CPU: the Hugging Face folder MODEL (f16, relex keys in config.json, last LayerNorm x 1/4,
#            so every score is exactly 1/16 of the trained model's) + the WordNet license
#   natural  CPU: the natural-sentence evaluation of MODEL (transformers f32) -> OUT/natural.json
# The model card (assets/models/wordnet-minilm-emb/README.md) is written by hand; the demo
# matrices and index of the model come from training/recipes/demo-data.sh emb-anchors emb-scores.
#
# Environment:
#   WORK      (required) the folder training/prepare_data.sh wrote
#   OUT       run folder (default WORK/runs/wordnet-minilm-emb)
#   MODEL     exported model folder (default OUT/wordnet-minilm-emb; to replace the shipped one,
#             MODEL=assets/models/wordnet-minilm-emb)
#   DEMO      demo files for anncur_quick.py (default assets/demo)
#   CUE       item-text cue flags (default --pos-cue; '' for none; the experiments also use
#             '--pos-cue --domain-cue' and '--pos-cue --hypernym-cue'); passed to train and natural
#   WORKERS   data-loader processes (default 10; the data do not depend on it)
#   DEADLINE  seconds after which train_ce.py skips the evaluations left (default: no limit)
#   SMOKE=N   a tiny CPU run to check the recipe (train_ce.py --smoke N; skips anncur)
set -euo pipefail
# shellcheck source=training/recipes/_lib.sh
source "$(dirname "$0")/_lib.sh"
parse_steps train export natural -- "$@"
OUT=${OUT:-$WORK/runs/wordnet-minilm-emb}
MODEL=${MODEL:-$OUT/wordnet-minilm-emb}
DEMO=${DEMO:-assets/demo}
read -ra CUE_FLAGS <<< "${CUE---pos-cue}"
mkdir -p "$OUT"

for s in "${STEPS[@]}"; do
    case $s in
    train)
        step "train -> $OUT/train"
        python3 "$T/train_ce.py" --arch emb --data "$WORK/data" --base "$WORK/base" --out "$OUT/train" \
            --seed 13 --epochs 4 --max-steps 5108 --train-budget 100000 \
            --group 32 --qbatch 16 --lr 5e-5 --plain-frac 0.2 --neg-exclude-splits test \
            ${CUE_FLAGS[@]+"${CUE_FLAGS[@]}"} --same-max 16 --workers "${WORKERS:-10}" --rerank-k 256 \
            --lemma-eval --natural "$T/natural_sentences.jsonl" --late-test-rerank \
            --demo-domain noun.artifact --demo-anchors 400 --demo-max-test 441 --deadline "$DEADLINE" \
            $(smoke_flags) ${EXTRA[@]+"${EXTRA[@]}"} 2>&1 | tee "$OUT/train.log"
        if [ -z "${SMOKE:-}" ] && [ -f "$OUT/train/anchor_scores_emb.npy" ]; then
            python3 "$T/anncur_quick.py" --demo "$DEMO" --name run --anchor "$OUT/train/anchor_scores_emb.npy" \
                --test "$OUT/train/test_scores_emb.npy" --out "$OUT/anncur.json"
        fi
        ;;
    export)
        step "export -> $MODEL"
        python3 "$T/export_model.py" --ckpt "$OUT/train/model_emb" --base "$WORK/base" --out "$MODEL" \
            --arch emb --scale-last-ln 0.25
        [ -f "$MODEL/LICENSE-WordNet.txt" ] || cp assets/demo/LICENSE-WordNet.txt "$MODEL/"
        ;;
    natural)
        step "natural sentences: $MODEL -> $OUT/natural.json"
        python3 "$T/eval_natural.py" --model "$MODEL" ${CUE_FLAGS[@]+"${CUE_FLAGS[@]}"} \
            --data "$WORK/wordnet" --json "$OUT/natural.json"
        ;;
    *) echo "unknown step $s (train, export, natural)" >&2; exit 2 ;;
    esac
done
