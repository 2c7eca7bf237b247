#!/usr/bin/env python3
"""ANNCUR top-k recall of one model's demo matrices on a subset of test rows (issue 9 item 5).

Same estimator as training/cur_analysis.py (anncur(): k_i random items, 5 draws, first k_q
anchor rows), for matrices that may hold only the first n test rows (a GPU call cut by its
deadline); the shipped model is measured on the same rows for the comparison.

  python3 training/anncur_quick.py --name new --anchor A.npy --test T.npy \
      --name shipped --anchor R400.npy --test assets/demo/test_scores.npy --demo assets/demo
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cur_analysis import anncur  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", action="append", required=True)
    ap.add_argument("--anchor", action="append", required=True)
    ap.add_argument("--test", action="append", required=True)
    ap.add_argument("--demo", default="assets/demo")
    ap.add_argument("--kq", type=int, default=400)
    ap.add_argument("--budgets", default="200,500,1000")
    ap.add_argument("--ki", default="100,250")
    ap.add_argument("--rows", type=int, default=0, help="first n test rows (0: the fewest any matrix has)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    items = [json.loads(l)["id"] for l in open(f"{args.demo}/items.jsonl")]
    col = {i: c for c, i in enumerate(items)}
    tq = [json.loads(l) for l in open(f"{args.demo}/test_queries.jsonl")]
    gold = np.array([col[q["gold"][0]] for q in tq])
    mats = []
    for a, t in zip(args.anchor, args.test):
        if a.endswith(".safetensors"):
            from safetensors.numpy import load_file
            A = next(iter(load_file(a).values()))
        else:
            A = np.load(a)
        mats.append((A.astype(np.float64), np.load(t).astype(np.float64)))
    n = args.rows or min(T.shape[0] for _, T in mats)
    res = {"test_rows": int(n)}
    for name, (A, T) in zip(args.name, mats):
        T = T[:n]
        assert A.shape[0] >= args.kq, (name, A.shape)
        exact_order = np.argsort(-T, axis=1, kind="stable")
        r = {"exact_gold_top1": float(np.mean(exact_order[:, 0] == gold[:n])),
             "anncur": anncur(A[:args.kq], T, exact_order, gold[:n], [int(b) for b in args.budgets.split(",")],
                              [int(k) for k in args.ki.split(",")])}
        res[name] = r
        print(name, "rows", n, "exact top1 %.4f" % r["exact_gold_top1"],
              " ".join(f"{k}: top10 {v['top10_recall']:.4f}" for k, v in r["anncur"].items()), flush=True)
    if args.out:
        json.dump(res, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
