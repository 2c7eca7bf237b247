#!/bin/bash
# GPU call 3: the [EMB] (w_embeds) variant, same data/recipe/steps as the shipped CE;
# demo matrices on the same anchor/test split for the CUR comparison (weights not returned).
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
P=/root/persist3; mkdir -p $P
timeout 590 python3 training/train_ce.py --arch emb --data .payload/data --base .payload/base --out $P/emb \
  --seed 13 --epochs 2 --group 32 --qbatch 16 --lr 5e-5 --max-steps 3740 --train-budget 100000 --workers 12 \
  --rerank-k 256 --demo-domain noun.artifact --demo-anchors 400 --demo-max-test 441 \
  --plain-eval --deadline 540 2>&1 | tee $P/emb.log
cp $P/emb/anchor_scores_emb.npy $P/emb/test_scores_emb.npy $OUT/
tar cf $OUT/small.tar -C $P emb.log emb/metrics_emb.json emb/model_emb/config.json
ls -la $OUT
