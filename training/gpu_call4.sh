#!/bin/bash
# GPU call 4: the shipped CE (carried from assets/) scores EVERY query of each test domain
# against EVERY item of that domain (fp16 autocast) -> full-domain Top-1 / R@10 / R@64.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
M=assets/models/wordnet-minilm-ce
timeout 590 python3 training/train_ce.py --arch ce --data .payload/data --base $M --init $M --no-biencoder \
  --out $OUT/full --full-domains noun.artifact,noun.person,noun.act,noun.communication --deadline 570 2>&1 | tee $OUT/full.log
rm -rf $OUT/full/_tok
