#!/usr/bin/env python3
"""Natural-sentence word-sense evaluation (issue 9).

training/natural_sentences.jsonl holds sentences written for relex (not taken from
WordNet), one marked mention each: {"text", "lemma", "gold", "gold_pos", "senses",
"first_sense_gold_pos", "mfs_all_pos"}; "senses" = every WordNet 3.0 synset of the
lemma over all parts of speech, in WordNet order (noun, verb, adj, adv; sense
number order within each), ids as in the corpus (training/wordnet_build.py).

For each sentence the model scores the marked sentence against every sense's item
`{title} [unused2] {text}`; Top-1 = the gold sense scores highest (ties count
against the model). Reported next to it:
  - first sense (gold POS): WordNet's sense 1 of the lemma in the gold sense's part of
    speech (an oracle-POS baseline: it is told the part of speech);
  - MFS (all POS): the sense with the largest SemCor tag count over all parts of speech
    (cntlist.rev; ties -> noun, verb, adj, adv, then sense number);
  - model (gold POS): the model's Top-1 among the senses of the gold's part of speech
    only, the fair comparison with the first-sense baseline;
  - random: mean of 1 / number of senses.
Plain query variants (`--variants marked,sentence,mention`): the whole sentence
unmarked / the mention alone; for w_embeds models these are wrapped as
`[unused0] query [unused1]` (as relex and training do).

  python3 training/eval_natural.py --model assets/models/wordnet-minilm-ce --data .payload/wordnet [--json out.json]
  python3 training/eval_natural.py --model assets/models/wordnet-minilm-emb --pos-cue --data .payload/wordnet

--pos-cue: non-noun sense items carry their part of speech (`bank (verb): tip laterally`,
common.pos_cue_text), for models trained with train_ce.py --pos-cue; --domain-cue: every
sense names its WordNet class too (common.domain_cue_text); --hypernym-cue: its first
hypernym (common.hypernym_cue_text).
"""
import argparse
import json
import lzma
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path):
    op = lzma.open if path.endswith(".xz") else open
    with op(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def load_items(data):
    for name in ("items.jsonl", "items.jsonl.xz"):
        p = os.path.join(data, name)
        if os.path.exists(p):
            return {it["id"]: it for it in read_jsonl(p)}
    raise FileNotFoundError(data)


def variant(text, mode):
    if mode == "marked":
        return text
    plain = text.replace(" [unused0] ", " ").replace(" [unused1] ", " ")
    plain = plain.replace("[unused0] ", "").replace(" [unused1]", "")
    if mode == "sentence":
        return plain
    if mode == "mention":
        return text.split("[unused0]")[1].split("[unused1]")[0].strip()
    raise ValueError(mode)


class HFScorer:
    """transformers scorer for a relex model folder: CE ([CLS] logit) or w_embeds."""

    def __init__(self, model_dir, device="cpu"):
        from transformers import AutoTokenizer, AutoModelForSequenceClassification, BertModel
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.emb = self.cfg.get("relex_pooling") == "w_embeds"
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.tmpl = self.cfg["relex_item_template"]
        self.max_len = self.cfg.get("relex_max_length", 256)
        self.device = torch.device(device)
        if self.emb:
            self.model = BertModel.from_pretrained(model_dir, dtype=torch.float32, add_pooling_layer=False)
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
        self.model.eval().to(self.device)

    def wrap(self, query):
        if self.emb and "[unused0]" not in query:
            return "[unused0] " + query + " [unused1]"
        return query

    @torch.no_grad()
    def score(self, query, item_texts, bs=64):
        q = self.wrap(query)
        out = []
        for s in range(0, len(item_texts), bs):
            chunk = item_texts[s:s + bs]
            enc = self.tok([q] * len(chunk), chunk, truncation="longest_first", max_length=self.max_len,
                           padding=True, return_tensors="pt").to(self.device)
            if self.emb:
                h = self.model(**enc).last_hidden_state.float()
                ids = enc["input_ids"]

                def first(t):
                    m = (ids == t).float()
                    return m * (m.cumsum(1) == 1).float()
                qv = (torch.einsum("bl,bld->bd", first(1), h) + torch.einsum("bl,bld->bd", first(2), h)) / 2
                iv = torch.einsum("bl,bld->bd", first(3), h)
                out.append((qv * iv).sum(-1).cpu())
            else:
                out.append(self.model(**enc).logits[:, 0].float().cpu())
        return torch.cat(out).numpy()


def evaluate(score, sentences, items, variants=("marked",), item_template="{title} [unused2] {text}"):
    """score(query, [item texts]) -> np.array. Returns a metrics dict."""
    res = {"n": len(sentences)}
    fs = [s["first_sense_gold_pos"] == s["gold"] for s in sentences]
    mfs = [s["mfs_all_pos"] == s["gold"] for s in sentences]
    res["first_sense_gold_pos_top1"] = float(np.mean(fs))
    res["mfs_all_pos_top1"] = float(np.mean(mfs))
    res["random_top1"] = float(np.mean([1.0 / len(s["senses"]) for s in sentences]))
    res["mean_senses"] = float(np.mean([len(s["senses"]) for s in sentences]))
    res["n_pairs"] = int(sum(len(s["senses"]) for s in sentences))
    res["gold_is_first_sense_share"] = res["first_sense_gold_pos_top1"]
    per = []
    for v in variants:
        hits, hits_pos, ranks = [], [], []
        for k, s in enumerate(sentences):
            texts = [item_template.format(title=items[i]["title"], text=items[i]["text"]) for i in s["senses"]]
            sc = np.asarray(score(variant(s["text"], v), texts), dtype=np.float64)
            g = s["senses"].index(s["gold"])
            rank = int((sc > sc[g]).sum() + (np.delete(sc, g) == sc[g]).sum())
            ranks.append(rank)
            hits.append(rank == 0)
            gp = "a" if s["gold_pos"] in ("a", "s") else s["gold_pos"]
            same = [j for j, i in enumerate(s["senses"]) if ("a" if items[i]["pos"] in ("a", "s") else items[i]["pos"]) == gp]
            hits_pos.append(all(sc[g] > sc[j] for j in same if j != g))
            if v == "marked":
                per.append({"text": s["text"], "gold": s["gold"], "pred": s["senses"][int(np.argmax(sc))],
                            "rank": rank, "n": len(sc)})
        res[v] = {"top1": float(np.mean(hits)), "top1_gold_pos": float(np.mean(hits_pos)),
                  "mrr": float(np.mean([1.0 / (r + 1) for r in ranks])), "top3": float(np.mean([r < 3 for r in ranks]))}
        by_pos = {}
        for s, h in zip(sentences, hits):
            p = "a" if s["gold_pos"] in ("a", "s") else s["gold_pos"]
            by_pos.setdefault(p, []).append(h)
        res[v]["top1_by_pos"] = {p: [float(np.mean(x)), len(x)] for p, x in sorted(by_pos.items())}
        fs_sub = {}
        for s, h, f in zip(sentences, hits, fs):
            fs_sub.setdefault("gold_first_sense" if f else "gold_other_sense", []).append(h)
        res[v]["top1_by_gold_sense"] = {k: [float(np.mean(x)), len(x)] for k, x in fs_sub.items()}
    res["per_sentence_marked"] = per
    return res


def summary(name, r):
    lines = [f"{name}: n={r['n']} sentences, {r['n_pairs']} pairs, mean {r['mean_senses']:.1f} senses/lemma"]
    for v in ("marked", "sentence", "mention"):
        if v in r:
            x = r[v]
            lines.append(f"  {v:8s} Top-1 {100 * x['top1']:.1f}  (gold-POS only {100 * x['top1_gold_pos']:.1f}; "
                         f"Top-3 {100 * x['top3']:.1f}; MRR {x['mrr']:.3f}; by POS "
                         + ", ".join(f"{p} {100 * a:.1f}/{n}" for p, (a, n) in x["top1_by_pos"].items())
                         + "; gold=first sense " + ", ".join(f"{k} {100 * a:.1f}/{n}" for k, (a, n) in x["top1_by_gold_sense"].items()) + ")")
    lines.append(f"  baselines: first sense (gold POS) {100 * r['first_sense_gold_pos_top1']:.1f}, "
                 f"MFS all POS {100 * r['mfs_all_pos_top1']:.1f}, random {100 * r['random_top1']:.1f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--data", default=".payload/wordnet")
    ap.add_argument("--sentences", default=os.path.join(HERE, "natural_sentences.jsonl"))
    ap.add_argument("--variants", default="marked,sentence,mention")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default="")
    ap.add_argument("--pos-cue", action="store_true", help="non-noun item texts carry their POS")
    ap.add_argument("--domain-cue", action="store_true", help="item texts carry their WordNet class")
    ap.add_argument("--hypernym-cue", action="store_true", help="item texts name their first hypernym")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    items = load_items(args.data)
    if args.pos_cue or args.domain_cue or args.hypernym_cue:
        sys.path.insert(0, HERE)
        from common import cue_text
        titles = {k: it["title"] for k, it in items.items()} if args.hypernym_cue else None
        for it in items.values():
            it["text"] = cue_text(it, args.pos_cue, args.domain_cue, titles)
    sents = read_jsonl(args.sentences)
    out = {}
    for m in args.model:
        sc = HFScorer(m, args.device)
        r = evaluate(sc.score, sents, items, args.variants.split(","), sc.tmpl)
        out[m] = r
        print(summary(m, r), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
