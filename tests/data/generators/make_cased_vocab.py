#!/usr/bin/env python3
"""Records transformers' token ids and scores for a cased BERT folder that has only a vocab.txt.

The folder is tests/data/tiny-ce with two changes, made in a temporary folder (the weights are
not copied into the repository): vocab.txt has the lines `[unused10]` … replaced by the cased
words in CASED_WORDS (the vocabulary keeps its size, so the weights still fit), and
tokenizer_config.json says `do_lower_case: false`. transformers builds the tokenizer from
those two files as it does for any vocab.txt-only BERT folder (no tokenizer.json), so its ids
show how `do_lower_case` (and the accent stripping that follows it) is read. relex's test
(`tests/integration/model_parity.rs`, `cased_vocab_txt_folder_matches_transformers`) rebuilds
the same folder from the recorded word list and compares ids and scores.

    python3 tests/data/generators/make_cased_vocab.py   # needs torch and transformers

Writes tests/data/tiny_ce_cased_golden.json.
"""

import json
import os
import shutil
import tempfile

import torch
import transformers
from transformers import AutoTokenizer, BertForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
SRC = os.path.join(DATA, "tiny-ce")
OUT = os.path.join(DATA, "tiny_ce_cased_golden.json")

# Replaces [unused10], [unused11], … in this order.
CASED_WORDS = ["Bank", "River", "The", "Paris", "Apple", "Café", "Résumé", "NASA"]
FIRST_UNUSED = 10
TOKENIZER_CONFIG = {"do_lower_case": False, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}

PAIRS = [
    ("The Bank of the River", "Paris is on a river bank"),
    ("the bank of the river", "The River Bank in Paris"),
    ("Apple pie at the Café", "a café in Paris sells apple pie"),
    ("my Résumé for NASA", "resume writing for nasa jobs"),
    ("BANK holiday", "Bank Holiday Monday"),
    ("naïve Ünïcödé accents", "Crème brûlée"),
]


def build_folder(dst):
    for name in ["config.json", "model.safetensors"]:
        shutil.copy(os.path.join(SRC, name), os.path.join(dst, name))
    with open(os.path.join(SRC, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")
    for i, word in enumerate(CASED_WORDS):
        old = f"[unused{FIRST_UNUSED + i}]"
        at = vocab.index(old)
        vocab[at] = word
    with open(os.path.join(dst, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab))
    with open(os.path.join(dst, "tokenizer_config.json"), "w") as f:
        json.dump(TOKENIZER_CONFIG, f)


def main():
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        build_folder(d)
        tok = AutoTokenizer.from_pretrained(d)
        model = BertForSequenceClassification.from_pretrained(d, dtype=torch.float32).eval()
        rows = []
        for q, it in PAIRS:
            enc = tok(q, it, return_tensors="pt", truncation="longest_first", max_length=512)
            with torch.no_grad():
                logit = model(**enc).logits[0, 0].item()
            rows.append({"query": q, "item": it, "input_ids": enc["input_ids"][0].tolist(), "score": logit})
    golden = {
        "generator": "tests/data/generators/make_cased_vocab.py",
        "base": "tests/data/tiny-ce",
        "cased_words": CASED_WORDS,
        "first_unused": FIRST_UNUSED,
        "tokenizer_config": TOKENIZER_CONFIG,
        "tokenizer_class": type(tok).__name__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "pairs": rows,
    }
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
    print(f"wrote {OUT}: {len(rows)} pairs, tokenizer {type(tok).__name__}")
    for r in rows:
        print(r["score"], r["input_ids"][:12])


if __name__ == "__main__":
    main()
