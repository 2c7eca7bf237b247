#!/usr/bin/env python3
"""Golden parity scores for relex: ~40 (query, item) pairs from the demo domain,
scored by transformers on CPU from the shipped f16 safetensors loaded as float32.

  python3 training/make_golden.py   # writes tests/data/wordnet_ce_golden.json

Pairs: marked test queries vs their gold item and a top-scoring wrong item,
plain queries (whole sentence; mention phrase only), and long pairs (a long
item text; a query + item longer than 256 tokens, which exercises
longest_first truncation). Also cross-checks the marked pairs against the
GPU-computed demo matrix (assets/demo/test_scores.npy, fp16 autocast).
"""
import json
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MAX_LEN, format_item  # noqa: E402

MODEL = "assets/models/wordnet-minilm-ce"
DEMO = "assets/demo"
OUT = "tests/data/wordnet_ce_golden.json"


def main():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, AutoModelForSequenceClassification
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL, dtype=torch.float32).eval()
    items = [json.loads(l) for l in open(os.path.join(DEMO, "items.jsonl"))]
    col = {it["id"]: c for c, it in enumerate(items)}
    tq = [json.loads(l) for l in open(os.path.join(DEMO, "test_queries.jsonl"))]
    T = np.load(os.path.join(DEMO, "test_scores.npy")).astype(np.float32)
    rng = random.Random(7)
    rows = rng.sample(range(len(tq)), 12)
    pairs = []  # (query, item_idx, kind, matrix value or None)
    for r in rows:
        q = tq[r]
        g = col[q["gold"][0]]
        pairs.append((q["text"], g, "marked/gold", float(T[r, g])))
        order = np.argsort(-T[r])
        neg = int(order[0]) if order[0] != g else int(order[1])
        pairs.append((q["text"], neg, "marked/top-wrong", float(T[r, neg])))
    for r in rows[:6]:
        q = tq[r]
        g = col[q["gold"][0]]
        plain = q["text"].replace(" [unused0] ", " ").replace(" [unused1] ", " ") \
            .replace("[unused0] ", "").replace(" [unused1]", "")
        mention = q["text"].split("[unused0]")[1].split("[unused1]")[0].strip()
        pairs.append((plain, g, "plain/sentence", None))
        pairs.append((mention, g, "plain/mention", None))
    longest = sorted(range(len(items)), key=lambda k: -len(items[k]["text"]))[:2]
    pairs.append((tq[rows[0]]["text"], longest[0], "long/item", None))
    long_q = " ".join([tq[r]["text"].replace("[unused0] ", "").replace(" [unused1]", "") for r in rows] * 3)
    long_q = long_q + " the [unused0] car [unused1] stopped"
    pairs.append((long_q, longest[1], "long/truncated", None))
    pairs.append(("car", col.get("n02958343", 0), "plain/mention", None))
    pairs.append(("he parked the [unused0] car [unused1] in the garage", col.get("n02958343", 0), "marked/gold", None))

    out = {"model": MODEL, "max_length": MAX_LEN, "truncation": "longest_first",
           "note": "score = raw logit (BertForSequenceClassification, num_labels=1), transformers CPU float32 "
                   "from the shipped f16 weights; item = '{title} [unused2] {text}'", "pairs": []}
    maxdiff = 0.0
    for query, k, kind, mval in pairs:
        item = format_item(items[k]["title"], items[k]["text"])
        enc = tok(query, item, truncation="longest_first", max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            s = float(model(**enc).logits[0, 0])
        n_tok = int(enc["input_ids"].shape[1])
        rec = {"query": query, "item": item, "score": s, "kind": kind, "item_id": items[k]["id"], "n_tokens": n_tok}
        if mval is not None:
            rec["gpu_fp16_matrix_score"] = mval
            maxdiff = max(maxdiff, abs(mval - s))
        out["pairs"].append(rec)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print(f"{len(out['pairs'])} pairs; max |cpu f32 - gpu fp16 matrix| = {maxdiff:.4f}; "
          f"token counts {sorted(p['n_tokens'] for p in out['pairs'])[-3:]}")


if __name__ == "__main__":
    main()
