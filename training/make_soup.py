#!/usr/bin/env python3
"""Weight-space average of two exported relex models of one architecture ("model soup",
Wortsman et al. 2022): every tensor is (1 - a) * A + a * B, computed in f32 with numpy and
stored in A's dtype, so the same inputs give the same bytes on any machine. Issue 9 item 5:
v2 (2.1 epochs) and L2 (4 epochs) of one recipe trade natural-sentence accuracy against the
low rank of the demo's score matrix; a soup sits between them.

  python3 training/make_soup.py --a assets/models/wordnet-minilm-emb --b WORK/runs/L2/wordnet-minilm-emb \
      --alpha 0.5 --out WORK/runs/soup0.5
"""
import argparse
import os
import shutil

import numpy as np
from safetensors.numpy import load_file, save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="model folder (config, tokenizer, model.safetensors)")
    ap.add_argument("--b", required=True, help="model folder or a bare .safetensors of the same shapes")
    ap.add_argument("--a-weights", default="", help="A's weights if not in --a (e.g. decompressed elsewhere)")
    ap.add_argument("--alpha", type=float, required=True, help="weight of B")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    wa = load_file(args.a_weights or os.path.join(args.a, "model.safetensors"))
    wb = load_file(args.b if args.b.endswith(".safetensors") else os.path.join(args.b, "model.safetensors"))
    if wa.keys() != wb.keys():
        raise SystemExit(f"tensor names differ: {sorted(set(wa) ^ set(wb))[:5]}")
    a = np.float32(args.alpha)
    out = {}
    for k, x in wa.items():
        y = wb[k]
        if x.shape != y.shape:
            raise SystemExit(f"{k}: shape {x.shape} vs {y.shape}")
        out[k] = ((np.float32(1) - a) * x.astype(np.float32) + a * y.astype(np.float32)).astype(x.dtype)
    os.makedirs(args.out, exist_ok=True)
    save_file(out, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    for f in os.listdir(args.a):
        src = os.path.join(args.a, f)
        if os.path.isfile(src) and not f.startswith("model.safetensors") and f != "README.md":
            shutil.copy(src, args.out)
    print(f"{args.out}: {len(out)} tensors, alpha {args.alpha}")


if __name__ == "__main__":
    main()
