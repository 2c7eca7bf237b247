#!/bin/bash
# GPU call 5: recompute the demo matrices in exact float32 (TF32 off) with the shipped CE
# (model + demo jsonl from the tree; nothing carried). f32 row chunks + check.json + log -> $OUT.
# The old assets/demo/*_scores.npy were moved out of the tree for the call (64 MiB tree limit).
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
nvidia-smi -L
set -o pipefail
timeout 570 python3 training/gpu_f32_demo.py --out $OUT --deadline 440 --tokens 500000 --check 256 2>&1 | tee $OUT/f32.log
ls -la $OUT
