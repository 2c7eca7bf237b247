#!/bin/bash
# GPU call 2: train the shipped CE (seeded), evaluate (bi-encoder, rerank top-256, full-domain),
# compute the demo matrices for noun.artifact; checkpoint (split) + npy + metrics to $OUT.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
P=/root/persist2; mkdir -p $P
nvidia-smi -L
timeout 590 python3 training/train_ce.py --arch ce --data .payload/data --base .payload/base --out $P/ce \
  --seed 13 --epochs 2 --group 32 --qbatch 16 --lr 5e-5 --train-budget 210 --workers 12 \
  --rerank-k 256 --demo-domain noun.artifact --demo-anchors 400 --demo-max-test 441 \
  --full-domains noun.person,noun.act,noun.communication --full-max-queries 150 \
  --plain-eval --deadline 540 2>&1 | tee $P/ce.log
( cd $P/ce/model_ce && split -b 15M model.safetensors $OUT/ce.safetensors.part_ )
cp $P/ce/model_ce/config.json $P/ce_config.json
cp $P/ce/anchor_scores_ce.npy $P/ce/test_scores_ce.npy $OUT/
tar cf $OUT/small.tar -C $P ce.log ce_config.json ce/metrics_ce.json
ls -la $OUT
