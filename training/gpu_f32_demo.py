#!/usr/bin/env python3
"""Compute the demo score matrices in exact float32 (TF32 off) with a shipped model, so they
match relex's CPU f32 scores to ~1e-5 (training/recipes/demo-data.sh ce-scores / emb-scores).

Every (query, item) pair of assets/demo: pair encoding `[CLS] q [SEP] {title} [unused2] {text} [SEP]`
(token types 0/1; no pair needs truncation at 256, asserted), built on the GPU from the
tokenizer's per-text ids; all 9.7M pairs sorted by length, batched by a token budget.
Writes float32 row chunks (<= 16 MiB each) to --out:
  anchor_f32_r000-199.npy, anchor_f32_r200-399.npy, test_f32_r000-219.npy, test_f32_r220-440.npy
(rows not reached before --deadline are NaN), plus check.json (CPU f32 cross-check on sampled pairs).

  python3 training/gpu_f32_demo.py --model assets/models/wordnet-minilm-ce \
      --anchors CE_ANCHORS_400.jsonl --out CHUNKS --deadline 100000
  python3 training/gpu_f32_demo.py --model assets/models/wordnet-minilm-emb \
      --anchors assets/demo/anchor_queries.jsonl --out CHUNKS --deadline 100000
A model whose config.json says relex_pooling = w_embeds is loaded as BertModel and scored as
dot(mean(h[first unused0], h[first unused1]), h[first unused2]) (relex's SpecialTokenHead).
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertForSequenceClassification, BertModel

T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def read_jsonl(p):
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]


def build(qi, ii, Q, LQ, I, LI):
    """ids / token types / mask for pairs (qi[k], ii[k]) from padded token tables."""
    lq, li = LQ[qi][:, None], LI[ii][:, None]
    L = lq + li + 3
    Lmax = int(L.max())
    pos = torch.arange(Lmax, device=qi.device)[None]
    ipos = (pos - lq - 2).clamp(0, I.shape[1] - 1)
    ig = I[ii].gather(1, ipos)
    ids = torch.zeros(len(qi), Lmax, dtype=torch.long, device=qi.device)
    qg = Q[qi].gather(1, (pos - 1).clamp(0, Q.shape[1] - 1).expand(len(qi), -1))
    ids = torch.where((pos >= 1) & (pos <= lq), qg, ids)
    ids = torch.where(pos == lq + 1, torch.full_like(ids, 102), ids)
    ids = torch.where((pos >= lq + 2) & (pos < lq + 2 + li), ig, ids)
    ids = torch.where(pos == L - 1, torch.full_like(ids, 102), ids)
    ids[:, 0] = 101
    tt = ((pos >= lq + 2) & (pos < L)).long()
    am = (pos < L).long()
    return ids, tt, am


class EmbHead(torch.nn.Module):
    """w_embeds: score = <mean(h[first id 1], h[first id 2]), h[first id 3]>."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, token_type_ids, attention_mask):
        h = self.bert(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask).last_hidden_state

        def first(t):
            m = (input_ids == t).float()
            return m * (m.cumsum(1) == 1).float()
        q = (torch.einsum("bl,bld->bd", first(1), h) + torch.einsum("bl,bld->bd", first(2), h)) / 2
        return (q * torch.einsum("bl,bld->bd", first(3), h)).sum(-1)


def load_scorer(model_dir, emb):
    if emb:
        m = EmbHead(BertModel.from_pretrained(model_dir, dtype=torch.float32, add_pooling_layer=False)).eval()
        return m, lambda **kw: m(**kw)
    m = BertForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    return m, lambda **kw: m(**kw).logits[:, 0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="assets/models/wordnet-minilm-ce")
    ap.add_argument("--demo", default="assets/demo")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--tokens", type=int, default=400_000, help="token budget per batch")
    ap.add_argument("--deadline", type=float, default=420.0)
    ap.add_argument("--limit-queries", type=int, default=0, help="debug: first N anchor + N test queries")
    ap.add_argument("--limit-items", type=int, default=0, help="debug: first N items")
    ap.add_argument("--check", type=int, default=256, help="pairs re-scored on CPU f32")
    ap.add_argument("--anchors", default="", help="anchor queries jsonl (default: DEMO/anchor_queries.jsonl)")
    ap.add_argument("--tests", default="", help="test queries jsonl (default: DEMO/test_queries.jsonl)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", dev, torch.cuda.get_device_name(0) if dev.type == "cuda" else "", "torch", torch.__version__)

    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    tmpl, max_len = cfg["relex_item_template"], cfg["relex_max_length"]
    items = read_jsonl(os.path.join(args.demo, "items.jsonl"))
    anc = read_jsonl(args.anchors or os.path.join(args.demo, "anchor_queries.jsonl"))
    tst = read_jsonl(args.tests or os.path.join(args.demo, "test_queries.jsonl"))
    emb = cfg.get("relex_pooling") == "w_embeds"
    if args.limit_queries:
        anc, tst = anc[: args.limit_queries], tst[: args.limit_queries]
    if args.limit_items:
        items = items[: args.limit_items]
    qtexts = [q["text"] for q in anc + tst]
    itexts = [tmpl.format(title=it["title"], text=it["text"]) for it in items]
    qids = [e.ids for e in tok.encode_batch(qtexts, add_special_tokens=False)]
    iids = [e.ids for e in tok.encode_batch(itexts, add_special_tokens=False)]
    NQ, NI = len(qids), len(iids)
    LQ = torch.tensor([len(t) for t in qids])
    LI = torch.tensor([len(t) for t in iids])
    assert int(LQ.max() + LI.max() + 3) <= max_len, "a pair needs truncation; not handled here"
    Q = torch.zeros(NQ, int(LQ.max()), dtype=torch.long)
    I = torch.zeros(NI, int(LI.max()), dtype=torch.long)
    for k, t in enumerate(qids):
        Q[k, : len(t)] = torch.tensor(t)
    for k, t in enumerate(iids):
        I[k, : len(t)] = torch.tensor(t)
    # sanity: the GPU-built ids equal the tokenizer's own pair encoding
    rng = np.random.default_rng(7)
    sq, si = rng.integers(0, NQ, 64), rng.integers(0, NI, 64)
    ids, tt, am = build(torch.as_tensor(sq), torch.as_tensor(si), Q, LQ, I, LI)
    for k in range(64):
        e = tok.encode(qtexts[sq[k]], itexts[si[k]])
        n = int(am[k].sum())
        assert ids[k, :n].tolist() == e.ids and tt[k, :n].tolist() == e.type_ids, k
    if emb:  # every query must carry its mention markers, every item the item marker
        assert all(1 in t and 2 in t for t in qids) and all(3 in t for t in iids)
    log("tokens: queries", NQ, "max", int(LQ.max()), "items", NI, "max", int(LI.max()), "pair build checked",
        "pooling", "w_embeds" if emb else "cls")

    model, score = load_scorer(args.model, emb)
    model.to(dev)
    assert next(model.parameters()).dtype == torch.float32
    Q, LQ, I, LI = Q.to(dev), LQ.to(dev), I.to(dev), LI.to(dev)

    npair = NQ * NI
    plen = (LQ[:, None] + LI[None, :] + 3).reshape(-1)
    order = torch.argsort(plen, stable=True)
    slen = plen[order].cpu().numpy()
    out = torch.full((npair,), float("nan"), dtype=torch.float32, device=dev)
    # batches: consecutive pairs in length order, B * Lmax <= token budget
    starts, s = [], 0
    while s < npair:
        B = max(1, args.tokens // int(slen[min(s + 1, npair - 1)]))
        e = min(npair, s + B)
        while e > s + 1 and (e - s) * int(slen[e - 1]) > args.tokens:
            e = s + max(1, args.tokens // int(slen[e - 1]))
        starts.append((s, e))
        s = e
    log("pairs", npair, "tokens %.1fM" % (float(plen.sum()) / 1e6), "batches", len(starts))
    done, ntok = 0, 0
    t1 = time.time()
    with torch.inference_mode():
        for b, (s, e) in enumerate(starts):
            p = order[s:e]
            qi, ii = p // NI, p % NI
            ids, tt, am = build(qi, ii, Q, LQ, I, LI)
            out[p] = score(input_ids=ids, token_type_ids=tt, attention_mask=am).float()
            done, ntok = e, ntok + int(slen[s:e].sum())
            if b % 50 == 0 or e == npair:
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                dt = time.time() - t1
                log("batch %d/%d pairs %d (%.1f%%) %.0f pairs/s %.2fM tok/s" %
                    (b, len(starts), e, 100 * e / npair, e / dt, ntok / dt / 1e6))
            if time.time() - T0 > args.deadline:
                log("DEADLINE: stopping at", e, "of", npair)
                break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    S = out.reshape(NQ, NI).cpu().numpy()
    log("scored", int(np.isfinite(S).sum()), "of", npair, "in %.1fs" % (time.time() - t1))

    # CPU f32 cross-check on sampled finished pairs (same model, plain tokenizer pair encoding)
    fin = np.argwhere(np.isfinite(S))
    pick = fin[rng.choice(len(fin), min(args.check, len(fin)), replace=False)]
    cpu, cpu_score = load_scorer(args.model, emb)
    diffs = []
    with torch.inference_mode():
        for s in range(0, len(pick), 64):
            pp = pick[s:s + 64]
            enc = [tok.encode(qtexts[a], itexts[c]) for a, c in pp]
            L = max(len(x.ids) for x in enc)
            ids = torch.zeros(len(enc), L, dtype=torch.long)
            tt = torch.zeros_like(ids)
            am = torch.zeros_like(ids)
            for k, x in enumerate(enc):
                ids[k, : len(x.ids)] = torch.tensor(x.ids)
                tt[k, : len(x.ids)] = torch.tensor(x.type_ids)
                am[k, : len(x.ids)] = 1
            sc = cpu_score(input_ids=ids, token_type_ids=tt, attention_mask=am).numpy()
            diffs.extend(np.abs(sc - S[pp[:, 0], pp[:, 1]]).tolist())
    chk = {"n_pairs_checked": len(diffs), "max_abs_gpu_f32_vs_cpu_f32": float(max(diffs)),
           "mean_abs": float(np.mean(diffs)), "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
           "torch": torch.__version__, "allow_tf32": torch.backends.cuda.matmul.allow_tf32,
           "matmul_precision": torch.get_float32_matmul_precision(), "finished_pairs": int(np.isfinite(S).sum()),
           "total_pairs": npair, "seconds_scoring": time.time() - t1, "tokens_per_batch": args.tokens}
    log("check", chk)
    json.dump(chk, open(os.path.join(args.out, "check.json"), "w"), indent=1)

    na = len(anc)
    for name, M in (("anchor", S[:na]), ("test", S[na:])):
        h = (len(M) + 1) // 2
        for r0, r1 in ((0, h), (h, len(M))):
            np.save(os.path.join(args.out, "%s_f32_r%03d-%03d.npy" % (name, r0, r1 - 1)), np.ascontiguousarray(M[r0:r1]))
    log("done")


if __name__ == "__main__":
    main()
