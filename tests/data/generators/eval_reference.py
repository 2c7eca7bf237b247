#!/usr/bin/env python3
"""NumPy reference for `relex eval` (src/approx/eval.rs): ANNCUR and random.

A deliberately plain re-implementation, written from the method description
rather than from the Rust code, used to cross-check `approx::evaluate`:

1. Generates a fixed low-rank-plus-noise score matrix (60 queries x 400 items,
   float32) -> tests/data/approx/eval_matrix.npy
2. Draws the anchor-item sets for seeds 0..SEEDS-1 with SplitMix64 and a
   partial Fisher-Yates shuffle (the generator relex uses, so the Rust draws
   must be identical; the Rust test checks that too)
   -> tests/data/approx/eval_anchor_sets.json
3. Evaluates ANNCUR and the random baseline at every budget
   -> tests/data/approx/eval_reference.json

Conventions (shared with the Rust side):
* rows 0..ANCHOR_ROWS-1 form R (anchor queries), the other rows are test queries;
* ANNCUR: s~ = c @ pinv(R[:, A]) @ R, pinv with relative cut-off 1e-6;
  the budget B includes the k_i anchors; the top B - k_i non-anchor items of
  s~ are scored exactly; the result is the exact top-k of everything scored;
* random: B items drawn by SplitMix64 seeded with seed * 1000003 + query_row;
* rankings break ties by lower item index; recall@k = |returned top-k ∩
  exact top-k| / k; rel_error = ||s~ - s|| / ||s|| and Spearman (average ranks
  for ties) per test query; everything averaged over test queries and seeds.

Usage: python3 tests/data/generators/eval_reference.py [output_dir]
"""

import json
import os
import sys

import numpy as np

MASK = (1 << 64) - 1
ROWS, ITEMS, RANK, NOISE = 60, 400, 8, 0.3
ANCHOR_ROWS, K_I, SEEDS = 30, 20, 3
BUDGETS = [20, 40, 100, 200]
KS = [1, 10, 50]
PINV_RCOND = 1e-6


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next_u64() * n) >> 64


def sample_without_replacement(rng, n, m):
    """Partial Fisher-Yates on a virtual array 0..n-1."""
    m = min(m, n)
    displaced = {}
    out = []
    for i in range(m):
        j = i + rng.below(n - i)
        vj = displaced.get(j, j)
        displaced[j] = displaced.get(i, i)
        out.append(vj)
    return out


def ranking(scores, candidates):
    """Candidates sorted by score descending, ties by lower index."""
    candidates = np.asarray(sorted(candidates))
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order]


def top_k(scores, k):
    return np.argsort(-scores, kind="stable")[:k]


def recall(returned, exact, k):
    k = min(k, len(exact))
    return len(set(returned[:k].tolist()) & set(top_k(exact, k).tolist())) / k


def average_ranks(x):
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inv, weights=ranks) / counts)[inv]


def spearman(a, b):
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else 0.0


def make_matrix():
    rng = np.random.default_rng(20221207)
    a = rng.standard_normal((ROWS, RANK))
    b = rng.standard_normal((RANK, ITEMS))
    m = a @ b / np.sqrt(RANK) + NOISE * rng.standard_normal((ROWS, ITEMS))
    return m.astype(np.float32)


def evaluate(m, anchor_sets):
    r = m[:ANCHOR_ROWS].astype(np.float64)
    tests = range(ANCHOR_ROWS, m.shape[0])
    max_k = max(KS)
    acc = {}

    def add(method, budget, rec, rel=None, sp=None):
        cell = acc.setdefault((method, budget), {"recall": np.zeros(len(KS)), "rel": 0.0, "sp": 0.0, "n": 0})
        cell["recall"] += rec
        cell["rel"] += rel or 0.0
        cell["sp"] += sp or 0.0
        cell["n"] += 1

    for seed, anchors in enumerate(anchor_sets):
        anchors = np.asarray(anchors)
        u = np.linalg.pinv(r[:, anchors], rcond=PINV_RCOND)  # k_i x k_q
        e = (u @ r).astype(np.float32)  # cached factor, float32 like relex
        for q in tests:
            s = m[q].astype(np.float64)
            c = m[q, anchors].astype(np.float64)
            approx = c @ e.astype(np.float64)
            rel = float(np.linalg.norm(approx - s) / np.linalg.norm(s))
            sp = spearman(approx, s)
            masked = approx.copy()
            masked[anchors] = -np.inf
            for b in BUDGETS:
                b_eff = min(b, len(s))
                retrieved = top_k(masked, b_eff - len(anchors))
                scored = set(anchors.tolist()) | set(retrieved.tolist())
                final = ranking(s, scored)[:max_k]
                add("anncur", b, np.array([recall(final, s, k) for k in KS]), rel, sp)
                items = sample_without_replacement(SplitMix64(seed * 1000003 + q), len(s), b)
                final = ranking(s, items)[:max_k]
                add("random", b, np.array([recall(final, s, k) for k in KS]))

    results = []
    for method in ["anncur", "random"]:
        for b in BUDGETS:
            cell = acc[(method, b)]
            n = cell["n"]
            results.append({
                "method": method,
                "budget": b,
                "recall": {f"recall@{k}": float(v / n) for k, v in zip(KS, cell["recall"])},
                "rel_error": cell["rel"] / n if method == "anncur" else None,
                "spearman": cell["sp"] / n if method == "anncur" else None,
            })
    return results


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(here), "approx")
    os.makedirs(out, exist_ok=True)
    m = make_matrix()
    np.save(os.path.join(out, "eval_matrix.npy"), m)
    anchor_sets = [sample_without_replacement(SplitMix64(s), ITEMS, K_I) for s in range(SEEDS)]
    with open(os.path.join(out, "eval_anchor_sets.json"), "w") as f:
        json.dump(anchor_sets, f)
    results = evaluate(m, anchor_sets)
    ref = {
        "anchor_rows": ANCHOR_ROWS,
        "k_i": K_I,
        "seeds": SEEDS,
        "ks": KS,
        "budgets": BUDGETS,
        "pinv_rcond": PINV_RCOND,
        "results": results,
    }
    with open(os.path.join(out, "eval_reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    for row in results:
        print(row["method"], row["budget"], row["recall"], row["rel_error"], row["spearman"])


if __name__ == "__main__":
    main()
