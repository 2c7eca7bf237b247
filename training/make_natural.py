#!/usr/bin/env python3
"""Build training/natural_sentences.jsonl from training/natural_sentences_src.txt
(`lemma|gold synset id|sentence with the mention in [brackets]`, written for relex, not taken
from WordNet): checks that the gold exists and is a sense of the lemma, and adds every sense of
the lemma (all parts of speech, WordNet order) and the two baselines (wn_senses.py).

  python3 training/make_natural.py   # needs .payload/wordnet (wordnet_build.py) and /usr/share/wordnet
"""
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wn_senses import Senses  # noqa: E402
items = {}
for l in open('.payload/wordnet/items.jsonl'):
    it = json.loads(l); items[it['id']] = it
S = Senses(item_ids=items)
out = []
bad = 0
for line in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'natural_sentences_src.txt')):
    lemma, gold, sent = line.rstrip('\n').split('|')
    assert sent.count('[') == 1 and sent.count(']') == 1, sent
    text = re.sub(r'\[([^\]]+)\]', r'[unused0] \1 [unused1]', sent)
    text = re.sub(r'\[unused1\] ([.,!?;:])', r'[unused1] \1', text)
    ss = S.senses(lemma)
    ids = [s['id'] for s in ss]
    if gold not in items or gold not in ids:
        print('BAD', lemma, gold, sent); bad += 1; continue
    for i in ids: assert i in items, i
    out.append({"text": text, "lemma": lemma, "gold": gold, "gold_pos": items[gold]["pos"],
                "senses": ids, "first_sense_gold_pos": S.first_sense(lemma, items[gold]["pos"]),
                "mfs_all_pos": S.mfs_all_pos(lemma)})
assert not bad
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'natural_sentences.jsonl'), 'w') as f:
    for o in out: f.write(json.dumps(o, ensure_ascii=False) + '\n')
# stats
fs = sum(S.first_sense(o['lemma'], items[o['gold']]['pos']) == o['gold'] for o in out)
mfs = sum(S.mfs_all_pos(o['lemma']) == o['gold'] for o in out)
pos = collections.Counter(items[o['gold']]['pos'] for o in out)
nc = [len(S.senses(o['lemma'])) for o in out]
print(len(out), 'sentences', len(set(o['lemma'] for o in out)), 'lemmas; pos', dict(pos),
      'first-sense(gold POS) hits', fs, 'MFS all-POS hits', mfs, 'mean senses', sum(nc)/len(nc), 'pairs', sum(nc))
