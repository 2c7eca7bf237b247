#!/usr/bin/env python3
"""Golden parity scores for relex's shipped models (tests/data/wordnet_{emb,ce}_golden.json):
~40 (query, item) pairs from the demo domain, scored by transformers on CPU from the shipped
f16 safetensors loaded as float32. Run from the repository root:

  # the default [EMB] model; --matrix: its exact f32 test-query matrix
  # (training/recipes/demo-data.sh emb-scores writes it to $OUT/f32/test_scores_emb_f32.npy)
  python3 tests/data/generators/make_golden.py --model assets/models/wordnet-minilm-emb \
      --matrix OUT/f32/test_scores_emb_f32.npy --matrix-key gpu_f32_matrix_score \
      --out tests/data/wordnet_emb_golden.json
  # the [CLS] model; --matrix: the fp16 test-query matrix of its training run
  # (training/recipes/wordnet-minilm-ce.sh train writes it to $OUT/train/test_scores_ce.npy)
  python3 tests/data/generators/make_golden.py --model assets/models/wordnet-minilm-ce \
      --matrix OUT/train/test_scores_ce.npy --out tests/data/wordnet_ce_golden.json

The matrix picks each marked query's top-scoring wrong item and is recorded beside the CPU
score (--matrix-key); it must belong to --model, rows in assets/demo/test_queries.jsonl order.

Pairs: marked test queries vs their gold item and a top-scoring wrong item,
plain queries (whole sentence; mention phrase only), and long pairs (a long
item text; a query + item longer than 256 tokens, which exercises
longest_first truncation). Also cross-checks the marked pairs against the
GPU-computed demo matrix given with --matrix.

w_embeds models (config relex_pooling = "w_embeds"): score = dot(mean(h[first [unused0]],
h[first [unused1]]), h[first [unused2]]) of the last hidden layer (BertModel). Plain queries are
wrapped as `[unused0] query [unused1]` (as relex does): "query" holds the text the model sees,
"typed_query" the plain text; the truncated pair has its marked mention at the START of the
query so that the markers survive longest_first truncation.
"""
import argparse
import json
import os
import random
import sys

import numpy as np
import torch

# training/common.py: the input formats the models were trained with
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "training"))
from common import MAX_LEN, format_item  # noqa: E402

MODEL = "assets/models/wordnet-minilm-ce"
DEMO = "assets/demo"
OUT = "tests/data/wordnet_ce_golden.json"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--demo", default=DEMO)
    ap.add_argument("--matrix", required=True,
                    help="--model's test-query score matrix (.npy [441, 11587]); assets/demo/test_scores.npy "
                         "is the default [EMB] model's")
    ap.add_argument("--matrix-key", default="gpu_fp16_matrix_score")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, AutoModelForSequenceClassification, BertModel
    MODEL_ = args.model
    cfg = json.load(open(os.path.join(MODEL_, "config.json")))
    emb = cfg.get("relex_pooling") == "w_embeds"
    tok = AutoTokenizer.from_pretrained(MODEL_)
    if emb:
        bert = BertModel.from_pretrained(MODEL_, dtype=torch.float32, add_pooling_layer=False).eval()

        def score_enc(enc):
            h = bert(**enc).last_hidden_state[0]
            ids = enc["input_ids"][0].tolist()
            for t in (1, 2, 3):
                assert t in ids, f"marker id {t} missing"
            return float((((h[ids.index(1)] + h[ids.index(2)]) / 2) * h[ids.index(3)]).sum())
    else:
        model = AutoModelForSequenceClassification.from_pretrained(MODEL_, dtype=torch.float32).eval()

        def score_enc(enc):
            return float(model(**enc).logits[0, 0])
    items = [json.loads(l) for l in open(os.path.join(args.demo, "items.jsonl"))]
    col = {it["id"]: c for c, it in enumerate(items)}
    tq = [json.loads(l) for l in open(os.path.join(args.demo, "test_queries.jsonl"))]
    T = np.load(args.matrix).astype(np.float32)
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
    long_q = (("the [unused0] car [unused1] stopped " + long_q) if emb else (long_q + " the [unused0] car [unused1] stopped"))
    pairs.append((long_q, longest[1], "long/truncated", None))
    pairs.append(("car", col.get("n02958343", 0), "plain/mention", None))
    pairs.append(("he parked the [unused0] car [unused1] in the garage", col.get("n02958343", 0), "marked/gold", None))

    if emb:
        note = ("score = dot(mean(h[first [unused0]], h[first [unused1]]), h[first [unused2]]) of BertModel's last "
                "hidden layer (relex_pooling w_embeds), transformers CPU float32 from the shipped f16 weights; "
                "item = '{title} [unused2] {text}'; plain queries wrapped as '[unused0] query [unused1]' "
                "(typed_query = the plain text)")
    else:
        note = ("score = raw logit (BertForSequenceClassification, num_labels=1), transformers CPU float32 "
                "from the shipped f16 weights; item = '{title} [unused2] {text}'")
    out = {"model": MODEL_, "max_length": MAX_LEN, "truncation": "longest_first",
           "pooling": "w_embeds" if emb else "cls+pooler", "note": note, "pairs": []}
    maxdiff = 0.0
    for query, k, kind, mval in pairs:
        item = format_item(items[k]["title"], items[k]["text"])
        typed = query
        if emb and "[unused0]" not in query:
            query = "[unused0] " + query.strip() + " [unused1]"
        enc = tok(query, item, truncation="longest_first", max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            s = score_enc(enc)
        n_tok = int(enc["input_ids"].shape[1])
        rec = {"query": query, "item": item, "score": s, "kind": kind, "item_id": items[k]["id"], "n_tokens": n_tok}
        if typed != query:
            rec["typed_query"] = typed
        if mval is not None:
            rec[args.matrix_key] = mval
            maxdiff = max(maxdiff, abs(mval - s))
        out["pairs"].append(rec)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print(f"{len(out['pairs'])} pairs; max |cpu f32 - {args.matrix_key}| = {maxdiff:.2e}; "
          f"token counts {sorted(p['n_tokens'] for p in out['pairs'])[-3:]}")


if __name__ == "__main__":
    main()
