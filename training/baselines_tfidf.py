#!/usr/bin/env python3
"""TF-IDF baseline: query = example sentence (plain), items = "lemmas: definition";
per test/dev domain, rank all items of the domain by cosine of TF-IDF vectors
(sklearn TfidfVectorizer, fitted on the domain's items, unigrams+bigrams, sublinear tf).

  python3 training/baselines_tfidf.py --data .payload/wordnet > training/results/tfidf.json
"""
import argparse, json, os, sys
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_ce import read_jsonl, find, rank_metrics  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--data", default=".payload/wordnet")
ap.add_argument("--splits", default="dev,test")
args = ap.parse_args()
items = read_jsonl(find(args.data, "items.jsonl"))
queries = read_jsonl(find(args.data, "queries.jsonl"))
res = {}
allr = {}
for d in sorted({q["domain"] for q in queries if q["split"] in args.splits.split(",")}):
    its = [it for it in items if it["domain"] == d]
    qs = [q for q in queries if q["domain"] == d]
    col = {it["id"]: k for k, it in enumerate(its)}
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    X = vec.fit_transform([it["text"] for it in its])
    Q = vec.transform([q["sentence"] for q in qs])
    S = (Q @ X.T).toarray()
    # ties broken pessimistically: rank = number of items scoring strictly higher + ties before it? use strict
    ranks = [int((S[r] > S[r, col[q["gold"]]]).sum()) for r, q in enumerate(qs)]
    res[d] = rank_metrics(ranks)
    allr.setdefault(qs[0]["split"], []).extend(ranks)
for sp, r in allr.items():
    res["_" + sp] = rank_metrics(r)
print(json.dumps(res, indent=1))
