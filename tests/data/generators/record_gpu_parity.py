#!/usr/bin/env python3
"""Files GPU scores (from tests/data/generators/gpu_parity.sh) beside their pairs in
tests/data/gpu_parity.json, under the model's path.

  python3 tests/data/generators/record_gpu_parity.py MODEL_DIR PAIRS.json OUT_PREFIX "NVIDIA H200, driver 580"
"""
import json
import os
import sys

model_dir, pairs_path, prefix, device = sys.argv[1:5]
path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gpu_parity.json")
record = json.load(open(path)) if os.path.exists(path) else {"recorded_by": "tests/data/generators/gpu_parity.sh", "models": {}}
pairs = json.load(open(pairs_path))
entry = {"device": device, "cases": {}}
for case, case_pairs in pairs.items():
    scores = {}
    for precision in ("f16", "mixed", "bf16", "f32"):
        f = f"{prefix}.{precision}.json"
        if os.path.exists(f):
            scores[precision] = json.load(open(f))[case]
            assert len(scores[precision]) == len(case_pairs), (f, case)
    entry["cases"][case] = {"pairs": case_pairs, "cuda": scores}
record["models"][model_dir] = entry
with open(path, "w") as f:
    json.dump(record, f)
    f.write("\n")
print(f"{path}: {model_dir}: " + ", ".join(f"{c} {len(v['pairs'])} pairs" for c, v in entry["cases"].items()))
