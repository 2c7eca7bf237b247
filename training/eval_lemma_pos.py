#!/usr/bin/env python3
"""All senses of the lemma (all POS) on a seeded sample of dev/test WordNet examples, on CPU:
Top-1, share of queries whose top sense has the gold's part of speech (pos_correct), and Top-1
among the gold-POS senses only, as train_ce.py --lemma-eval reports them since issue 9 item 5
(for models trained before it, e.g. the shipped one). --pos-cue for models trained with it.

  python3 training/eval_lemma_pos.py --model assets/models/wordnet-minilm-emb --data .payload/wordnet \
      --split dev --n 1000 --json out.json
"""
import argparse
import collections
import json
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import marked_query, cue_text  # noqa: E402
from eval_natural import HFScorer, read_jsonl  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=".payload/wordnet")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pos-cue", action="store_true")
    ap.add_argument("--domain-cue", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    items = read_jsonl(os.path.join(args.data, "items.jsonl"))
    queries = [q for q in read_jsonl(os.path.join(args.data, "queries.jsonl")) if q["split"] == args.split]
    queries = random.Random(args.seed).sample(queries, min(args.n, len(queries)))
    by_lemma = collections.defaultdict(list)
    for it in items:
        for l in it["lemmas"]:
            by_lemma[l.lower()].append(it)
    P = lambda it: "a" if it["pos"] in ("a", "s") else it["pos"]  # noqa: E731
    sc = HFScorer(args.model)
    top1, pos_ok, top1_pos = [], [], []
    for q in queries:
        cand = by_lemma[q["lemma"].lower()]
        texts = [sc.tmpl.format(title=it["title"], text=cue_text(it, args.pos_cue, args.domain_cue))
                 for it in cand]
        s = sc.score(marked_query(q["sentence"], q["start"], q["end"]), texts)
        g = [it["id"] for it in cand].index(q["gold"])
        top1.append(bool((s > s[g]).sum() == 0))
        pos_ok.append(P(cand[int(np.argmax(s))]) == P(cand[g]))
        top1_pos.append(all(s[g] > s[j] for j, it in enumerate(cand) if j != g and P(it) == P(cand[g])))
    out = {"model": args.model, "split": args.split, "n": len(queries), "seed": args.seed,
           "top1": float(np.mean(top1)), "pos_correct": float(np.mean(pos_ok)), "top1_gold_pos": float(np.mean(top1_pos))}
    print(json.dumps(out), flush=True)
    if args.json:
        json.dump(out, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
