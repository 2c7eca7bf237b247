#!/usr/bin/env python3
"""relex on a GPU vs PyTorch on the same GPU, same model, same pairs, one run.

  python3 scripts/bench_gpu.py --relex dist/relex-cuda --model assets/models/wordnet-minilm-ce

Three figures per case (the cases of scripts/bench_vs_pytorch.py: short, medium, long,
mixed):
  - relex: `relex bench --device cuda` (f16), end to end: tokenisation included (also
    reported: tokenisation alone, and the model alone on pairs tokenised beforehand);
  - sentence-transformers: `CrossEncoder.predict` in f16 at its best batch size of
    64/128/256/512, end to end, as users run it;
  - the model-forward bound: transformers' model alone in f16 on batches tokenised
    beforehand (sorted by length, padded per batch, already on the GPU): what the GPU
    can do when nothing else is in the way.
Prints a table and writes the rows as JSON to --json.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from sentence_transformers import CrossEncoder
from transformers import AutoModelForSequenceClassification, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_cpu", os.path.join(HERE, "bench_vs_pytorch.py"))
bench_cpu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_cpu)


def sync_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def sentence_transformers_best(model_dir, pairs, max_length, repeats):
    ce = CrossEncoder(model_dir, device="cuda", max_length=max_length,
                      model_kwargs={"dtype": torch.float16})
    best = (0.0, None)
    for bs in (64, 128, 256, 512):
        ce.predict(pairs[: bs * 2], batch_size=bs, show_progress_bar=False)  # warm-up
        secs = sync_time(lambda: ce.predict(pairs, batch_size=bs, show_progress_bar=False), repeats)
        rate = len(pairs) / secs
        if rate > best[0]:
            best = (rate, bs)
    return best


def forward_bound(model, tok, pairs, max_length, batch_size, repeats):
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    batches = []
    for s in range(0, len(order), batch_size):
        chunk = [pairs[i] for i in order[s:s + batch_size]]
        enc = tok([q for q, _ in chunk], [d for _, d in chunk], padding=True, truncation="longest_first",
                  max_length=max_length, return_tensors="pt")
        batches.append({k: v.cuda() for k, v in enc.items()})

    def run():
        with torch.inference_mode():
            for b in batches:
                model(**b)

    run()  # warm-up
    return len(pairs) / sync_time(run, repeats)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--relex", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cases = bench_cpu.make_cases(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pairs.json")
        with open(path, "w") as f:
            json.dump({k: [list(p) for p in v] for k, v in cases.items()}, f)
        out = subprocess.run(
            [args.relex, "bench", "--device", "cuda", "--model", args.model, "--max-length", str(args.max_length),
             "--pairs", path, "--repeats", str(args.repeats), "--format", "json"],
            check=True, capture_output=True, text=True,
        )
        relex = json.loads(out.stdout)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, dtype=torch.float16).cuda().eval()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}; {args.pairs} pairs per case; best of {args.repeats}")
    print(f"{'case':<8} {'tok/pair':>8} {'relex':>9} {'(tokenise)':>10} {'(model)':>9} {'s-t (bs)':>14} {'ratio':>6} {'fwd bound':>10} {'of bound':>8}")
    rows = []
    for name, pairs in cases.items():
        st, bs = sentence_transformers_best(args.model, pairs, args.max_length, args.repeats)
        bound = max(forward_bound(model, tok, pairs, args.max_length, b, args.repeats) for b in (256, 512))
        rx = relex[name]["pairs_per_second"]
        tok_rate = len(pairs) / relex[name]["tokenize_seconds"]
        toks = relex[name]["mean_tokens"]
        model_rate = relex[name]["encoded_pairs_per_second"]
        rows.append({"case": name, "mean_tokens": toks, "relex": rx, "relex_tokenise_only": tok_rate,
                     "relex_model_only": model_rate,
                     "sentence_transformers": st,
                     "st_batch_size": bs, "forward_bound": bound, "ratio": rx / st, "of_bound": rx / bound})
        print(f"{name:<8} {toks:>8.0f} {rx:>9.0f} {tok_rate:>10.0f} {model_rate:>9.0f} {st:>9.0f} ({bs:>3}) {rx / st:>6.2f} {bound:>10.0f} {rx / bound:>8.2f}")
        sys.stdout.flush()
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
