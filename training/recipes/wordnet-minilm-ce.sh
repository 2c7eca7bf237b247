#!/usr/bin/env bash
# Recipe of assets/models/wordnet-minilm-ce, relex's [CLS] cross-encoder: the flags of the run
# that produced the shipped weights, with its step count pinned (that run stopped its schedule at
# 3,740 steps by a wall-clock budget; --max-steps 3740 --train-budget 100000 gives the same
# schedule and data stream, which depend only on seed and step), and the evaluations its model
# card reports.
#
#   training/recipes/wordnet-minilm-ce.sh [STEP ...] [-- EXTRA train_ce.py FLAGS]
#
# Steps (default: train export full tfidf natural):
#   train     GPU (one H100: 145 s of training): train_ce.py --arch ce; bi-encoder
#             baseline, rerank of its top-256 (test) / top-64 (dev), marked and plain queries,
#             full-domain Top-1 on 150 queries of three test domains, and the demo domain's fp16
#             matrices (400 anchor + 441 test rows; demo-data.sh `files` reads them)
#             -> OUT/train/{metrics_ce.json, model_ce/, anchor_scores_ce.npy, test_scores_ce.npy}
#   export    CPU: the Hugging Face folder MODEL (f16, relex keys in config.json) + the WordNet license
#   full      GPU: MODEL scores every query of each test domain against every item of that
#             domain (fp16 autocast) -> OUT/full/metrics_ce.json (the card's full-domain table)
#   tfidf     CPU: the TF-IDF baseline of the card's tables -> OUT/tfidf.json
#   natural   CPU: the natural-sentence evaluation of MODEL -> OUT/natural.json
#   lemma     CPU: all senses of the lemma on the dev domains -> OUT/lemma_senses_dev.json
#   cur       CPU: spectrum / CUR / ANNCUR analysis of the demo matrices of this run and of the
#             [EMB] variant in CUR_EMB (a run of this recipe with `-- --arch emb --full-domains ''`)
#             -> OUT/cur_analysis.json
#
# Environment:
#   WORK      (required) the folder training/prepare_data.sh wrote
#   OUT       run folder (default WORK/runs/wordnet-minilm-ce)
#   MODEL     exported model folder (default OUT/wordnet-minilm-ce; to replace the shipped one,
#             MODEL=assets/models/wordnet-minilm-ce)
#   CUR_EMB   run folder of the [EMB] variant, for `cur` (its train/anchor_scores_emb.npy, ...)
#   WORKERS   data-loader processes (default 12; the data do not depend on it)
#   DEADLINE  seconds after which train_ce.py skips the evaluations left (default: no limit)
#   SMOKE=N   a tiny CPU run to check the recipe (train_ce.py --smoke N)
set -euo pipefail
# shellcheck source=training/recipes/_lib.sh
source "$(dirname "$0")/_lib.sh"
parse_steps train export full tfidf natural -- "$@"
OUT=${OUT:-$WORK/runs/wordnet-minilm-ce}
MODEL=${MODEL:-$OUT/wordnet-minilm-ce}
mkdir -p "$OUT"

for s in "${STEPS[@]}"; do
    case $s in
    train)
        step "train -> $OUT/train"
        python3 "$T/train_ce.py" --arch ce --data "$WORK/data" --base "$WORK/base" --out "$OUT/train" \
            --seed 13 --epochs 2 --group 32 --qbatch 16 --lr 5e-5 --max-steps 3740 --train-budget 100000 \
            --workers "${WORKERS:-12}" --rerank-k 256 \
            --demo-domain noun.artifact --demo-anchors 400 --demo-max-test 441 \
            --full-domains noun.person,noun.act,noun.communication --full-max-queries 150 \
            --plain-eval --deadline "$DEADLINE" $(smoke_flags) ${EXTRA[@]+"${EXTRA[@]}"} 2>&1 | tee "$OUT/train.log"
        ;;
    export)
        step "export -> $MODEL"
        python3 "$T/export_model.py" --ckpt "$OUT/train/model_ce" --base "$WORK/base" --out "$MODEL"
        [ -f "$MODEL/LICENSE-WordNet.txt" ] || cp assets/demo/LICENSE-WordNet.txt "$MODEL/"
        ;;
    full)
        step "full-domain eval of $MODEL -> $OUT/full"
        python3 "$T/train_ce.py" --arch ce --data "$WORK/data" --base "$MODEL" --init "$MODEL" --no-biencoder \
            --out "$OUT/full" --full-domains noun.artifact,noun.person,noun.act,noun.communication \
            --deadline "$DEADLINE" $(smoke_flags) 2>&1 | tee "$OUT/full.log"
        rm -rf "$OUT/full/_tok"
        ;;
    tfidf)
        step "TF-IDF baseline -> $OUT/tfidf.json"
        python3 "$T/baselines_tfidf.py" --data "$WORK/wordnet" > "$OUT/tfidf.json"
        ;;
    natural)
        step "natural sentences: $MODEL -> $OUT/natural.json"
        python3 "$T/eval_natural.py" --model "$MODEL" --data "$WORK/wordnet" --json "$OUT/natural.json"
        ;;
    lemma)
        step "all senses of the lemma, dev: $MODEL -> $OUT/lemma_senses_dev.json"
        python3 "$T/eval_lemma_senses.py" --model "$MODEL" --data "$WORK/wordnet" --splits dev \
            --json "$OUT/lemma_senses_dev.json"
        ;;
    cur)
        : "${CUR_EMB:?set CUR_EMB to the run folder of the [EMB] variant}"
        step "CUR analysis -> $OUT/cur_analysis.json"
        python3 "$T/cur_analysis.py" \
            --name ce --anchor "$OUT/train/anchor_scores_ce.npy" --test "$OUT/train/test_scores_ce.npy" \
            --name emb --anchor "$CUR_EMB/train/anchor_scores_emb.npy" --test "$CUR_EMB/train/test_scores_emb.npy" \
            --out "$OUT/cur_analysis.json"
        ;;
    *) echo "unknown step $s (train, export, full, tfidf, natural, lemma, cur)" >&2; exit 2 ;;
    esac
done
