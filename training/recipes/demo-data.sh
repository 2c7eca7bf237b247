#!/usr/bin/env bash
# Recipe of assets/demo/ (the noun.artifact demo world) and of the two shipped models' golden
# parity files: the demo's items and query split, every (query, item) score of each shipped
# model in exact float32 on a GPU (TF32 off), stored once as f16 in an index per model and in
# test_scores.npy, a CPU spot check against relex, and the goldens.
#
#   training/recipes/demo-data.sh [STEP ...]
#
# Steps (default: all, in this order):
#   files        CPU: items.jsonl (11,587 noun.artifact synsets), test_queries.jsonl (441) and the
#                [CLS] index's 400 anchor queries (DEMO/anchor_queries.jsonl until emb-anchors) from
#                the corpus and the demo split of the [CLS] model's training run (CE_RUN, written
#                by wordnet-minilm-ce.sh train); make_demo.py
#   ce-scores    GPU: the [CLS] model's 841 x 11,587 scores in f32 (gpu_f32_demo.py, 256 pairs
#                re-scored by transformers on CPU) -> OUT/f32/{anchor,test}_scores_f32.npy, their f16
#                rounding in OUT/f16/; `relex index import` -> DEMO/index-wordnet-minilm-ce
#   emb-anchors  CPU: the [EMB] index's 500 anchor queries (the 400 + the domain's other 100 located
#                examples; make_anchors_emb.py --n-pseudo 0) -> DEMO/anchor_queries.jsonl
#   emb-scores   GPU: the [EMB] model's 941 x 11,587 scores in f32 -> OUT/f32/*_emb_f32.npy;
#                DEMO/test_scores.npy (f16); `relex index import` -> DEMO/index-wordnet-minilm-emb
#   check        CPU: scripts/spot_check_demo.py on both indexes and test matrices against relex
#                (1,200 entries each, f32 and f16 bounds) -> OUT/spot_check_{emb,ce}.json
#   golden       CPU: tests/data/generators/make_golden.py for both models -> GOLDEN_DIR
#
# Environment:
#   WORK        (required) the folder training/prepare_data.sh wrote (files, emb-anchors)
#   OUT         run folder (default WORK/runs/demo-data)
#   DEMO        the demo folder written (default OUT/demo; DEMO=assets/demo rewrites the shipped one:
#               the index manifests record the items path as given, assets/demo/items.jsonl)
#   CE_RUN      the [CLS] model's training run folder (default WORK/runs/wordnet-minilm-ce/train)
#   CE_MODEL    (default assets/models/wordnet-minilm-ce)
#   EMB_MODEL   (default assets/models/wordnet-minilm-emb)
#   RELEX       relex binary, CPU build for check, any build for index import
#               (default target/release/relex; `cargo build --release`)
#   GOLDEN_DIR  where golden writes wordnet_{emb,ce}_golden.json (default OUT/golden;
#               GOLDEN_DIR=tests/data replaces the fixtures)
#   DEADLINE    seconds after which gpu_f32_demo.py stops scoring (rows left are NaN; default: no limit)
set -euo pipefail
# shellcheck source=training/recipes/_lib.sh
source "$(dirname "$0")/_lib.sh"
parse_steps files ce-scores emb-anchors emb-scores check golden -- "$@"
[ ${#EXTRA[@]} -eq 0 ] || { echo "demo-data.sh takes no extra flags" >&2; exit 2; }
OUT=${OUT:-$WORK/runs/demo-data}
DEMO=${DEMO:-$OUT/demo}
CE_RUN=${CE_RUN:-$WORK/runs/wordnet-minilm-ce/train}
CE_MODEL=${CE_MODEL:-assets/models/wordnet-minilm-ce}
EMB_MODEL=${EMB_MODEL:-assets/models/wordnet-minilm-emb}
RELEX=${RELEX:-target/release/relex}
GOLDEN_DIR=${GOLDEN_DIR:-$OUT/golden}
CE_ANCHORS="$OUT/anchor_queries_ce.jsonl"
mkdir -p "$OUT" "$DEMO"

f32_scores() {  # f32_scores MODEL ANCHORS CHUNK_DIR SUFFIX: exact f32 rows -> OUT/f32, f16 -> OUT/f16
    python3 "$T/gpu_f32_demo.py" --model "$1" --demo "$DEMO" --anchors "$2" --tests "$DEMO/test_queries.jsonl" \
        --out "$3" --deadline "$DEADLINE" --tokens 500000 --check 256 2>&1 | tee "$3.log"
    mkdir -p "$OUT/f16"
    python3 "$T/store_f32_demo.py" --chunks "$3" --f32-out "$OUT/f32" --demo "$OUT/f16" \
        --anchors "$(grep -c . "$2")" --tests "$(grep -c . "$DEMO/test_queries.jsonl")" --suffix "$4"
}

for s in "${STEPS[@]}"; do
    case $s in
    files)
        step "demo files -> $DEMO"
        python3 "$T/make_demo.py" --data "$WORK/wordnet" --metrics "$CE_RUN/metrics_ce.json" \
            --anchor "$CE_RUN/anchor_scores_ce.npy" --test "$CE_RUN/test_scores_ce.npy" --out "$OUT/make_demo"
        cp "$OUT/make_demo/items.jsonl" "$OUT/make_demo/test_queries.jsonl" "$OUT/make_demo/anchor_queries.jsonl" "$DEMO/"
        [ -f "$DEMO/LICENSE-WordNet.txt" ] || cp assets/demo/LICENSE-WordNet.txt "$DEMO/"
        ;;
    ce-scores)
        step "[CLS] model, exact f32 demo scores -> $DEMO/index-wordnet-minilm-ce"
        head -n 400 "$DEMO/anchor_queries.jsonl" > "$CE_ANCHORS"
        f32_scores "$CE_MODEL" "$CE_ANCHORS" "$OUT/ce_chunks" ""
        "$RELEX" index import --model "$CE_MODEL" --items "$DEMO/items.jsonl" --anchor-queries "$CE_ANCHORS" \
            --scores "$OUT/f32/anchor_scores_f32.npy" --out "$DEMO/index-wordnet-minilm-ce"
        ;;
    emb-anchors)
        step "[EMB] anchor queries -> $DEMO/anchor_queries.jsonl"
        python3 "$T/make_anchors_emb.py" --data "$WORK/wordnet" --demo "$DEMO" --n-pseudo 0 \
            --out "$OUT/anchor_queries_emb.jsonl"
        cp "$OUT/anchor_queries_emb.jsonl" "$DEMO/anchor_queries.jsonl"
        ;;
    emb-scores)
        step "[EMB] model, exact f32 demo scores -> $DEMO/index-wordnet-minilm-emb, $DEMO/test_scores.npy"
        f32_scores "$EMB_MODEL" "$DEMO/anchor_queries.jsonl" "$OUT/emb_chunks" _emb
        cp "$OUT/f16/test_scores_emb.npy" "$DEMO/test_scores.npy"
        "$RELEX" index import --model "$EMB_MODEL" --items "$DEMO/items.jsonl" \
            --anchor-queries "$DEMO/anchor_queries.jsonl" \
            --scores "$OUT/f32/anchor_scores_emb_f32.npy" --out "$DEMO/index-wordnet-minilm-emb"
        ;;
    check)
        step "spot checks against $RELEX -> $OUT/spot_check_{emb,ce}.json"
        python3 scripts/spot_check_demo.py --relex "$RELEX" --demo "$DEMO" --model "$EMB_MODEL" \
            --index "$DEMO/index-wordnet-minilm-emb" --test-scores "$DEMO/test_scores.npy" \
            --f32-anchor "$OUT/f32/anchor_scores_emb_f32.npy" --f32-test "$OUT/f32/test_scores_emb_f32.npy" \
            | tee "$OUT/spot_check_emb.json"
        python3 scripts/spot_check_demo.py --relex "$RELEX" --demo "$DEMO" --model "$CE_MODEL" \
            --index "$DEMO/index-wordnet-minilm-ce" --test-scores "$OUT/f16/test_scores.npy" \
            --f32-anchor "$OUT/f32/anchor_scores_f32.npy" --f32-test "$OUT/f32/test_scores_f32.npy" \
            | tee "$OUT/spot_check_ce.json"
        ;;
    golden)
        step "golden parity pairs -> $GOLDEN_DIR"
        python3 tests/data/generators/make_golden.py --model "$EMB_MODEL" --demo "$DEMO" \
            --matrix "$OUT/f32/test_scores_emb_f32.npy" --matrix-key gpu_f32_matrix_score \
            --out "$GOLDEN_DIR/wordnet_emb_golden.json"
        # the [CLS] golden records the fp16-autocast test matrix of the model's training run
        python3 tests/data/generators/make_golden.py --model "$CE_MODEL" --demo "$DEMO" \
            --matrix "$CE_RUN/test_scores_ce.npy" --out "$GOLDEN_DIR/wordnet_ce_golden.json"
        ;;
    *) echo "unknown step $s (files, ce-scores, emb-anchors, emb-scores, check, golden)" >&2; exit 2 ;;
    esac
done
