#!/usr/bin/env python3
"""Spectrum / CUR / ANNCUR analysis of demo-domain score matrices (numpy).

  python3 training/cur_analysis.py --name ce  --anchor CE/anchor_scores_ce.npy --test CE/test_scores_ce.npy \
                                   --name emb --anchor EMB/anchor_scores_emb.npy --test EMB/test_scores_emb.npy
  # (training/recipes/wordnet-minilm-ce.sh cur); k_i grid, anchor subsets, TF-IDF retrieve + rerank:
  python3 training/cur_analysis.py --budgets 100,200,500,1000 --ki 50,100,200 --kq 400,600 --tfidf \
      --name ce --anchor A_CE.npy --test T_CE.npy --name emb2 --anchor A_EMB.npy --test T_EMB.npy --out OUT.json
(docs/experiments.md has the commands of every analysis quoted there.)

For each model: singular values of the stacked [anchor; test] matrix; CUR
relative Frobenius error of the test rows, ||T - T[:, I] pinv(A[:, I]) A||_F / ||T||_F
(and / ||T - rowmean(T)||_F, since a near-constant offset dominates ||T||),
with I = k_i random items and A = the first k_q anchor rows; and ANNCUR retrieval
at a budget of B exact scores per test query: the k_i items of I are scored exactly,
the other B - k_i are the best non-I items by the CUR approximation; all B are then
scored exactly and the top-k of those is compared with the exact top-k over all
items (Top-k recall), plus gold Top-1 accuracy. Mean over 5 random item draws.
Without --ki, k_i = B/2 (the original analysis). --tfidf adds TF-IDF retrieve + rerank:
the B items with the best TF-IDF cosine to the plain query sentence (scikit-learn,
unigrams + bigrams, sublinear tf, fitted on the domain's item texts) are scored exactly.
"""
import argparse
import json

import numpy as np


def spectrum(A, T):
    M = np.vstack([A, T])
    s = np.linalg.svd(M, compute_uv=False)
    energy = np.cumsum(s ** 2) / np.sum(s ** 2)
    sc = np.linalg.svd(M - M.mean(0, keepdims=True), compute_uv=False)
    energy_c = np.cumsum(sc ** 2) / np.sum(sc ** 2)
    return {
        "shape": list(M.shape),
        "sv_normalized": {str(r): float(s[r - 1] / s[0]) for r in (1, 2, 5, 10, 20, 50, 100, 200, 400) if r <= len(s)},
        "rank_for_energy": {str(e): int(np.searchsorted(energy, e) + 1) for e in (0.9, 0.95, 0.99, 0.999)},
        "rank_for_energy_centered": {str(e): int(np.searchsorted(energy_c, e) + 1) for e in (0.9, 0.95, 0.99)},
    }


def retrieve_metrics(T, cand, exact_order, gold_cols):
    """cand: [n_q, B] item indices scored exactly; rerank by the exact scores."""
    cs = np.take_along_axis(T, cand, 1)
    order = np.take_along_axis(cand, np.argsort(-cs, axis=1), 1)
    out = {}
    for k in (1, 10, 100):
        kk = min(k, cand.shape[1])
        got = order[:, :kk]
        want = exact_order[:, :k]
        out[f"top{k}_recall"] = float(np.mean([len(np.intersect1d(got[r], want[r])) / k for r in range(T.shape[0])]))
    out["gold_top1"] = float(np.mean(order[:, 0] == gold_cols))
    return out


def anncur(A, T, exact_order, gold_cols, budgets, kis, seeds=5):
    """kis: list of k_i, or None for k_i = B/2 per budget."""
    N = A.shape[1]
    res = {}
    pairs = [(B, B // 2) for B in budgets] if kis is None else [(B, ki) for ki in kis for B in budgets if ki < B]
    for ki in sorted({ki for _, ki in pairs}):
        accs = {}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            I = rng.choice(N, ki, replace=False)
            U = np.linalg.pinv(A[:, I], rcond=1e-6)
            approx = T[:, I] @ U @ A
            err = np.linalg.norm(T - approx) / np.linalg.norm(T)
            err_c = np.linalg.norm(T - approx) / np.linalg.norm(T - T.mean(1, keepdims=True))
            ap = approx.copy()
            ap[:, I] = -np.inf
            for B in [B for B, k in pairs if k == ki]:
                rest = np.argpartition(-ap, B - ki, axis=1)[:, : B - ki]
                cand = np.concatenate([np.broadcast_to(I, (T.shape[0], ki)), rest], 1)
                m = retrieve_metrics(T, cand, exact_order, gold_cols)
                m["rel_err"], m["rel_err_vs_row_centered"] = float(err), float(err_c)
                for k, v in m.items():
                    accs.setdefault(B, {}).setdefault(k, []).append(v)
        for B, d in accs.items():
            key = f"B{B}_ki{ki}" if kis is not None else str(B)
            res[key] = {"B": B, "k_i": ki, **{k: float(np.mean(v)) for k, v in d.items()}}
    return res


def tfidf_candidates(demo, queries, B):
    from sklearn.feature_extraction.text import TfidfVectorizer
    items = [json.loads(l) for l in open(f"{demo}/items.jsonl")]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    X = vec.fit_transform([it["text"] for it in items])
    plain = [q["text"].replace("[unused0] ", "").replace(" [unused1]", "") for q in queries]
    S = (vec.transform(plain) @ X.T).toarray()
    return np.argsort(-S, axis=1, kind="stable")[:, :B]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", action="append", required=True)
    ap.add_argument("--anchor", action="append", required=True)
    ap.add_argument("--test", action="append", required=True)
    ap.add_argument("--demo", default="assets/demo")
    ap.add_argument("--budgets", default="50,100,200,500,1000")
    ap.add_argument("--ki", default="", help="comma list of k_i (default: k_i = B/2)")
    ap.add_argument("--kq", default="", help="comma list of anchor-row counts to use (first k_q rows; default all)")
    ap.add_argument("--tfidf", action="store_true")
    ap.add_argument("--no-spectrum", action="store_true")
    ap.add_argument("--out", default="training/results/cur_analysis.json")
    args = ap.parse_args()
    items = [json.loads(l)["id"] for l in open(f"{args.demo}/items.jsonl")]
    col = {i: c for c, i in enumerate(items)}
    tq = [json.loads(l) for l in open(f"{args.demo}/test_queries.jsonl")]
    gold = np.array([col[q["gold"][0]] for q in tq])
    budgets = [int(b) for b in args.budgets.split(",")]
    kis = [int(x) for x in args.ki.split(",")] if args.ki else None
    tfidf = {B: tfidf_candidates(args.demo, tq, B) for B in budgets} if args.tfidf else {}
    res = {}
    for name, a, t in zip(args.name, args.anchor, args.test):
        A = np.load(a).astype(np.float64)
        T = np.load(t).astype(np.float64)
        exact_order = np.argsort(-T, axis=1, kind="stable")
        r = {"exact_gold_top1": float(np.mean(exact_order[:, 0] == gold)), "anchor_rows": int(A.shape[0])}
        if not args.no_spectrum:
            r.update(spectrum(A, T))
        kqs = [int(x) for x in args.kq.split(",")] if args.kq else [A.shape[0]]
        for kq in kqs:
            if kq > A.shape[0]:
                continue
            key = "cur" if not args.kq else f"cur_kq{kq}"
            r[key] = anncur(A[:kq], T, exact_order, gold, budgets, kis)
        if tfidf:
            r["tfidf_rerank"] = {str(B): retrieve_metrics(T, c, exact_order, gold) for B, c in tfidf.items()}
        res[name] = r
        print(name, json.dumps(r, indent=1), flush=True)
    json.dump(res, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
