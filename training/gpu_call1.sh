#!/bin/bash
# GPU call 1: train the CE (foreground) and the [EMB] variant (background, same GPU),
# evaluate; CE checkpoint + metrics to $OUT, everything also kept in /root/persist.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
P=/root/persist; mkdir -p $P
nvidia-smi -L; python3 -c "import torch,transformers;print(torch.__version__,transformers.__version__)"
timeout 575 python3 training/train_ce.py --arch emb --data .payload/data --out $P/emb --train-budget 240 --deadline 420 \
   --demo-domain noun.artifact --demo-anchors 300 --demo-max-test 200 > $P/emb.log 2>&1 &
EMB=$!
timeout 560 python3 training/train_ce.py --arch ce --data .payload/data --out $P/ce --train-budget 300 --deadline 480 --full-domains noun.communication --full-max-queries 100 2>&1 | tee $P/ce.log
( cd $P/ce/model_ce && split -b 15M model.safetensors $OUT/ce.safetensors.part_ )
cp $P/ce/model_ce/config.json $P/ce_config.json
tar cf $OUT/small.tar -C $P ce.log ce_config.json ce/metrics_ce.json
wait $EMB
tail -5 $P/emb.log
tar cf $OUT/small.tar -C $P ce.log ce_config.json ce/metrics_ce.json emb.log emb/metrics_emb.json 2>/dev/null
ls -la $OUT $P/emb
