#!/usr/bin/env python3
"""Spectrum / CUR / ANNCUR analysis of demo-domain score matrices (numpy).

  python3 training/cur_analysis.py --name ce  --anchor assets/demo/anchor_scores.npy --test assets/demo/test_scores.npy \
                                   --name emb --anchor .payload/call3/anchor_scores_emb.npy --test .payload/call3/test_scores_emb.npy

For each model: singular values of the stacked [anchor; test] matrix; CUR
relative Frobenius error of the test rows, ||T - T[:, I] pinv(A[:, I]) A||_F / ||T||_F
(and / ||T - rowmean(T)||_F, since a near-constant offset dominates ||T||),
with I = k_i random anchor items (k_q = all anchor queries); and ANNCUR retrieval
at a budget of B exact scores per test query: k_i = B/2 random anchor items, the
other B/2 are the best non-anchor items by the CUR approximation; all B are then
scored exactly and the top-k of those is compared with the exact top-k over all
items (Top-k recall), plus gold Top-1 accuracy. Mean over 5 random item draws.
"""
import argparse
import json

import numpy as np


def analyse(A, T, gold_cols, budgets, seeds=5):
    A = A.astype(np.float64)
    T = T.astype(np.float64)
    M = np.vstack([A, T])
    s = np.linalg.svd(M, compute_uv=False)
    energy = np.cumsum(s ** 2) / np.sum(s ** 2)
    sc = np.linalg.svd(M - M.mean(0, keepdims=True), compute_uv=False)
    energy_c = np.cumsum(sc ** 2) / np.sum(sc ** 2)
    out = {
        "shape": list(M.shape),
        "sv_normalized": {str(r): float(s[r - 1] / s[0]) for r in (1, 2, 5, 10, 20, 50, 100, 200, 400) if r <= len(s)},
        "rank_for_energy": {str(e): int(np.searchsorted(energy, e) + 1) for e in (0.9, 0.95, 0.99, 0.999)},
        "rank_for_energy_centered": {str(e): int(np.searchsorted(energy_c, e) + 1) for e in (0.9, 0.95, 0.99)},
        "cur": {},
    }
    N = A.shape[1]
    exact_order = np.argsort(-T, axis=1)
    true_top1 = exact_order[:, 0]
    out["exact_gold_top1"] = float(np.mean(true_top1 == gold_cols))
    for B in budgets:
        ki = B // 2
        errs, errs_c, r1, r10, r100, g1 = [], [], [], [], [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            I = rng.choice(N, ki, replace=False)
            U = np.linalg.pinv(A[:, I], rcond=1e-6)
            approx = T[:, I] @ U @ A
            errs.append(np.linalg.norm(T - approx) / np.linalg.norm(T))
            errs_c.append(np.linalg.norm(T - approx) / np.linalg.norm(T - T.mean(1, keepdims=True)))
            ap = approx.copy()
            ap[:, I] = -np.inf
            rest = np.argpartition(-ap, B - ki, axis=1)[:, : B - ki]
            cand = np.concatenate([np.broadcast_to(I, (T.shape[0], ki)), rest], 1)
            cs = np.take_along_axis(T, cand, 1)
            order = np.take_along_axis(cand, np.argsort(-cs, axis=1), 1)
            for k, acc in ((1, r1), (10, r10), (100, r100)):
                kk = min(k, B)
                got = order[:, :kk]
                want = exact_order[:, :k]
                acc.append(np.mean([len(np.intersect1d(got[r], want[r])) / k for r in range(T.shape[0])]))
            g1.append(np.mean(order[:, 0] == gold_cols))
        out["cur"][str(B)] = {"k_i": ki, "rel_err": float(np.mean(errs)),
                              "rel_err_vs_row_centered": float(np.mean(errs_c)), "top1_recall": float(np.mean(r1)),
                              "top10_recall": float(np.mean(r10)), "top100_recall": float(np.mean(r100)),
                              "gold_top1": float(np.mean(g1))}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", action="append", required=True)
    ap.add_argument("--anchor", action="append", required=True)
    ap.add_argument("--test", action="append", required=True)
    ap.add_argument("--demo", default="assets/demo")
    ap.add_argument("--budgets", default="50,100,200,500,1000")
    ap.add_argument("--out", default="training/results/cur_analysis.json")
    args = ap.parse_args()
    items = [json.loads(l)["id"] for l in open(f"{args.demo}/items.jsonl")]
    col = {i: c for c, i in enumerate(items)}
    tq = [json.loads(l) for l in open(f"{args.demo}/test_queries.jsonl")]
    gold = np.array([col[q["gold"][0]] for q in tq])
    budgets = [int(b) for b in args.budgets.split(",")]
    res = {}
    for name, a, t in zip(args.name, args.anchor, args.test):
        res[name] = analyse(np.load(a), np.load(t), gold, budgets)
        print(name, json.dumps(res[name], indent=1))
    json.dump(res, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
