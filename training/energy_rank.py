#!/usr/bin/env python3
"""How close to low rank a demo score matrix is: the rank needed for 90 / 95 / 99 % of the
energy (squared singular values) of its first --rows rows after removing each item column's
mean. The figure docs/experiments.md and the [EMB] model card quote for R[:400] of an index.

  python3 training/energy_rank.py assets/demo/index-wordnet-minilm-emb/R.safetensors   # 68 140 289
  python3 training/energy_rank.py M.npy --rows 400

Reads an index's R.safetensors (f16/f32, without the safetensors package) or an .npy; numpy only.
"""
import argparse
import json
import struct

import numpy as np

DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}


def load(path):
    if not path.endswith(".safetensors"):
        return np.load(path)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = {k: v for k, v in json.loads(f.read(n)).items() if k != "__metadata__"}
        t = header["R"] if "R" in header else next(iter(header.values()))
        start, end = t["data_offsets"]
        f.seek(8 + n + start)
        return np.frombuffer(f.read(end - start), dtype=DTYPES[t["dtype"]]).reshape(t["shape"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("matrix")
    ap.add_argument("--rows", type=int, default=400, help="first rows used (0: all)")
    ap.add_argument("--shares", default="0.9,0.95,0.99")
    args = ap.parse_args()
    M = load(args.matrix).astype(np.float64)
    if args.rows:
        M = M[:args.rows]
    s = np.linalg.svd(M - M.mean(axis=0), compute_uv=False) ** 2
    cum = np.cumsum(s) / s.sum()
    print(" ".join(str(int(np.searchsorted(cum, float(p)) + 1)) for p in args.shares.split(",")))


if __name__ == "__main__":
    main()
