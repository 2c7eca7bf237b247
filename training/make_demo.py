#!/usr/bin/env python3
"""Write the demo world assets/demo/ from the corpus and the GPU-computed score matrices.

  python3 training/make_demo.py --data WORK/wordnet --metrics RUN/metrics_ce.json \
      --anchor RUN/anchor_scores_ce.npy --test RUN/test_scores_ce.npy --out DIR
(RUN: the [CLS] model's training run, training/recipes/wordnet-minilm-ce.sh train; the demo recipe
training/recipes/demo-data.sh copies the jsonl files into the demo folder.)
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import marked_query  # noqa: E402
from train_ce import read_jsonl, find  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=".payload/wordnet")
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--anchor", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--out", default="assets/demo")
    args = ap.parse_args()
    m = json.load(open(args.metrics))["demo"]
    items = {it["id"]: it for it in read_jsonl(find(args.data, "items.jsonl"))}
    queries = {q["id"]: q for q in read_jsonl(find(args.data, "queries.jsonl"))}
    A = np.load(args.anchor)
    T = np.load(args.test)
    assert A.dtype == np.float16 and T.dtype == np.float16
    assert A.shape == (len(m["anchors"]), len(m["item_ids"])), A.shape
    assert T.shape == (len(m["test"]), len(m["item_ids"])), T.shape
    assert np.isfinite(A).all() and np.isfinite(T).all()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "items.jsonl"), "w") as f:
        for iid in m["item_ids"]:
            it = items[iid]
            assert it["domain"] == m["domain"]
            f.write(json.dumps({"id": iid, "title": it["title"], "text": it["text"]}, ensure_ascii=False) + "\n")
    col = {iid: c for c, iid in enumerate(m["item_ids"])}
    for name, ids, M in (("anchor_queries.jsonl", m["anchors"], A), ("test_queries.jsonl", m["test"], T)):
        with open(os.path.join(args.out, name), "w") as f:
            for r, qid in enumerate(ids):
                q = queries[qid]
                f.write(json.dumps({"id": qid, "text": marked_query(q["sentence"], q["start"], q["end"]),
                                    "gold": [q["gold"]]}, ensure_ascii=False) + "\n")
                # sanity: stored rank of gold matches the matrix
                g = M[r, col[q["gold"]]]
    np.save(os.path.join(args.out, "anchor_scores.npy"), A)
    np.save(os.path.join(args.out, "test_scores.npy"), T)

    def top1(M, ids):
        return float(np.mean([M[r].argmax() == col[queries[q]["gold"]] for r, q in enumerate(ids)]))
    print("items", len(m["item_ids"]), "anchors", A.shape, "test", T.shape,
          "top1 anchor %.3f test %.3f" % (top1(A, m["anchors"]), top1(T, m["test"])))


if __name__ == "__main__":
    main()
