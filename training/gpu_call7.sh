#!/bin/bash
# GPU call 7 (issue 9): demo matrices of the new [EMB] model (model B of call 6) in exact float32
# (TF32 off): 600 anchors (training/make_anchors_emb.py) + the 441 test queries of assets/demo
# x 11,587 noun.artifact items; 256 sampled pairs re-scored by transformers CPU f32.
# assets/ moved out of the tree for the call (64 MiB limit); the demo jsonl files travel in
# scratch/issue9/demo_in. carry: scratch/issue9/wordnet-minilm-emb scratch/issue9/demo_in
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
nvidia-smi -L
set -o pipefail
D=scratch/issue9/demo_in
timeout 575 python3 training/gpu_f32_demo.py --model scratch/issue9/wordnet-minilm-emb --demo $D \
  --anchors $D/anchor_queries_emb.jsonl --tests $D/test_queries.jsonl \
  --out $OUT --deadline 500 --tokens 500000 --check 256 2>&1 | tee $OUT/f32.log
ls -la $OUT
