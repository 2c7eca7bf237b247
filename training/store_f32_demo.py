#!/usr/bin/env python3
"""Join the f32 row chunks written by gpu_f32_demo.py, keep the f32 matrices out of git
(--f32-out: {anchor,test}_scores{SUFFIX}_f32.npy) and store their f16 rounding in --demo
({anchor,test}_scores{SUFFIX}.npy). training/recipes/demo-data.sh runs it:

  python3 training/store_f32_demo.py --chunks CHUNKS --f32-out OUT/f32 --demo OUT/f16 --anchors 400
  python3 training/store_f32_demo.py --chunks CHUNKS --f32-out OUT/f32 --demo OUT/f16 --anchors 500 --suffix _emb
--scale (a power of two, so exact): for matrices scored before a model's last LayerNorm was
scaled by 1/4 (export_model.py --scale-last-ln 0.25, which multiplies every score by exactly
1/16), --scale 0.0625 gives the exported model's scores.
"""
import argparse
import glob
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", required=True)
    ap.add_argument("--f32-out", default="scratch/demo_f32")
    ap.add_argument("--demo", default="assets/demo")
    ap.add_argument("--anchors", type=int, default=400)
    ap.add_argument("--tests", type=int, default=441)
    ap.add_argument("--suffix", default="")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply scores by this power of two")
    args = ap.parse_args()
    os.makedirs(args.f32_out, exist_ok=True)
    for name, n in (("anchor", args.anchors), ("test", args.tests)):
        parts = sorted(glob.glob(os.path.join(args.chunks, f"{name}_f32_r*.npy")))
        M = np.concatenate([np.load(p) for p in parts])
        assert M.dtype == np.float32 and M.shape == (n, 11587) and np.isfinite(M).all(), (M.dtype, M.shape)
        if args.scale != 1.0:
            assert np.log2(args.scale).is_integer()
            M = M * np.float32(args.scale)
        np.save(os.path.join(args.f32_out, f"{name}_scores{args.suffix}_f32.npy"), M)
        H = M.astype(np.float16)
        assert np.isfinite(H).all()
        np.save(os.path.join(args.demo, f"{name}_scores{args.suffix}.npy"), H)
        print(name, M.shape, "range [%.3f, %.3f]" % (M.min(), M.max()),
              "max |f16 - f32| %.6f" % np.abs(H.astype(np.float32) - M).max())


if __name__ == "__main__":
    main()
