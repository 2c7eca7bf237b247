#!/usr/bin/env python3
"""Build the WordNet 3.0 entity-linking corpus used to train and evaluate the
relex default cross-encoder.

Parses WordNet's ``data.*`` files directly (no NLTK) and writes, to OUT_DIR:

  items.jsonl    one line per synset: {"id","title","text","domain","pos","lemmas","hypernyms"}
                 id    = ss_type letter + 8-digit offset, e.g. "n02084071"
                         (adjective satellites get "s")
                 title = first lemma, underscores -> spaces
                 text  = "lemma1, lemma2, ...: definition"
                         (definition = gloss without the quoted examples)
  queries.jsonl  one line per quoted example sentence whose mention could be
                 located: {"id","sentence","start","end","mention","lemma",
                 "match","gold","domain","split"}; start/end are character
                 offsets of the mention in the sentence.
  stats.json     counts per domain and split (items, examples, queries,
                 queries whose mention could not be located, mean senses per
                 mention lemma).

Domains are the 45 lexicographer files; the train/dev/test split is read from
SPLITS (default: training/splits.json).

Usage:
  python3 training/wordnet_build.py --wordnet /usr/share/wordnet \
      --splits training/splits.json --out .payload/wordnet
"""
import argparse
import collections
import json
import os
import re
import statistics

LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food",
    "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change",
    "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion",
    "verb.motion", "verb.perception", "verb.possession", "verb.social",
    "verb.stative", "verb.weather", "adj.ppl",
]
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
QUOTE = re.compile(r'"([^"]*)"')


def parse_data(wn_dir):
    synsets = []
    for pos, name in FILES.items():
        with open(os.path.join(wn_dir, "data." + name), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # license header
                head, _, gloss = line.partition("|")
                fields = head.split()
                offset, lexnum, ss_type = fields[0], int(fields[1]), fields[2]
                w_cnt = int(fields[3], 16)
                words = [ADJ_MARKER.sub("", fields[4 + 2 * i]) for i in range(w_cnt)]
                # pointers: p_cnt, then (symbol, offset, pos, source/target) each; "@" is a
                # hypernym, "@i" an instance hypernym (the class a named thing belongs to)
                p_at = 4 + 2 * w_cnt
                hypernyms = []
                for i in range(int(fields[p_at])):
                    sym, off, ppos = fields[p_at + 1 + 4 * i: p_at + 4 + 4 * i]
                    if sym in ("@", "@i"):
                        hypernyms.append(("i" if sym == "@i" else "") + ppos + off)
                gloss = gloss.strip()
                # definition: text before the first quoted example
                m = re.search(r'(^|;\s*)"', gloss)
                definition = gloss[: m.start()] if m else gloss
                definition = definition.strip().rstrip(";").strip()
                examples = [e.strip() for e in QUOTE.findall(gloss[m.start():] if m else "")]
                examples = [e for e in examples if e]
                synsets.append({
                    "id": ss_type + offset,
                    "pos": ss_type,
                    "filepos": pos,
                    "domain": LEXNAMES[lexnum],
                    "lemmas": words,
                    "definition": definition,
                    "examples": examples,
                    "hypernyms": hypernyms,
                })
    return synsets


def load_exceptions(wn_dir):
    """base form -> set of irregular inflected forms, per file pos."""
    exc = {p: collections.defaultdict(set) for p in FILES}
    for pos, name in FILES.items():
        path = os.path.join(wn_dir, name + ".exc")
        if not os.path.exists(path):
            continue
        with open(path, encoding="latin-1") as f:
            for line in f:
                parts = line.split()
                for base in parts[1:]:
                    exc[pos][base.lower()].add(parts[0].lower())
    return exc


def word_forms(w, pos, exc):
    """Simple regular inflections of one word plus WordNet's irregular forms."""
    w = w.lower()
    forms = {w}
    forms |= exc[pos].get(w, set())
    if len(w) < 2:
        return forms
    if pos == "n":
        forms |= {w + "s", w + "es", w + "'s", w + "s'"}
        if w.endswith("y"):
            forms.add(w[:-1] + "ies")
        if w.endswith("f"):
            forms.add(w[:-1] + "ves")
        if w.endswith("fe"):
            forms.add(w[:-2] + "ves")
        if w.endswith("man"):
            forms.add(w[:-3] + "men")
    elif pos == "v":
        forms |= {w + "s", w + "es", w + "ed", w + "d", w + "ing"}
        if w.endswith("e"):
            forms |= {w[:-1] + "ing", w[:-1] + "ed"}
        if w.endswith("y"):
            forms |= {w[:-1] + "ies", w[:-1] + "ied"}
        if w.endswith("ie"):
            forms.add(w[:-2] + "ying")
        if re.search(r"[^aeiou][aeiou][bdgklmnprtvz]$", w):
            forms |= {w + w[-1] + "ed", w + w[-1] + "ing"}
        if w.endswith("c"):
            forms |= {w + "ked", w + "king"}
    elif pos == "a":
        forms |= {w + "er", w + "est", w + "r", w + "st"}
        if w.endswith("y"):
            forms |= {w[:-1] + "ier", w[:-1] + "iest"}
        if re.search(r"[^aeiou][aeiou][bdgmnpt]$", w):
            forms |= {w + w[-1] + "er", w + w[-1] + "est"}
    return forms


def lemma_regex(lemma, pos, exc, inflect):
    words = re.split(r"[_\s]+", lemma)
    alts = []
    for i, w in enumerate(words):
        if inflect:
            forms = word_forms(w, pos, exc)
        else:
            forms = {w.lower()}
        alts.append("(?:" + "|".join(sorted((re.escape(f) for f in forms), key=len, reverse=True)) + ")")
    # words of a multi-word lemma may be joined by spaces or hyphens in text
    sep = r"[\s\-]+"
    body = sep.join(alts)
    if inflect and len(words) > 1:
        # also allow the whole lemma (hyphenated forms) inflected as one unit
        whole = "-".join(w.lower() for w in words)
        wf = word_forms(whole, pos, exc) - {whole}
        if wf:
            body = "(?:" + body + "|" + "|".join(re.escape(f) for f in wf) + ")"
    return re.compile(r"(?<![\w])" + body + r"(?![\w])", re.IGNORECASE)


def locate(sentence, lemmas, pos, exc):
    """Return (start, end, lemma, match_type) or None.

    Tries every lemma of the synset, exact (case-insensitive) matches first,
    longest lemma first; then simple inflections; then a prefix fallback
    ("other_form": a token starting with the lemma's stem, >= 4 chars)."""
    order = sorted(lemmas, key=lambda l: -len(l))
    for inflect, mtype in ((False, "exact"), (True, "inflected")):
        best = None
        for lem in order:
            m = lemma_regex(lem, pos, exc, inflect).search(sentence)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), m.end(), lem, mtype)
        if best:
            return best
    for lem in order:
        stem = lem.lower().replace("_", " ")
        if " " in stem or len(stem) < 5:
            continue
        stem = stem[:-1] if stem.endswith("e") else stem
        m = re.search(r"(?<![\w])" + re.escape(stem) + r"\w*", sentence, re.IGNORECASE)
        if m:
            return (m.start(), m.end(), lem, "other_form")
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--splits", default=os.path.join(os.path.dirname(__file__), "splits.json"))
    ap.add_argument("--out", default=".payload/wordnet")
    ap.add_argument("--stats", default=os.path.join(os.path.dirname(__file__), "wordnet_stats.json"))
    args = ap.parse_args()

    splits = json.load(open(args.splits))
    dom_split = {}
    for s in ("train", "dev", "test"):
        for d in splits[s]:
            assert d not in dom_split, d
            dom_split[d] = s
    assert set(dom_split) == set(LEXNAMES), set(LEXNAMES) ^ set(dom_split)

    synsets = parse_data(args.wordnet)
    exc = load_exceptions(args.wordnet)
    os.makedirs(args.out, exist_ok=True)

    # lemma (lowercase, underscores) -> synsets, for ambiguity stats
    by_lemma = collections.defaultdict(list)
    for s in synsets:
        for l in s["lemmas"]:
            by_lemma[l.lower()].append(s)

    dstats = {d: collections.Counter() for d in LEXNAMES}
    amb = {d: {"all_pos": [], "same_pos": [], "in_domain": []} for d in LEXNAMES}
    match_types = collections.Counter()
    n_q = 0
    with open(os.path.join(args.out, "items.jsonl"), "w") as fi, \
            open(os.path.join(args.out, "queries.jsonl"), "w") as fq:
        for s in synsets:
            lem_disp = [l.replace("_", " ") for l in s["lemmas"]]
            item = {
                "id": s["id"],
                "title": lem_disp[0],
                "text": ", ".join(lem_disp) + ": " + s["definition"],
                "domain": s["domain"],
                "pos": s["pos"],
                "lemmas": s["lemmas"],
                # ids of its hypernyms ("i" in front: an instance hypernym), for
                # train_ce.py --hypernym-cue
                "hypernyms": s["hypernyms"],
            }
            fi.write(json.dumps(item, ensure_ascii=False) + "\n")
            st = dstats[s["domain"]]
            st["items"] += 1
            st["items_with_examples"] += bool(s["examples"])
            has_q = False
            for k, ex in enumerate(s["examples"]):
                st["examples"] += 1
                loc = locate(ex, s["lemmas"], s["filepos"], exc)
                if loc is None:
                    st["unlocated"] += 1
                    continue
                a, b, lem, mtype = loc
                match_types[mtype] += 1
                q = {
                    "id": f"{s['id']}-{k}",
                    "sentence": ex,
                    "start": a,
                    "end": b,
                    "mention": ex[a:b],
                    "lemma": lem,
                    "match": mtype,
                    "gold": s["id"],
                    "domain": s["domain"],
                    "split": dom_split[s["domain"]],
                }
                fq.write(json.dumps(q, ensure_ascii=False) + "\n")
                n_q += 1
                st["queries"] += 1
                has_q = True
                senses = by_lemma[lem.lower()]
                amb[s["domain"]]["all_pos"].append(len(senses))
                amb[s["domain"]]["same_pos"].append(sum(x["filepos"] == s["filepos"] for x in senses))
                amb[s["domain"]]["in_domain"].append(sum(x["domain"] == s["domain"] for x in senses))
            st["items_with_queries"] += has_q

    def mean(xs):
        return round(statistics.mean(xs), 3) if xs else None

    out = {"source": f"Princeton WordNet 3.0 ({args.wordnet})", "per_domain": {}, "per_split": {}}
    for d in LEXNAMES:
        st = dstats[d]
        out["per_domain"][d] = {
            "split": dom_split[d],
            "items": st["items"],
            "items_with_examples": st["items_with_examples"],
            "examples": st["examples"],
            "queries": st["queries"],
            "unlocated": st["unlocated"],
            "items_with_queries": st["items_with_queries"],
            "mean_senses_per_mention_lemma": {k: mean(v) for k, v in amb[d].items()},
        }
    for sp in ("train", "dev", "test"):
        ds = [d for d in LEXNAMES if dom_split[d] == sp]
        out["per_split"][sp] = {
            "domains": len(ds),
            "items": sum(dstats[d]["items"] for d in ds),
            "examples": sum(dstats[d]["examples"] for d in ds),
            "queries": sum(dstats[d]["queries"] for d in ds),
            "unlocated": sum(dstats[d]["unlocated"] for d in ds),
            "mean_senses_per_mention_lemma": {
                k: mean([x for d in ds for x in amb[d][k]]) for k in ("all_pos", "same_pos", "in_domain")
            },
        }
    out["n_items"] = len(synsets)
    out["n_examples"] = sum(st["examples"] for st in dstats.values())
    out["n_queries"] = n_q
    out["n_unlocated"] = sum(st["unlocated"] for st in dstats.values())
    out["match_types"] = dict(match_types)
    with open(args.stats, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: out[k] for k in ("n_items", "n_examples", "n_queries", "n_unlocated", "match_types")}))
    print(json.dumps(out["per_split"], indent=1))


if __name__ == "__main__":
    main()
