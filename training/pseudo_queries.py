#!/usr/bin/env python3
"""Extra (pseudo) training queries for the relex WordNet models, from TRAIN domains only.

Written to OUT/pseudo.jsonl in the queries.jsonl schema ({"id","sentence","start","end",
"mention","lemma","match","gold","domain","split"}) plus "kind":

  hyper    hypernym substitution: a located WordNet example of synset S (exact match of
           one of S's lemmas) with the mention replaced by the first lemma of a hypernym H
           of S (nouns and verbs, '@' pointers); gold = H. "he drove his [sports car] too
           fast" -> "he drove his [car] too fast" (gold: car). Gives the general (and in
           running text frequent) senses real contexts; an article a/an before the mention
           is re-agreed. Up to 2 hypernyms per example.
  synonym  synonym swap: the same example with the mention replaced by another lemma of
           S (single-word lemmas only, up to 1 per example); gold = S.
  template a short template for a synset with no located example at all, on one of its
           lemmas that has more than one sense:
           noun "a [lemma] is a kind of H" / "the [lemma]", verb "to [lemma] is to H" /
           "they [lemma] it", adjective "it is very [lemma]" / "a [lemma] one",
           adverb "it was done [lemma]"; gold = S.

Both the source example's synset and the gold synset must lie in a train domain
(training/splits.json); nothing from dev or test domains is used. Deterministic (seed).

  python3 training/pseudo_queries.py --wordnet /usr/share/wordnet --corpus WORK/wordnet \
      --out WORK/wordnet   # training/prepare_data.sh runs it and xz-compresses the result into WORK/data
"""
import argparse
import collections
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wordnet_build import FILES, LEXNAMES  # noqa: E402


def read_pointers(wn_dir):
    """synset id (as in the corpus) -> list of hypernym synset ids ('@' only)."""
    hyp = {}
    for pos, name in FILES.items():
        if pos not in ("n", "v"):
            continue
        with open(os.path.join(wn_dir, "data." + name), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                fl = line.split("|")[0].split()
                off, ss = fl[0], fl[2]
                w = int(fl[3], 16)
                k = 4 + 2 * w
                p_cnt = int(fl[k])
                out = []
                for j in range(p_cnt):
                    sym, poff, ppos = fl[k + 1 + 4 * j: k + 4 + 4 * j]
                    if sym == "@":
                        out.append(ppos + poff)
                hyp[ss + off] = out
    return hyp


def read_jsonl(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(l) for l in f]


def replace(sentence, start, end, new):
    left, right = sentence[:start], sentence[end:]
    if sentence[start:end][:1].isupper():
        new = new[:1].upper() + new[1:]
    m = re.search(r"(^|\s)(a|an|A|An)\s+$", left)
    if m:
        art = "an" if new[:1].lower() in "aeiou" else "a"
        if m.group(2)[0].isupper():
            art = art.capitalize()
        left = left[: m.start(2)] + art + left[m.end(2):]
    return left + new + right, len(left), len(left) + len(new)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--corpus", default=".payload/wordnet")
    ap.add_argument("--splits", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "splits.json"))
    ap.add_argument("--out", default=".payload/wordnet")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    splits = json.load(open(args.splits))
    train_dom = set(splits["train"])
    items = {it["id"]: it for it in read_jsonl(os.path.join(args.corpus, "items.jsonl"))}
    queries = read_jsonl(os.path.join(args.corpus, "queries.jsonl"))
    hyp = read_pointers(args.wordnet)
    ok = lambda sid: sid in items and items[sid]["domain"] in train_dom  # noqa: E731
    out = []
    cnt = collections.Counter()

    def emit(kind, src_id, sentence, a, b, lemma, gold):
        out.append({"id": f"{kind}-{src_id}-{len([o for o in out[-4:] if o['id'].startswith(kind + '-' + src_id)])}",
                    "sentence": sentence, "start": a, "end": b, "mention": sentence[a:b], "lemma": lemma,
                    "match": "pseudo", "gold": gold, "domain": items[gold]["domain"], "split": "train",
                    "kind": kind})
        cnt[kind] += 1

    have_q = {q["gold"] for q in queries}
    for q in queries:
        if q["split"] != "train" or q["match"] != "exact" or not ok(q["gold"]):
            continue
        s = q["gold"]
        # hypernym substitution
        hs = [h for h in hyp.get(s, []) if ok(h)]
        rng.shuffle(hs)
        for h in hs[:2]:
            lem = items[h]["lemmas"][0]
            new = lem.replace("_", " ")
            if new.lower() == q["mention"].lower():
                continue
            sent, a, b = replace(q["sentence"], q["start"], q["end"], new)
            emit("hyper", q["id"], sent, a, b, lem, h)
        # synonym swap
        syn = [l for l in items[s]["lemmas"] if l.lower() != q["lemma"].lower() and "_" not in l and "-" not in l]
        if syn:
            lem = rng.choice(syn)
            sent, a, b = replace(q["sentence"], q["start"], q["end"], lem)
            emit("synonym", q["id"], sent, a, b, lem, s)
    # templates for train synsets without any located example, on a lemma with more than
    # one sense (all parts of speech; a monosemous lemma teaches nothing)
    n_senses = collections.Counter(l.lower() for it in items.values() for l in it["lemmas"])
    for sid, it in items.items():
        if it["domain"] not in train_dom or sid in have_q:
            continue
        amb = [l for l in it["lemmas"] if n_senses[l.lower()] > 1]
        if not amb:
            continue
        lem = rng.choice(amb)
        word = lem.replace("_", " ")
        p = it["pos"]
        hs = [h for h in hyp.get(sid, []) if h in items]
        H = items[hs[0]]["lemmas"][0].replace("_", " ") if hs else None
        if p == "n":
            if H and rng.random() < 0.5:
                art = "an" if word[:1].lower() in "aeiou" else "a"
                pre, post = f"{art} ", f" is a kind of {H}"
            else:
                pre, post = "the ", ""
        elif p == "v":
            if H and rng.random() < 0.5:
                pre, post = "to ", f" is to {H}"
            else:
                pre, post = "they ", " it"
        elif p in ("a", "s"):
            pre, post = rng.choice([("it is very ", ""), ("an " if word[:1].lower() in "aeiou" else "a ", " one")])
        else:
            pre, post = "it was done ", ""
        sent = pre + word + post
        emit("template", sid, sent, len(pre), len(pre) + len(word), lem, sid)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pseudo.jsonl"), "w", encoding="utf-8") as f:
        for o in out:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    print(json.dumps(dict(cnt)), "total", len(out))
    for o in rng.sample(out, 12):
        print(o["kind"], "|", o["sentence"][: o["start"]] + "[" + o["mention"] + "]" + o["sentence"][o["end"]:],
              "|", items[o["gold"]]["text"][:60])


if __name__ == "__main__":
    main()
