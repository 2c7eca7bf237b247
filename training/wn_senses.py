"""WordNet 3.0 sense inventory helpers (index.* sense order, cntlist.rev tag counts).

senses(lemma) -> list of dicts {id, pos, sense, tag_cnt} over all parts of speech,
ids as in the corpus (ss_type letter + 8-digit offset; adjective satellites 's').
"""
import collections
import os

POS_FILES = (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv"))
SS_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}


class Senses:
    def __init__(self, wn_dir="/usr/share/wordnet", item_ids=None):
        self.index = {}  # (lemma, pos) -> [offsets in sense order]
        for p, name in POS_FILES:
            with open(os.path.join(wn_dir, "index." + name), encoding="latin-1") as f:
                for line in f:
                    if line.startswith("  "):
                        continue
                    fl = line.split()
                    lemma, n_syn, p_cnt = fl[0], int(fl[2]), int(fl[3])
                    offs = fl[4 + p_cnt + 2:]
                    assert len(offs) == n_syn, line
                    self.index[(lemma, p)] = offs
        self.cnt = collections.Counter()  # (lemma, pos, sense_number) -> tag count
        with open(os.path.join(wn_dir, "cntlist.rev"), encoding="latin-1") as f:
            for line in f:
                key, num, c = line.split()
                lemma, rest = key.split("%")
                self.cnt[(lemma, SS_POS[rest[0]], int(num))] += int(c)
        self.item_ids = item_ids

    def _id(self, p, off):
        if p != "a":
            return p + off
        if self.item_ids is not None and ("a" + off) not in self.item_ids:
            return "s" + off
        return "a" + off

    def senses(self, lemma):
        lemma = lemma.lower().replace(" ", "_")
        out = []
        for p, _ in POS_FILES:
            for k, off in enumerate(self.index.get((lemma, p), [])):
                out.append({"id": self._id(p, off), "pos": p, "sense": k + 1,
                            "tag_cnt": self.cnt[(lemma, p, k + 1)]})
        return out

    def first_sense(self, lemma, pos):
        """WordNet sense 1 of the lemma in part of speech pos ('s' counts as 'a')."""
        pos = "a" if pos == "s" else pos
        for s in self.senses(lemma):
            if s["pos"] == pos:
                return s["id"]
        return None

    def mfs_all_pos(self, lemma):
        """Most frequent sense over all parts of speech: the sense with the largest
        SemCor tag count (cntlist.rev); ties -> order n, v, a, r then sense number
        (so with no counts at all it is noun sense 1)."""
        ss = self.senses(lemma)
        if not ss:
            return None
        return max(ss, key=lambda s: (s["tag_cnt"], -"nvar".index(s["pos"]), -s["sense"]))["id"]
