#!/usr/bin/env python3
"""Train + evaluate the relex WordNet cross-encoder (and its [EMB] variant).

Phases (all in one process; every phase writes its results to --out as soon
as they exist, so a run cut short still returns something):
  1. load corpus (training/wordnet_build.py output), tokenize
  2. bi-encoder (base all-MiniLM-L6-v2, mean pooling, cosine): in-domain
     neighbours for hard negatives + baseline metrics on dev/test domains
  3. train (listwise softmax CE over gold + 31 negatives), seeded
  4. save model (f16 safetensors)
  5. evaluate: rerank bi-encoder top-K on dev/test domains; optional full-domain
     scoring (--full-domains), optional demo matrices (--demo-domain)

--arch ce : BertForSequenceClassification (CLS -> pooler dense+tanh -> linear)
--arch emb: BertModel; score = <mean(h[unused0], h[unused1]), h[unused2]>

Issue 9 additions (all off by default, so the earlier calls reproduce):
  --neg-exclude-splits test   items of these splits' domains are never negatives
  --same-max N                up to N other senses of the mention lemma (all POS) per group
  --pseudo-frac F             share of training queries drawn from pseudo.jsonl
                              (training/pseudo_queries.py; train domains only)
  --lemma-eval                dev/test: rank the gold among ALL senses of the query lemma
                              (all parts of speech, all domains), like eval_natural.py
  --natural FILE              natural-sentence evaluation (training/eval_natural.py)

Issue 9 item 5 (natural sentences; all off by default):
  --pos-cue                   non-noun items carry their part of speech in the text
                              (`bank (verb): tip laterally`, common.pos_cue_text); nouns unchanged
  --domain-cue                every item also names its WordNet class (`mole (animal): ...`,
                              `bank (verb, motion): ...`, common.domain_cue_text); implies the POS cue
  --hypernym-cue              every item names its first hypernym (`mole (a kind of insectivore): ...`,
                              `bank (verb, a way to tip): ...`, common.hypernym_cue_text); implies the POS cue
  --lemma-loss W              extra listwise loss over the gold + its same-lemma senses only
                              (the all-senses task of --lemma-eval / natural sentences), weight W
  --warm DIR                  start from these trained weights (e.g. the shipped model) and train
  --warm-ln-scale S           multiply the warm model's last output LayerNorm by S (4 undoes the
                              export's --scale-last-ln 0.25)
  --len-chunks K              training forward in K length-sorted chunks (less padding, same loss)
"""
import argparse
import json
import lzma
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MARK_L, MARK_R, ITEM_SEP, PairBuilder, format_item, query_variant, make_tokenizer_files, cue_text  # noqa: E402

T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def read_jsonl(path):
    op = lzma.open if path.endswith(".xz") else open
    with op(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f]


def find(data_dir, name):
    for ext in (".xz", ""):
        p = os.path.join(data_dir, name + ext)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(name)


def demo_split(qids, n_anchor):
    """Deterministic anchor/test split of the demo domain's queries."""
    qids = sorted(qids)
    rng = random.Random(20261125)
    rng.shuffle(qids)
    return qids[:n_anchor], qids[n_anchor:]


# --------------------------------------------------------------------------- models
class EmbScorer(torch.nn.Module):
    """[EMB] / w_embeds variant: score = <mean(h_u0, h_u1), h_u2>."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids).last_hidden_state
        u0 = (input_ids == 1).float()
        u1 = (input_ids == 2).float()
        u2 = (input_ids == 3).float()
        # first occurrence only (plain queries get markers around the whole query)
        def first(m):
            c = m.cumsum(1)
            return m * (c == 1).float()
        q = (torch.einsum("bl,bld->bd", first(u0), h.float()) + torch.einsum("bl,bld->bd", first(u1), h.float())) / 2
        it = torch.einsum("bl,bld->bd", first(u2), h.float())
        return (q * it).sum(-1)


def score_fn(model, arch):
    if arch == "ce":
        return lambda **kw: model(**kw).logits.squeeze(-1).float()
    return lambda **kw: model(**kw)


# --------------------------------------------------------------------------- batching
def pad_batch(seqs, device):
    L = max(len(s[0]) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    tt = torch.zeros(len(seqs), L, dtype=torch.long)
    am = torch.zeros(len(seqs), L, dtype=torch.long)
    for k, (a, b) in enumerate(seqs):
        ids[k, :len(a)] = torch.tensor(a)
        tt[k, :len(b)] = torch.tensor(b)
        am[k, :len(a)] = 1
    return dict(input_ids=ids.to(device, non_blocking=True), token_type_ids=tt.to(device, non_blocking=True),
                attention_mask=am.to(device, non_blocking=True))


class _PairBatches(torch.utils.data.Dataset):
    def __init__(self, pb, pairs, batches):
        self.pb, self.pairs, self.batches = pb, pairs, batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, b):
        idx = self.batches[b]
        return torch.as_tensor(idx), pad_batch([self.pb.build(*self.pairs[k]) for k in idx], torch.device("cpu"))


def _worker_init(_):
    torch.set_num_threads(1)


def loader(ds, workers):
    return torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False, num_workers=workers,
                                       pin_memory=torch.cuda.is_available(), worker_init_fn=_worker_init,
                                       multiprocessing_context="fork" if workers else None,
                                       prefetch_factor=4 if workers else None, persistent_workers=False)


@torch.no_grad()
def score_pairs(fn, pb, pairs, device, amp_dtype, bs=2048, workers=0):
    """pairs: list of (q_ids, i_ids). Returns np.float32 scores. Sorted by length for speed."""
    order = sorted(range(len(pairs)), key=lambda k: len(pairs[k][0]) + len(pairs[k][1]))
    batches = [order[s:s + bs] for s in range(0, len(order), bs)]
    out = np.zeros(len(pairs), dtype=np.float32)
    for idx, batch in loader(_PairBatches(pb, pairs, batches), workers):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
            sc = fn(**batch)
        out[idx.numpy()] = sc.float().cpu().numpy()
    return out


class DomainScorer:
    """Scores one query against all items of a domain quickly: the item blocks
    (item ids + [SEP], sorted by length, padded per chunk) are built once and
    concatenated after the query prefix `[CLS] q [SEP]` on the GPU."""

    def __init__(self, item_tok, device, chunk=2048):
        self.n = len(item_tok)
        self.order = np.argsort([len(t) for t in item_tok], kind="stable")
        self.chunks = []
        for s in range(0, self.n, chunk):
            idx = self.order[s:s + chunk]
            L = max(len(item_tok[k]) for k in idx) + 1
            blk = torch.zeros(len(idx), L, dtype=torch.long)
            msk = torch.zeros(len(idx), L, dtype=torch.long)
            for r, k in enumerate(idx):
                t = list(item_tok[k]) + [102]
                blk[r, :len(t)] = torch.tensor(t)
                msk[r, :len(t)] = 1
            self.chunks.append((torch.as_tensor(idx), blk.to(device), msk.to(device)))
        self.max_item = max(len(t) for t in item_tok)
        self.device = device

    @torch.no_grad()
    def score(self, fn, q_tok, amp_dtype):
        assert len(q_tok) + self.max_item + 3 <= 256, "needs truncation; use score_pairs"
        pre = torch.tensor([101] + list(q_tok) + [102], device=self.device)
        out = torch.empty(self.n, dtype=torch.float32, device=self.device)
        for idx, blk, msk in self.chunks:
            B = blk.shape[0]
            ids = torch.cat([pre.expand(B, -1), blk], 1)
            am = torch.cat([torch.ones(B, pre.numel(), dtype=torch.long, device=self.device), msk], 1)
            tt = torch.cat([torch.zeros(B, pre.numel(), dtype=torch.long, device=self.device),
                            torch.ones_like(blk)], 1)
            with torch.autocast(self.device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
                sc = fn(input_ids=ids, attention_mask=am, token_type_ids=tt)
            out[idx.to(self.device)] = sc.float()
        return out


def rank_metrics(ranks):
    r = np.asarray(ranks)
    return {"n": int(len(r)), "top1": float(np.mean(r < 1)), "r@10": float(np.mean(r < 10)),
            "r@64": float(np.mean(r < 64)), "mrr": float(np.mean(1.0 / (r + 1)))}


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=".payload/wordnet")
    ap.add_argument("--base", default=".payload/base")
    ap.add_argument("--init", default=None, help="load trained weights from this HF dir and skip training")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--arch", default="ce", choices=["ce", "emb"])
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--group", type=int, default=32)
    ap.add_argument("--qbatch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup", type=float, default=0.05)
    ap.add_argument("--plain-frac", type=float, default=0.2)
    ap.add_argument("--train-budget", type=float, default=300.0, help="seconds of training at most")
    ap.add_argument("--max-steps", type=int, default=0,
                    help="reproduce a budget-cut run: at step 150 the LR schedule is set to this many steps "
                         "(instead of the wall-clock estimate)")
    ap.add_argument("--rerank-k", type=int, default=256)
    ap.add_argument("--eval-splits", default="dev,test")
    ap.add_argument("--full-domains", default="")
    ap.add_argument("--full-max-queries", type=int, default=100000)
    ap.add_argument("--demo-domain", default="")
    ap.add_argument("--demo-anchors", type=int, default=500)
    ap.add_argument("--demo-max-test", type=int, default=100000)
    ap.add_argument("--plain-eval", action="store_true", help="also evaluate unmarked query variants")
    ap.add_argument("--neg-exclude-splits", default="", help="comma list: items of these splits are never negatives")
    ap.add_argument("--same-max", type=int, default=10, help="other senses of the mention lemma per group")
    ap.add_argument("--pseudo-frac", type=float, default=0.0, help="share of training queries from pseudo.jsonl")
    ap.add_argument("--lemma-eval", action="store_true", help="dev/test: gold among all senses of the lemma")
    ap.add_argument("--natural", default="", help="natural_sentences.jsonl to evaluate on")
    ap.add_argument("--pos-cue", action="store_true", help="non-noun item texts carry their POS")
    ap.add_argument("--hypernym-cue", action="store_true",
                    help="every item text names what it is a kind of (its first hypernym; POS cue otherwise): "
                         "common.hypernym_cue_text; needs a corpus with the hypernyms field")
    ap.add_argument("--domain-cue", action="store_true",
                    help="every item text carries its WordNet class (and verbs their POS): common.domain_cue_text")
    ap.add_argument("--lemma-loss", type=float, default=0.0, help="weight of the same-lemma-only listwise loss")
    ap.add_argument("--warm", default=None, help="start training from these weights (HF dir)")
    ap.add_argument("--warm-ln-scale", type=float, default=1.0)
    ap.add_argument("--len-chunks", type=int, default=1, help="training forward in K length-sorted chunks")
    ap.add_argument("--init-wait", default="", help="wait (until --deadline) for this file; it names the --init dir")
    ap.add_argument("--late-test-rerank", action="store_true", help="test rerank after the lemma/natural evals")
    ap.add_argument("--deadline", type=float, default=560.0, help="stop optional work after this many seconds")
    ap.add_argument("--no-biencoder", action="store_true", help="skip bi-encoder + rerank eval (full-domain scoring only; needs --init)")
    ap.add_argument("--smoke", type=int, default=0, help="tiny local run: max queries per split / items per domain")
    ap.add_argument("--workers", type=int, default=min(8, (os.cpu_count() or 2) - 1))
    ap.add_argument("--amp", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--eval-amp", default="fp16", choices=["bf16", "fp16", "fp32"])
    args = ap.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        log("gpu", torch.cuda.get_device_name(0), "torch", torch.__version__)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    train_amp, eval_amp = amp[args.amp], amp[args.eval_amp]
    if device.type == "cpu":
        train_amp = eval_amp = torch.float32
    metrics = {"args": vars(args)}

    def dump():
        with open(os.path.join(args.out, f"metrics_{args.arch}.json"), "w") as f:
            json.dump(metrics, f, indent=1)

    # ---------------------------------------------------------------- 1. data
    items = read_jsonl(find(args.data, "items.jsonl"))
    queries = read_jsonl(find(args.data, "queries.jsonl"))
    # --hypernym-cue names each item's hypernym: titles of all items, before any --smoke cut
    titles = {it["id"]: it["title"] for it in items} if args.hypernym_cue else None
    if args.smoke:
        keep_dom = {"noun.artifact", "verb.motion", "noun.cognition", "adv.all", "noun.act"}
        items = [it for it in items if it["domain"] in keep_dom]
        cnt = {}
        its = []
        for it in items:
            cnt[it["domain"]] = cnt.get(it["domain"], 0) + 1
            if cnt[it["domain"]] <= args.smoke:
                its.append(it)
        items = its
        ids = {it["id"] for it in items}
        qq = [q for q in queries if q["gold"] in ids]
        queries = [q for sp in ("train", "dev", "test") for q in [x for x in qq if x["split"] == sp][: args.smoke]]
    n_real = len(queries)
    if args.pseudo_frac > 0:
        ps = read_jsonl(find(args.data, "pseudo.jsonl"))
        have = {it["id"] for it in items}
        ps = [q for q in ps if q["gold"] in have]  # (all of them, except in --smoke runs)
        for q in ps:
            q["split"] = "pseudo"
        queries = queries + ps
        log(f"{len(ps)} pseudo queries")
    iid = {it["id"]: k for k, it in enumerate(items)}
    dom_items = {}
    for k, it in enumerate(items):
        dom_items.setdefault(it["domain"], []).append(k)
    log(f"{len(items)} items, {len(queries)} queries")

    from transformers import AutoTokenizer, BertModel, BertForSequenceClassification
    tok_dir = os.path.join(args.out, "_tok")
    make_tokenizer_files(args.base, tok_dir)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert tok.convert_tokens_to_ids([MARK_L, MARK_R, ITEM_SEP]) == [1, 2, 3]

    def enc(texts):
        return tok(texts, add_special_tokens=False)["input_ids"]

    def item_text(it):
        return cue_text(it, args.pos_cue, args.domain_cue, titles)

    item_tok = enc([format_item(it["title"], item_text(it)) for it in items])
    qtok = {m: enc([query_variant(q, m) for q in queries]) for m in ("marked", "sentence", "mention")}
    if args.arch == "emb":
        # plain queries get the markers around the whole query
        for m in ("sentence", "mention"):
            qtok[m] = [[1] + t + [2] for t in qtok[m]]
    log("tokenized; max item len", max(map(len, item_tok)), "max marked query len", max(map(len, qtok["marked"])))
    pb = PairBuilder()

    # ---------------------------------------------------------------- 2. bi-encoder
    nbr, bi_ranks = {}, {}
    eval_splits = args.eval_splits.split(",")
    if not args.no_biencoder:
        base = BertModel.from_pretrained(args.base, torch_dtype=torch.float32).to(device).eval()

        @torch.no_grad()
        def embed(texts, bs=512):
            t = tok(texts, add_special_tokens=True, truncation=True, max_length=256)["input_ids"]
            order = np.argsort([len(x) for x in t])
            out = torch.zeros(len(t), 384, device=device)
            for s in range(0, len(t), bs):
                idx = order[s:s + bs]
                batch = pad_batch([(t[k], [0] * len(t[k])) for k in idx], device)
                with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                    h = base(**batch).last_hidden_state.float()
                m = batch["attention_mask"].unsqueeze(-1).float()
                e = (h * m).sum(1) / m.sum(1)
                out[torch.as_tensor(idx, device=device)] = F.normalize(e, dim=-1)
            return out

        # the bi-encoder sees plain text: item "lemmas: definition", query = sentence
        iemb = embed([it["text"] for it in items])
        qemb = embed([q["sentence"] for q in queries])
        log("bi-encoder embeddings done")
        del base
        # per-query in-domain neighbours
        nbr = {}  # query index -> np array of item indices (in-domain, best first)
        bi_ranks = {}  # query index -> rank of gold among its domain
        for d, idxs in dom_items.items():
            qs = [k for k, q in enumerate(queries) if q["domain"] == d]
            if not qs:
                continue
            di = torch.as_tensor(idxs, device=device)
            S = qemb[torch.as_tensor(qs, device=device)] @ iemb[di].T
            kk = min(S.shape[1], max(args.rerank_k, 64))
            top = S.topk(kk, dim=1).indices.cpu().numpy()
            gold_local = torch.as_tensor([idxs.index(iid[queries[k]["gold"]]) for k in qs], device=device)
            gs = S.gather(1, gold_local[:, None])
            ranks = (S > gs).sum(1).cpu().numpy()
            idxs_np = np.asarray(idxs)
            for r, k in enumerate(qs):
                nbr[k] = idxs_np[top[r]]
                bi_ranks[k] = int(ranks[r])
        eval_splits = args.eval_splits.split(",")
        metrics["bi_encoder"] = {}
        for sp in eval_splits:
            for d in sorted({q["domain"] for q in queries if q["split"] == sp}):
                ks = [k for k, q in enumerate(queries) if q["domain"] == d]
                metrics["bi_encoder"][d] = rank_metrics([bi_ranks[k] for k in ks])
            ks = [k for k, q in enumerate(queries) if q["split"] == sp]
            metrics["bi_encoder"]["_" + sp] = rank_metrics([bi_ranks[k] for k in ks])
        log("bi-encoder", json.dumps({k: v for k, v in metrics["bi_encoder"].items() if k.startswith("_")}))
        dump()


    # ---------------------------------------------------------------- 3. model
    if args.init_wait:
        while not os.path.exists(args.init_wait) and time.time() - T0 < args.deadline:
            time.sleep(2)
        if not os.path.exists(args.init_wait):
            log("no model to evaluate before the deadline"); metrics["skipped"] = "init-wait"; dump()
            return
        time.sleep(1)
        args.init = open(args.init_wait).read().strip()
        metrics["init"] = args.init
        log("init from", args.init)
    if args.arch == "ce":
        src = args.init or args.base
        model = BertForSequenceClassification.from_pretrained(src, num_labels=1, torch_dtype=torch.float32)
    else:
        src = args.init or args.warm or args.base
        model = EmbScorer(BertModel.from_pretrained(src, torch_dtype=torch.float32, add_pooling_layer=False))
        if args.warm and args.warm_ln_scale != 1.0:
            n = model.bert.config.num_hidden_layers - 1
            ln = model.bert.encoder.layer[n].output.LayerNorm
            with torch.no_grad():
                ln.weight.mul_(args.warm_ln_scale)
                ln.bias.mul_(args.warm_ln_scale)
            log(f"warm start from {args.warm}, last LayerNorm x {args.warm_ln_scale}")
    model.to(device)
    fn = score_fn(model, args.arch)

    split_of_dom = {}
    for q in queries[:n_real]:
        split_of_dom[q["domain"]] = q["split"]
    spl = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "splits.json")))
    for sp in ("train", "dev", "test"):
        for d in spl[sp]:
            split_of_dom[d] = sp
    excl = {x for x in args.neg_exclude_splits.split(",") if x}
    neg_ok = np.array([split_of_dom.get(it["domain"], "train") not in excl for it in items])
    by_lemma, by_lemma_all = {}, {}
    for k, it in enumerate(items):
        for l in it["lemmas"]:
            by_lemma_all.setdefault(l.lower(), []).append(k)
            if neg_ok[k]:
                by_lemma.setdefault(l.lower(), []).append(k)
    neg_pool = np.nonzero(neg_ok)[0]
    log(f"negatives from {len(neg_pool)} of {len(items)} items (excluded splits: {sorted(excl) or 'none'})")

    if args.init is None:
        train_q = [k for k, q in enumerate(queries) if q["split"] == "train"]
        pseudo_q = [k for k, q in enumerate(queries) if q["split"] == "pseudo"]
        rng = random.Random(args.seed)
        G = args.group
        all_items = np.arange(len(items))

        def make_group(k, rng):
            q = queries[k]
            gold = iid[q["gold"]]
            chosen = [gold]
            seen = {gold}

            def add(c, limit):
                for x in c:
                    if len(chosen) >= limit:
                        break
                    x = int(x)
                    if x not in seen:
                        seen.add(x)
                        chosen.append(x)
            same = list(by_lemma.get(q["lemma"].lower(), [])) + list(by_lemma.get(q["mention"].lower().replace(" ", "_"), []))
            rng.shuffle(same)
            add(same, 1 + args.same_max)
            n_same = len(chosen) - 1
            bi = [x for x in nbr[k][:48] if neg_ok[x]] if k in nbr else []
            rng.shuffle(bi)
            add(bi, G - 8)
            dom = dom_items[q["domain"]] if neg_ok[gold] else []
            if dom:
                # without bi-encoder neighbours (--no-biencoder, e.g. a warm start): more in-domain randoms
                add([dom[rng.randrange(len(dom))] for _ in range(8 if bi else G)], G - 4)
            while len(chosen) < G:
                add([int(neg_pool[rng.randrange(len(neg_pool))])], G)
            r = rng.random()
            mode = "marked" if r >= args.plain_frac else ("sentence" if r < args.plain_frac / 2 else "mention")
            qt = qtok[mode][k]
            return [pb.build(qt, item_tok[c]) for c in chosen], n_same

        steps_per_epoch = math.ceil(len(train_q) / args.qbatch)
        total = int(steps_per_epoch * args.epochs)
        plan = []
        ep = 0
        while len(plan) < total:
            order = list(train_q)
            random.Random(args.seed * 7919 + ep).shuffle(order)
            plan += [order[s:s + args.qbatch] for s in range(0, len(order), args.qbatch) if len(order[s:s + args.qbatch]) == args.qbatch]
            ep += 1
        plan = plan[:total]

        class TrainBatches(torch.utils.data.Dataset):
            def __len__(self):
                return len(plan)

            def __getitem__(self, st):
                rng = random.Random(args.seed * 1000003 + st)  # data depends only on (seed, step)
                ks = list(plan[st])
                if pseudo_q:
                    ks = [pseudo_q[rng.randrange(len(pseudo_q))] if rng.random() < args.pseudo_frac else k for k in ks]
                groups = [make_group(k, rng) for k in ks]
                b = pad_batch([x for g, _ in groups for x in g], torch.device("cpu"))
                lm = torch.zeros(len(ks), G, dtype=torch.bool)
                for r, (_, ns) in enumerate(groups):
                    lm[r, :1 + ns] = True
                b["lmask"] = lm
                b["lens"] = b["attention_mask"].sum(1)
                return b

        no_decay = ["bias", "LayerNorm.weight"]
        params = [
            {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
            {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(params, lr=args.lr, fused=device.type == "cuda")
        sched_total = [total]

        def lr_at(step):
            w = max(1, int(args.warmup * sched_total[0]))
            if step < w:
                return args.lr * (step + 1) / w
            return args.lr * max(0.0, (sched_total[0] - step) / max(1, sched_total[0] - w))

        model.train()
        log(f"training: {len(train_q)} queries, {steps_per_epoch} steps/epoch, planned {total} steps, G={G}")
        t_start = time.time()
        step = 0
        losses, losses_l = [], []
        t_mark = None
        for batch in loader(TrainBatches(), args.workers):
            if step >= sched_total[0]:
                break
            lens = batch.pop("lens")
            lmask = batch.pop("lmask").to(device, non_blocking=True)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            nq = batch["input_ids"].shape[0] // G
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            with torch.autocast(device.type, dtype=train_amp, enabled=train_amp != torch.float32):
                if args.len_chunks <= 1:
                    sc = fn(**batch).float().view(nq, G)
                else:
                    order = torch.argsort(lens)
                    parts = []
                    for ch in order.chunk(args.len_chunks):
                        m = int(lens[ch].max())
                        chd = ch.to(device, non_blocking=True)
                        parts.append(fn(**{k: v[chd, :m] for k, v in batch.items()}).float())
                    inv = torch.empty_like(order)
                    inv[order] = torch.arange(len(order))
                    sc = torch.cat(parts)[inv.to(device)].view(nq, G)
            tgt = torch.zeros(nq, dtype=torch.long, device=device)
            loss = F.cross_entropy(sc, tgt)
            if args.lemma_loss > 0:
                loss_l = F.cross_entropy(sc.masked_fill(~lmask, float("-inf")), tgt)
                loss = loss + args.lemma_loss * loss_l
                losses_l.append(loss_l.item())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
            if step == 50:
                t_mark = time.time()
            if step == 150 and (t_mark is not None or args.max_steps):
                rate = (time.time() - t_mark) / 100 if t_mark else 1.0
                left = args.train_budget - (time.time() - t_start)
                fit = 150 + int(left / rate)
                if args.max_steps:
                    fit = args.max_steps
                log(f"time budget: {rate:.3f}s/step -> schedule {sched_total[0]} -> {min(fit, sched_total[0])} steps")
                sched_total[0] = max(min(fit, sched_total[0]), 151)
            if step % 200 == 0 or step == sched_total[0]:
                log(f"step {step}/{sched_total[0]} loss {np.mean(losses[-200:]):.4f}"
                    + (f" (lemma {np.mean(losses_l[-200:]):.4f})" if losses_l else "") + f" lr {lr_at(step - 1):.2e}")
        metrics["train"] = {"steps": step, "queries_seen": step * args.qbatch, "lr": args.lr,
                            "epochs": step * args.qbatch / len(train_q), "final_loss": float(np.mean(losses[-200:])),
                            "seconds": time.time() - t_start, "group": G, "qbatch": args.qbatch,
                            "final_lemma_loss": float(np.mean(losses_l[-200:])) if losses_l else None}
        dump()
        model.eval()
        # ------------------------------------------------------------ 4. save
        save_dir = os.path.join(args.out, f"model_{args.arch}")
        os.makedirs(save_dir, exist_ok=True)
        from safetensors.torch import save_file
        if args.arch == "ce":
            model.config.architectures = ["BertForSequenceClassification"]
            sd = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in model.state_dict().items()}
            model.config.save_pretrained(save_dir)
        else:
            sd = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in model.bert.state_dict().items()}
            model.bert.config.save_pretrained(save_dir)
        save_file(sd, os.path.join(save_dir, "model.safetensors"), metadata={"format": "pt"})
        log("saved", save_dir)
        # evaluate exactly the shipped f16 weights (upcast to f32)
        with torch.no_grad():
            for k, v in model.state_dict().items() if args.arch == "ce" else model.bert.state_dict().items():
                v.copy_(v.to(torch.float16).to(v.dtype))
    model.eval()

    # ---------------------------------------------------------------- 5. eval
    metrics["rerank"] = {}
    def rerank(variants, splits=None):
     for var in variants:
        res = {}
        for sp in (splits or eval_splits):
            ks = [k for k, q in enumerate(queries) if q["split"] == sp]
            if not ks:
                continue
            K = args.rerank_k if sp == "test" else min(64, args.rerank_k)
            pairs, owner = [], []
            for k in ks:
                for c in nbr[k][:K]:
                    pairs.append((qtok[var][k], item_tok[c]))
                    owner.append(k)
            sc = score_pairs(fn, pb, pairs, device, eval_amp, workers=args.workers)
            pos = 0
            ranks = {}
            for k in ks:
                cand = nbr[k][:K]
                s = sc[pos:pos + len(cand)]
                pos += len(cand)
                g = iid[queries[k]["gold"]]
                hit = np.where(cand == g)[0]
                if len(hit):
                    ranks[k] = int((s > s[hit[0]]).sum())
                else:
                    ranks[k] = 10 ** 6
            for d in sorted({queries[k]["domain"] for k in ks}):
                res[d] = rank_metrics([ranks[k] for k in ks if queries[k]["domain"] == d])
            res["_" + sp] = rank_metrics([ranks[k] for k in ks])
            res["_" + sp]["K"] = K
            log(f"rerank {var} {sp} top-{K}", json.dumps(res["_" + sp]))
            if time.time() - T0 > args.deadline:
                break
        metrics["rerank"].setdefault(var, {}).update(res)
        dump()
        if time.time() - T0 > args.deadline:
            log("deadline reached; stopping eval")
            break

    if not args.no_biencoder:
        rerank(["marked"], [sp for sp in eval_splits if sp != "test"] if args.late_test_rerank else None)

    if args.lemma_eval:
        metrics["lemma_senses"] = {}
        for var in (["marked", "sentence", "mention"] if args.plain_eval else ["marked"]):
            res = {}
            for sp in eval_splits:
                ks = [k for k, q in enumerate(queries) if q["split"] == sp]
                pairs, spans = [], []
                for k in ks:
                    cand = by_lemma_all.get(queries[k]["lemma"].lower(), [])
                    spans.append((len(pairs), cand))
                    pairs += [(qtok[var][k], item_tok[c]) for c in cand]
                sc = score_pairs(fn, pb, pairs, device, eval_amp, workers=args.workers)
                ranks, by_dom, pos_ok, top1_pos = [], {}, [], []
                P = lambda c: "a" if items[c]["pos"] in ("a", "s") else items[c]["pos"]  # noqa: E731
                for k, (s0, cand) in zip(ks, spans):
                    g = cand.index(iid[queries[k]["gold"]])
                    v = sc[s0:s0 + len(cand)]
                    r = int((v > v[g]).sum())
                    ranks.append(r)
                    by_dom.setdefault(queries[k]["domain"], []).append(r)
                    gp = P(cand[g])
                    pos_ok.append(P(cand[int(np.argmax(v))]) == gp)
                    same = [j for j, c in enumerate(cand) if P(c) == gp and j != g]
                    top1_pos.append(all(v[g] > v[j] for j in same))
                res["_" + sp] = rank_metrics(ranks)
                res["_" + sp]["pred_pos_correct"] = float(np.mean(pos_ok))
                res["_" + sp]["top1_gold_pos"] = float(np.mean(top1_pos))
                res["_" + sp]["mean_senses"] = float(np.mean([len(c) for _, c in spans]))
                for d, r in sorted(by_dom.items()):
                    res[d] = rank_metrics(r)
                log(f"lemma-senses {var} {sp}", json.dumps(res["_" + sp]))
            metrics["lemma_senses"][var] = res
        dump()

    if args.natural:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from eval_natural import evaluate as nat_eval, summary as nat_summary, load_items as _li  # noqa: F401
        sents = read_jsonl(args.natural)
        itemd = {it["id"]: it for it in read_jsonl(find(args.data, "items.jsonl"))}  # all items, also in --smoke
        for it in itemd.values():
            it["text"] = cue_text(it, args.pos_cue, args.domain_cue, titles)

        def nat_score(query, texts):
            qt = enc([query])[0]
            if args.arch == "emb" and 1 not in qt:
                qt = [1] + qt + [2]
            its = enc(texts)
            return score_pairs(fn, pb, [(qt, t) for t in its], device, torch.float32)
        metrics["natural"] = nat_eval(nat_score, sents, itemd, ["marked", "sentence", "mention"])
        log("natural\n" + nat_summary("natural", metrics["natural"]))
        dump()

    if args.late_test_rerank and not args.no_biencoder and "test" in eval_splits and time.time() - T0 < args.deadline:
        rerank(["marked"], ["test"])

    # ---------------------------------------------------------------- full-domain scoring / demo
    doms = [d for d in args.full_domains.split(",") if d]
    if args.demo_domain and args.demo_domain not in doms:
        doms = [args.demo_domain] + doms
    metrics["full"] = {}
    for d in doms:
        idxs = dom_items[d]
        qs = [k for k, q in enumerate(queries) if q["domain"] == d]
        if d == args.demo_domain:
            qid2k = {queries[k]["id"]: k for k in qs}
            anc, tst = demo_split(list(qid2k), args.demo_anchors)
            tst = tst[: args.demo_max_test]
            qs = [qid2k[x] for x in anc] + [qid2k[x] for x in tst]
        else:
            rq = random.Random(args.seed)
            if len(qs) > args.full_max_queries:
                qs = sorted(rq.sample(qs, args.full_max_queries))
        ds = DomainScorer([item_tok[k] for k in idxs], device)
        local = {g: r for r, g in enumerate(idxs)}
        M = np.zeros((len(qs), len(idxs)), dtype=np.float32)
        t1 = time.time()
        done = 0
        for r, k in enumerate(qs):
            M[r] = ds.score(fn, qtok["marked"][k], eval_amp).cpu().numpy()
            done += 1
            if time.time() - T0 > args.deadline:
                break
        el = time.time() - t1
        log(f"full {d}: {done} queries x {len(idxs)} items in {el:.1f}s ({done * len(idxs) / el:.0f} pairs/s)")
        ranks = [int((M[r] > M[r, local[iid[queries[k]['gold']]]]).sum()) for r, k in enumerate(qs[:done])]
        metrics["full"][d] = rank_metrics(ranks)
        metrics["full"][d]["pairs_per_s"] = done * len(idxs) / el
        metrics["full"][d]["items"] = len(idxs)
        if d == args.demo_domain:
            na = len(anc)
            np.save(os.path.join(args.out, f"anchor_scores_{args.arch}.npy"), M[:min(na, done)].astype(np.float16))
            np.save(os.path.join(args.out, f"test_scores_{args.arch}.npy"), M[na:done].astype(np.float16))
            metrics["demo"] = {"domain": d, "anchors": anc, "test": tst, "n_items": len(idxs),
                               "item_ids": [items[k]["id"] for k in idxs],
                               "anchor_ranks": ranks[:na], "test_ranks": ranks[na:]}
        log(f"full {d}", json.dumps(metrics["full"][d]))
        dump()
        if time.time() - T0 > args.deadline:
            log("deadline reached")
            break
    if args.plain_eval and not args.no_biencoder and time.time() - T0 < args.deadline:
        rerank(["sentence", "mention"])
    metrics["total_seconds"] = time.time() - T0
    dump()
    log("done")


if __name__ == "__main__":
    main()
