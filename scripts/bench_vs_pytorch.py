#!/usr/bin/env python3
"""relex vs PyTorch (sentence-transformers CrossEncoder.predict), same model, same pairs,
same machine, one run. Prints pairs/s for both and the ratio.

  cargo build --release
  python3 scripts/bench_vs_pytorch.py [--model assets/models/wordnet-minilm-ce] [--relex target/release/relex]

Cases: short (~24 tokens a pair), medium (~128), long (~384), and a mixed-length list
(lengths drawn from a long-tailed distribution, as real item lists are). Text is made of
real vocabulary words, seeded, so both sides see identical pairs.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import torch
from sentence_transformers import CrossEncoder

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def words():
    with open(os.path.join(ROOT, "tests", "data", "tiny-ce", "vocab.txt"), encoding="utf-8") as f:
        vocab = [w.strip() for w in f if w.strip().isalpha() and len(w.strip()) > 2]
    return vocab[2000:12000]


def text(rng, vocab, n_words):
    return " ".join(rng.choice(vocab) for _ in range(n_words))


def make_cases(n):
    rng = random.Random(7)
    vocab = words()
    # Most vocabulary words are one WordPiece token; a pair adds 3 special tokens.
    cases = {}
    for name, item_words in [("short", 13), ("medium", 116), ("long", 372)]:
        cases[name] = [(text(rng, vocab, 8), text(rng, vocab, item_words)) for _ in range(n)]
    mixed = []
    for _ in range(n):
        item_words = min(500, int(rng.lognormvariate(3.6, 0.8)))  # median ~37 words, long tail
        mixed.append((text(rng, vocab, 8), text(rng, vocab, item_words)))
    cases["mixed"] = mixed
    return cases


def bench_pytorch(model_dir, pairs, repeats, max_length):
    # f32 like relex: the shipped weights are f16, which sentence-transformers would
    # otherwise keep, running several times slower on CPU.
    ce = CrossEncoder(model_dir, device="cpu", max_length=max_length, model_kwargs={"dtype": torch.float32})
    assert next(ce.model.parameters()).dtype == torch.float32
    ce.predict(pairs[:32], batch_size=32)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        ce.predict(pairs, batch_size=32, show_progress_bar=False)
        best = min(best, time.perf_counter() - t)
    return len(pairs) / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "models", "wordnet-minilm-ce"))
    ap.add_argument("--relex", default=os.path.join(ROOT, "target", "release", "relex"))
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=512, help="pair length limit, the same on both sides")
    args = ap.parse_args()
    cases = make_cases(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pairs.json")
        with open(path, "w") as f:
            json.dump({k: [list(p) for p in v] for k, v in cases.items()}, f)
        out = subprocess.run(
            [args.relex, "bench", "--model", args.model, "--max-length", str(args.max_length),
             "--pairs", path, "--repeats", str(args.repeats), "--format", "json"],
            check=True, capture_output=True, text=True,
        )
        relex = json.loads(out.stdout)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {args.pairs} pairs per case; best of {args.repeats}")
    print(f"{'case':<8} {'tokens/pair':>11} {'relex pairs/s':>14} {'PyTorch pairs/s':>16} {'ratio':>6}")
    rows = []
    for name, pairs in cases.items():
        pt = bench_pytorch(args.model, pairs, args.repeats, args.max_length)
        rx = relex[name]["pairs_per_second"]
        toks = relex[name]["mean_tokens"]
        rows.append({"case": name, "mean_tokens": toks, "relex": rx, "pytorch": pt, "ratio": rx / pt})
        print(f"{name:<8} {toks:>11.0f} {rx:>14.1f} {pt:>16.1f} {rx / pt:>6.2f}")
    json.dump(rows, sys.stderr)


if __name__ == "__main__":
    main()
