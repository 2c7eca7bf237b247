#!/usr/bin/env python3
"""Join the f32 row chunks returned by gpu_call5.sh, keep the f32 matrices out of git
(--f32-out) and store their f16 rounding as assets/demo/{anchor,test}_scores.npy.

  python3 training/store_f32_demo.py --chunks CALL5_OUT --f32-out /work/scratch/demo_f32 --demo assets/demo
"""
import argparse
import glob
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", required=True)
    ap.add_argument("--f32-out", default="/work/scratch/demo_f32")
    ap.add_argument("--demo", default="assets/demo")
    args = ap.parse_args()
    os.makedirs(args.f32_out, exist_ok=True)
    for name, n in (("anchor", 400), ("test", 441)):
        parts = sorted(glob.glob(os.path.join(args.chunks, f"{name}_f32_r*.npy")))
        M = np.concatenate([np.load(p) for p in parts])
        assert M.dtype == np.float32 and M.shape == (n, 11587) and np.isfinite(M).all(), (M.dtype, M.shape)
        np.save(os.path.join(args.f32_out, f"{name}_scores_f32.npy"), M)
        H = M.astype(np.float16)
        np.save(os.path.join(args.demo, f"{name}_scores.npy"), H)
        print(name, M.shape, "max |f16 - f32| %.6f" % np.abs(H.astype(np.float32) - M).max())


if __name__ == "__main__":
    main()
