#!/usr/bin/env python3
"""Anchor queries of the [EMB] demo index: k_q = 500 rows (--n-pseudo 0, the shipped
assets/demo/anchor_queries.jsonl) or 600 (the default, --n-pseudo 100).

  rows   0-399  the [CLS] index's anchor queries (the first 400 rows of DEMO/anchor_queries.jsonl), same order
  rows 400-499  the 100 located WordNet example queries of noun.artifact that are neither
                anchors nor test queries (train_ce.demo_split with 400 anchors gives 541
                non-anchors; test = the first 441, these are the other 100), split order
  rows 500-599  pseudo-queries (gloss as query) for 100 random noun.artifact items (seed 9)
                that are the gold of no example query of the domain:
                `[unused0] {title} [unused1] : {definition}` (definition = the item text
                after its first ": "), id `pseudo-<item id>`, gold = [item id]

  python3 training/make_anchors_emb.py --data WORK/wordnet --demo assets/demo --n-pseudo 0 \
      --out anchor_queries_emb.jsonl      # = assets/demo/anchor_queries.jsonl
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import marked_query  # noqa: E402
from train_ce import demo_split, find, read_jsonl  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=".payload/wordnet")
    ap.add_argument("--demo", default="assets/demo")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-pseudo", type=int, default=100)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args()
    items = [json.loads(l) for l in open(os.path.join(args.demo, "items.jsonl"))]
    # the [CLS] index's 400 anchors: a demo written by make_demo.py holds exactly these, the shipped
    # assets/demo/anchor_queries.jsonl starts with them (it is this script's --n-pseudo 0 output)
    old = [json.loads(l) for l in open(os.path.join(args.demo, "anchor_queries.jsonl"))][:400]
    test = [json.loads(l) for l in open(os.path.join(args.demo, "test_queries.jsonl"))]
    queries = [q for q in read_jsonl(find(args.data, "queries.jsonl")) if q["domain"] == "noun.artifact"]
    qd = {q["id"]: q for q in queries}
    anc, rest = demo_split(list(qd), 400)
    assert anc == [q["id"] for q in old], "anchor split differs from assets/demo"
    assert rest[:441] == [q["id"] for q in test], "test split differs from assets/demo"
    left = rest[441:]
    rows = list(old)
    for qid in left:
        q = qd[qid]
        rows.append({"id": qid, "text": marked_query(q["sentence"], q["start"], q["end"]), "gold": [q["gold"]]})
    covered = {q["gold"] for q in queries}
    cand = [it for it in items if it["id"] not in covered]
    pick = random.Random(args.seed).sample(cand, args.n_pseudo)
    for it in pick:
        definition = it["text"].split(": ", 1)[1] if ": " in it["text"] else it["text"]
        rows.append({"id": f"pseudo-{it['id']}", "text": f"[unused0] {it['title']} [unused1] : {definition}",
                     "gold": [it["id"]]})
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(rows), "anchors:", len(old), "old,", len(left), "left-over examples,", len(pick),
          "pseudo; items not covered by any example:", len(cand))


if __name__ == "__main__":
    main()
