#!/usr/bin/env python3
"""How far PyTorch's own f16 (and bf16) forward lands from its f32 forward (TF32 off) on
the GPU parity pairs: the yardstick for relex's GPU f16 parity figures.

  python3 scripts/torch_f16_error.py MODEL_DIR PAIRS.json OUT.json
"""
import json, sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model_dir, pairs_path, out = sys.argv[1:4]
tok = AutoTokenizer.from_pretrained(model_dir)
pairs = [p for v in json.load(open(pairs_path)).values() for p in v]
res = {}
scores = {}
for name, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
    torch.backends.cuda.matmul.allow_tf32 = False
    m = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dt).cuda().eval()
    s = []
    with torch.inference_mode():
        for i in range(0, len(pairs), 64):
            c = pairs[i:i + 64]
            enc = tok([q for q, _ in c], [d for _, d in c], padding=True, truncation="longest_first", max_length=512, return_tensors="pt").to("cuda")
            s += m(**enc).logits[:, 0].float().tolist()
    scores[name] = s
for name in ("f16", "bf16"):
    d = [abs(a - b) for a, b in zip(scores[name], scores["f32"])]
    res[name] = {"max_abs_vs_torch_f32": max(d), "mean_abs": sum(d) / len(d)}
res["n"] = len(pairs)
res["range_f32"] = [min(scores["f32"]), max(scores["f32"])]
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res))
