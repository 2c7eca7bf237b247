#!/usr/bin/env python3
"""Spot check of the demo score matrices against relex on CPU.

Draws (query, item) entries from assets/demo/{anchor,test}_scores.npy (seeded: Q queries from each
matrix, per query the 5 best items by the stored score + random items up to K), scores them with the
relex binary on CPU

    relex score --model assets/models/wordnet-minilm-ce --items SUBSET.jsonl --query TEXT --format json

and reports max |relex - stored f16| (against the f16 half-ulp at each value) and, when the f32
matrices are given (--f32-dir, kept out of git), max |relex - f32 GPU|, which must be <= 1e-3.
Exit status 1 when a bound fails.

    python3 scripts/spot_check_demo.py [--f32-dir DIR_WITH_F32_MATRICES] [--queries 15 --items 40 --seed 0]
    # issue 9, the [EMB] model's matrices ({anchor,test}_scores_emb.npy, anchor_queries_emb.jsonl):
    python3 scripts/spot_check_demo.py --model scratch/issue9/wordnet-minilm-emb --suffix _emb \
        --demo assets/demo --f32-dir scratch/issue9/demo_f32
With --suffix S: scores `{anchor,test}_scores{S}.npy`, queries `{anchor,test}_queries{S}.jsonl` when
that file exists (else `{anchor,test}_queries.jsonl`), f32 `{anchor,test}_scores{S}_f32.npy`.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def relex_binary(explicit=None):
    if explicit:
        return explicit
    for b in ("target/release/relex", "target/debug/relex"):
        p = os.path.join(ROOT, b)
        if os.path.exists(p):
            return p
    subprocess.run(["cargo", "build"], cwd=ROOT, check=True)  # waits for cargo's lock if another build runs
    return os.path.join(ROOT, "target/debug/relex")


def read_jsonl(p):
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]


def half_ulp_f16(v):
    """Half the f16 spacing at |v| (normal range): the worst rounding error of storing v as f16."""
    v = np.abs(np.asarray(v, dtype=np.float64))
    e = np.floor(np.log2(np.maximum(v, 2.0 ** -14)))
    return 2.0 ** (e - 10) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", default=os.path.join(ROOT, "assets/demo"))
    ap.add_argument("--model", default=os.path.join(ROOT, "assets/models/wordnet-minilm-ce"))
    ap.add_argument("--f32-dir", default=os.path.join(ROOT, "scratch/demo_f32"),
                    help="anchor_scores_f32.npy / test_scores_f32.npy (optional; kept out of git, "
                         "regenerate with training/gpu_call5.sh + store_f32_demo.py)")
    ap.add_argument("--queries", type=int, default=15, help="queries drawn from EACH matrix")
    ap.add_argument("--items", type=int, default=40, help="items per query (5 best + random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--suffix", default="", help="matrix / query file suffix, e.g. _emb")
    ap.add_argument("--relex", default=None, help="relex binary (default: target/release, else target/debug)")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    items = read_jsonl(os.path.join(args.demo, "items.jsonl"))
    binary = relex_binary(args.relex)
    rows = []  # (matrix, row, col, relex, f16, f32)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("anchor", "test"):
            qp = os.path.join(args.demo, f"{name}_queries{args.suffix}.jsonl")
            if not os.path.exists(qp):
                qp = os.path.join(args.demo, f"{name}_queries.jsonl")
            queries = read_jsonl(qp)
            H = np.load(os.path.join(args.demo, f"{name}_scores{args.suffix}.npy"))
            assert H.dtype == np.float16 and H.shape == (len(queries), len(items)), (H.dtype, H.shape)
            fp = os.path.join(args.f32_dir, f"{name}_scores{args.suffix}_f32.npy")
            F = np.load(fp) if os.path.exists(fp) else None
            if F is not None:
                assert F.dtype == np.float32 and F.shape == H.shape
            for r in sorted(rng.choice(len(queries), args.queries, replace=False).tolist()):
                top = np.argsort(-H[r].astype(np.float32), kind="stable")[:5]
                rest = np.setdiff1d(np.arange(len(items)), top)
                cols = np.concatenate([top, rng.choice(rest, args.items - len(top), replace=False)])
                sub = os.path.join(tmp, "subset.jsonl")
                with open(sub, "w", encoding="utf-8") as f:
                    for c in cols:
                        f.write(json.dumps(items[c], ensure_ascii=False) + "\n")
                out = subprocess.run([binary, "score", "--model", args.model, "--items", sub,
                                      "--query", queries[r]["text"], "--format", "json"],
                                     check=True, capture_output=True, text=True).stdout
                res = {e["id"]: e for e in json.loads(out)}
                assert len(res) == len(cols)
                for c in cols:
                    e = res[items[c]["id"]]
                    assert not e["truncated"], e
                    rows.append((name, r, int(c), float(e["score"]), float(H[r, c]),
                                 float(F[r, c]) if F is not None else np.nan))
    a = np.array([x[3:] for x in rows], dtype=np.float64)
    relex, f16, f32 = a[:, 0], a[:, 1], a[:, 2]
    d16 = np.abs(relex - f16)
    hu = half_ulp_f16(f16)
    rep = {"binary": os.path.relpath(binary, ROOT), "entries": len(rows),
           "queries": 2 * args.queries, "items_per_query": args.items, "seed": args.seed,
           "score_range": [float(relex.min()), float(relex.max())],
           "max_abs_relex_minus_f16": float(d16.max()), "mean_abs_relex_minus_f16": float(d16.mean()),
           "max_f16_half_ulp_at_sampled_values": float(hu.max()),
           "max_excess_over_f16_half_ulp": float((d16 - hu).max())}
    ok = bool((d16 <= hu + args.tol).all())
    if np.isfinite(f32).all():
        d32 = np.abs(relex - f32)
        rep.update({"max_abs_relex_minus_f32_gpu": float(d32.max()), "mean_abs_relex_minus_f32_gpu": float(d32.mean()),
                    "max_abs_f32_minus_f16": float(np.abs(f32 - f16).max())})
        ok = ok and bool(d32.max() <= args.tol)
    rep["pass"] = ok
    print(json.dumps(rep, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
