#!/usr/bin/env python3
"""Assemble the shipped Hugging Face model folder from a trained checkpoint.

  python3 training/export_model.py --ckpt DIR_WITH_model.safetensors_and_config.json \
      --base .payload/base --out assets/models/wordnet-minilm-ce

Writes config.json (relex keys added), model.safetensors (f16), tokenizer.json
([unused0..2] registered as special added tokens, padding/truncation = null),
vocab.txt, tokenizer_config.json, special_tokens_map.json.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ITEM_TEMPLATE, MARK_L, MARK_R, make_tokenizer_files  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--base", default=".payload/base")
    ap.add_argument("--out", default="assets/models/wordnet-minilm-ce")
    ap.add_argument("--arch", default="ce")
    ap.add_argument("--scale-last-ln", type=float, default=1.0,
                    help="emb: multiply the last layer's output LayerNorm weight and bias by this power of "
                         "two; every hidden state of that layer scales by it and every score by its square, "
                         "exactly in floating point (ranking unchanged). 0.25 -> scores / 16, so that f16 "
                         "score matrices keep ~1e-3 resolution")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make_tokenizer_files(args.base, args.out)
    cfg = json.load(open(os.path.join(args.ckpt, "config.json")))
    if args.arch == "ce":
        cfg["architectures"] = ["BertForSequenceClassification"]
        cfg["num_labels"] = 1
        cfg["id2label"] = {"0": "LABEL_0"}
        cfg["label2id"] = {"LABEL_0": 0}
        cfg.pop("problem_type", None)
    else:
        cfg["architectures"] = ["BertModel"]
        # score = dot(mean(h[unused0], h[unused1]), h[unused2]) of the last hidden layer
        # (first occurrence of each marker); relex: SpecialTokenHead
        cfg["relex_pooling"] = "w_embeds"
        cfg.pop("relex_score", None)
    cfg["dtype"] = "float16"
    cfg.pop("torch_dtype", None)
    cfg["max_position_embeddings"] = cfg.get("max_position_embeddings", 512)
    cfg["relex_item_template"] = ITEM_TEMPLATE
    cfg["relex_mention_markers"] = [MARK_L, MARK_R]
    cfg["relex_max_length"] = 256
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    src = os.path.join(args.ckpt, "model.safetensors")
    dst = os.path.join(args.out, "model.safetensors")
    if args.scale_last_ln != 1.0:
        import math
        import torch
        from safetensors.torch import load_file, save_file
        assert args.arch == "emb" and math.log2(args.scale_last_ln).is_integer(), "emb only, power of two"
        sd = load_file(src)
        n = cfg["num_hidden_layers"] - 1
        for k in (f"encoder.layer.{n}.output.LayerNorm.weight", f"encoder.layer.{n}.output.LayerNorm.bias"):
            key = k if k in sd else "bert." + k
            new = (sd[key].float() * args.scale_last_ln).to(sd[key].dtype)
            inexact = new.float() / args.scale_last_ln != sd[key].float()
            if inexact.any():
                # only values that become f16 subnormals (|x| < 2^-14 after scaling) may lose bits
                tiny = float(torch.finfo(torch.float16).tiny)
                assert (new.float()[inexact].abs() < tiny).all(), "scaling not exact"
                err = (new.float()[inexact] - sd[key].float()[inexact] * args.scale_last_ln).abs().max().item()
                print(f"{key}: {int(inexact.sum())} value(s) rounded as f16 subnormals after scaling, "
                      f"max change {err:.2e} (scores change by less than that times the hidden size)")
            sd[key] = new.contiguous()
        save_file(sd, dst, metadata={"format": "pt"})
        print("scaled", n, "output LayerNorm by", args.scale_last_ln, "-> scores x", args.scale_last_ln ** 2)
    elif os.path.abspath(src) != os.path.abspath(dst):
        shutil.copy(src, dst)
    # sanity: f16, loads
    from safetensors import safe_open
    with safe_open(dst, "pt") as f:
        dts = {str(f.get_slice(k).get_dtype()) for k in f.keys()}
    print("dtypes", dts, "size MB", os.path.getsize(dst) / 1e6)


if __name__ == "__main__":
    main()
