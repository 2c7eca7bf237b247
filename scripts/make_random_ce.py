#!/usr/bin/env python3
"""A BertForSequenceClassification of a model folder's shape (layers, widths, vocabulary)
with seeded random weights and that folder's tokenizer, in f16: for speed measurements
where the real weights cannot travel (throughput does not depend on the weights).

  python3 scripts/make_random_ce.py assets/models/wordnet-minilm-emb OUT_DIR
"""
import json, shutil, sys, torch
from transformers import BertConfig, BertForSequenceClassification
src, out = sys.argv[1:3]
c = json.load(open(f"{src}/config.json"))
cfg = BertConfig(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], num_hidden_layers=c["num_hidden_layers"],
                 num_attention_heads=c["num_attention_heads"], intermediate_size=c["intermediate_size"],
                 max_position_embeddings=c["max_position_embeddings"], num_labels=1)
torch.manual_seed(0)
m = BertForSequenceClassification(cfg).half()
m.save_pretrained(out)
for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
    shutil.copy(f"{src}/{f}", f"{out}/{f}")
print(cfg)
