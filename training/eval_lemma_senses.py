#!/usr/bin/env python3
"""WordNet examples of the dev/test domains, gold ranked among ALL senses of the query lemma
(all parts of speech, all domains): the corpus-side twin of eval_natural.py, on CPU with
transformers (train_ce.py --lemma-eval computes the same on the GPU during training).

  python3 training/eval_lemma_senses.py --model assets/models/wordnet-minilm-ce --data .payload/wordnet \
      --splits dev,test --json lemma_senses_ce.json
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import marked_query  # noqa: E402
from eval_natural import HFScorer, read_jsonl  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=".payload/wordnet")
    ap.add_argument("--splits", default="dev,test")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    items = read_jsonl(os.path.join(args.data, "items.jsonl"))
    queries = read_jsonl(os.path.join(args.data, "queries.jsonl"))
    by_lemma = collections.defaultdict(list)
    for it in items:
        for l in it["lemmas"]:
            by_lemma[l.lower()].append(it)
    sc = HFScorer(args.model)
    out = {}
    for sp in args.splits.split(","):
        ranks, by_dom = [], collections.defaultdict(list)
        for q in (q for q in queries if q["split"] == sp):
            cand = by_lemma[q["lemma"].lower()]
            texts = [sc.tmpl.format(title=it["title"], text=it["text"]) for it in cand]
            s = sc.score(marked_query(q["sentence"], q["start"], q["end"]), texts)
            g = [it["id"] for it in cand].index(q["gold"])
            r = int((s > s[g]).sum())
            ranks.append(r)
            by_dom[q["domain"]].append(r)
        res = {"_" + sp: ranks}
        res.update(by_dom)
        for k, r in res.items():
            r = np.asarray(r)
            out[k] = {"n": len(r), "top1": float(np.mean(r < 1)), "r@10": float(np.mean(r < 10)),
                      "mrr": float(np.mean(1 / (r + 1)))}
            print(k, json.dumps(out[k]), flush=True)
    if args.json:
        json.dump(out, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
