#!/usr/bin/env bash
# Runs on a GPU machine: scores the GPU parity pairs with relex on CUDA at every precision,
# for `tests/data/generators/record_gpu_parity.py` to file beside the pairs in tests/data/gpu_parity.json
# (which `cargo test --test default_model_parity` checks against the CPU path).
#
#   tests/data/generators/gpu_parity.sh RELEX_BINARY MODEL_DIR PAIRS.json OUT_PREFIX
# writes OUT_PREFIX.{f16,mixed,bf16,f32}.json ({case: [logit, ...]}).
set -euo pipefail
bin=$1 model=$2 pairs=$3 prefix=$4
for precision in f16 mixed bf16 f32; do
    "$bin" bench --device cuda --precision "$precision" --model "$model" --pairs "$pairs" \
        --repeats 1 --format json --scores-out "$prefix.$precision.json" >/dev/null
done
