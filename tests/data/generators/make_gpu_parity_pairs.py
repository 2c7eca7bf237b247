#!/usr/bin/env python3
"""Pairs for the GPU parity record (`tests/data/gpu_parity.json`): the shipped models'
golden pairs (as typed) and a demo spot check (test queries × demo items, the items in the
model's own template), in `relex bench --pairs` format: {case: [[query, item], ...]}.

  python3 tests/data/generators/make_gpu_parity_pairs.py assets/models/wordnet-minilm-emb tests/data/wordnet_emb_golden.json OUT.json

`tests/data/generators/gpu_parity.sh` scores them with `relex bench --device cuda --scores-out` on a GPU
machine, and `tests/data/generators/record_gpu_parity.py` files the scores beside the pairs.
"""
import json
import os
import random
import sys

model_dir, golden_path, out_path = sys.argv[1:4]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # repository root
config = json.load(open(f"{model_dir}/config.json"))
template = config.get("relex_item_template", "{title} [SEP] {text}")
golden = json.load(open(golden_path))["pairs"]
cases = {"golden": [[p.get("typed_query") or p["query"], p["item"]] for p in golden]}

items = [json.loads(l) for l in open(f"{ROOT}/assets/demo/items.jsonl") if l.strip()]
queries = [json.loads(l) for l in open(f"{ROOT}/assets/demo/test_queries.jsonl") if l.strip()]
rng = random.Random(11)
demo = []
for q in rng.sample(queries, 6):
    for it in rng.sample(items, 100):
        text = template.replace("{title}", it.get("title") or "").replace("{text}", it["text"])
        demo.append([q["text"], text])
cases["demo"] = demo
json.dump(cases, open(out_path, "w"))
print(f"{out_path}: " + ", ".join(f"{k} {len(v)} pairs" for k, v in cases.items()))
