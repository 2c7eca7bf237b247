#!/usr/bin/env python3
"""Spot check of the demo's stored score matrices against relex on CPU.

The matrices checked are the ones in the repository:

  anchor  the model's index, assets/demo/index-<model folder>/R.safetensors (f16 [k_q, 11587]),
          rows in that index's anchor_queries.jsonl order;
  test    assets/demo/test_scores.npy (f16 [441, 11587], rows in test_queries.jsonl order):
          the default model's (wordnet-minilm-emb) exact test-query scores; checked by default
          only for that model (--test-scores PATH for another matrix, --test-scores none to skip).

Draws (query, item) entries from each matrix (seeded: --queries rows per matrix, per row the 5
best items by the stored score + random items up to --items), scores them with the relex binary
on CPU

    relex score --model MODEL --items SUBSET.jsonl --query TEXT --format json

and reports max |relex - stored f16| (against the f16 half-ulp at each value) and, when the
exact f32 matrices are given (--f32-anchor / --f32-test: what training/store_f32_demo.py keeps
out of git, e.g. training/recipes/demo-data.sh's $OUT/f32/{anchor,test}_scores_emb_f32.npy),
max |relex - f32 GPU|, which must be <= --tol (1e-3). Exit status 1 when a bound fails.

    python3 scripts/spot_check_demo.py                                  # default model, both matrices
    python3 scripts/spot_check_demo.py --model assets/models/wordnet-minilm-ce   # its index only
    python3 scripts/spot_check_demo.py --f32-anchor F32/anchor_scores_emb_f32.npy \\
        --f32-test F32/test_scores_emb_f32.npy
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "assets/models/wordnet-minilm-emb")


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


def read_index_matrix(path, name="R"):
    """The f16 matrix `name` of a safetensors file (8-byte header length, JSON header, data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        t = header[name]
        assert t["dtype"] == "F16", t
        start, end = t["data_offsets"]
        f.seek(8 + n + start)
        buf = f.read(end - start)
    return np.frombuffer(buf, dtype="<f2").reshape(t["shape"])


def half_ulp_f16(v):
    """Half the f16 spacing at |v| (normal range): the worst rounding error of storing v as f16."""
    v = np.abs(np.asarray(v, dtype=np.float64))
    e = np.floor(np.log2(np.maximum(v, 2.0 ** -14)))
    return 2.0 ** (e - 10) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", default=os.path.join(ROOT, "assets/demo"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--index", default="", help="index folder (default: DEMO/index-<model folder name>)")
    ap.add_argument("--test-scores", default="auto",
                    help="test-query matrix .npy; 'auto': DEMO/test_scores.npy for the default model, "
                         "none otherwise; 'none': skip")
    ap.add_argument("--f32-anchor", default="", help="exact f32 anchor matrix (.npy, same shape as the index)")
    ap.add_argument("--f32-test", default="", help="exact f32 test matrix (.npy, same shape as --test-scores)")
    ap.add_argument("--queries", type=int, default=15, help="queries drawn from EACH matrix")
    ap.add_argument("--items", type=int, default=40, help="items per query (5 best + random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--relex", default=None, help="relex binary (default: target/release, else target/debug)")
    args = ap.parse_args()

    model = os.path.abspath(args.model)
    index = args.index or os.path.join(args.demo, "index-" + os.path.basename(model.rstrip("/")))
    test_scores = args.test_scores
    if test_scores == "auto":
        test_scores = os.path.join(args.demo, "test_scores.npy") if model == DEFAULT_MODEL else "none"

    items = read_jsonl(os.path.join(args.demo, "items.jsonl"))
    matrices = [("anchor", read_jsonl(os.path.join(index, "anchor_queries.jsonl")),
                 read_index_matrix(os.path.join(index, "R.safetensors")), args.f32_anchor)]
    if test_scores != "none":
        matrices.append(("test", read_jsonl(os.path.join(args.demo, "test_queries.jsonl")),
                         np.load(test_scores), args.f32_test))

    rng = np.random.default_rng(args.seed)
    binary = relex_binary(args.relex)
    rows = []  # (matrix, row, col, relex, f16, f32)
    with tempfile.TemporaryDirectory() as tmp:
        for name, queries, H, f32_path in matrices:
            assert H.dtype == np.float16 and H.shape == (len(queries), len(items)), (name, H.dtype, H.shape)
            F = np.load(f32_path) if f32_path else None
            if F is not None:
                assert F.dtype == np.float32 and F.shape == H.shape, (f32_path, F.dtype, F.shape)
            for r in sorted(rng.choice(len(queries), args.queries, replace=False).tolist()):
                top = np.argsort(-H[r].astype(np.float32), kind="stable")[:5]
                rest = np.setdiff1d(np.arange(len(items)), top)
                cols = np.concatenate([top, rng.choice(rest, args.items - len(top), replace=False)])
                sub = os.path.join(tmp, "subset.jsonl")
                with open(sub, "w", encoding="utf-8") as f:
                    for c in cols:
                        f.write(json.dumps(items[c], ensure_ascii=False) + "\n")
                out = subprocess.run([binary, "score", "--model", model, "--items", sub,
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
    rep = {"binary": os.path.relpath(binary, ROOT), "model": os.path.relpath(model, ROOT),
           "matrices": [m[0] for m in matrices], "entries": len(rows),
           "queries": len(matrices) * args.queries, "items_per_query": args.items, "seed": args.seed,
           "score_range": [float(relex.min()), float(relex.max())],
           "max_abs_relex_minus_f16": float(d16.max()), "mean_abs_relex_minus_f16": float(d16.mean()),
           "max_f16_half_ulp_at_sampled_values": float(hu.max()),
           "max_excess_over_f16_half_ulp": float((d16 - hu).max())}
    ok = bool((d16 <= hu + args.tol).all())
    has32 = np.isfinite(f32)
    if has32.any():
        d32 = np.abs(relex[has32] - f32[has32])
        rep.update({"entries_with_f32": int(has32.sum()),
                    "max_abs_relex_minus_f32_gpu": float(d32.max()), "mean_abs_relex_minus_f32_gpu": float(d32.mean()),
                    "max_abs_f32_minus_f16": float(np.abs(f32[has32] - f16[has32]).max())})
        ok = ok and bool(d32.max() <= args.tol)
    rep["pass"] = ok
    print(json.dumps(rep, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
