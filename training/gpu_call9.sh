#!/bin/bash
# GPU call 9 (issue 9 item 5): warm start from the shipped [EMB] model (last LayerNorm x 4 undoes
# the export's 1/4), short fine-tune with the POS cue on non-noun items and all same-lemma senses
# (same-max 31). No bi-encoder (the base model does not fit in the 64 MiB carry next to the shipped
# one): negatives = same-lemma senses + in-domain randoms + randoms; test domains held out.
# Eval: all-senses dev/test, natural sentences, demo domain (400 anchors, then test rows until the
# deadline; fp16 autocast) for ANNCUR. carry: .payload/data .devcarry9 (.devcarry9/warm = the shipped model)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
T=.devcarry9/training
P=/root/persist9; mkdir -p $P
nvidia-smi -L
( while true; do sleep 15; tar cf $OUT/progress.tar -C $P --exclude='*.safetensors' --exclude='_tok' --exclude='*.npy' . 2>/dev/null; done ) &
PROG=$!
timeout 200 python3 $T/train_ce.py --arch emb --data .payload/data --base .devcarry9/warm --warm .devcarry9/warm \
  --warm-ln-scale 4 --no-biencoder --pos-cue --same-max 31 --seed 13 --epochs 2 --group 32 --qbatch 16 --lr 2e-5 \
  --plain-frac 0.2 --neg-exclude-splits test --train-budget 72 --workers 8 --lemma-eval --eval-splits dev,test \
  --natural $T/natural_sentences.jsonl --demo-domain noun.artifact --demo-anchors 400 --demo-max-test 441 \
  --deadline 188 --out $P/W > $P/W.log 2>&1
kill $PROG
python3 $T/anncur_quick.py --demo .devcarry9/demo --name warm --anchor $P/W/anchor_scores_emb.npy \
  --test $P/W/test_scores_emb.npy --out $P/anncur_warm.json 2>&1 | tee $P/anncur.log
(cd $P/W/model_emb && split -b 15M model.safetensors $OUT/emb.safetensors.part_)
tar cf $OUT/small.tar -C $P --exclude='*.safetensors' --exclude='_tok' --exclude='*.npy' .
rm -f $OUT/progress.tar
grep -vE "Loading|^\s*$" $P/W.log | tail -14
ls -la $OUT
