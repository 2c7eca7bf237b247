"""Shared helpers for the relex WordNet cross-encoder (input formats, tokenizer)."""
import json
import os
import shutil

MARK_L, MARK_R, ITEM_SEP = "[unused0]", "[unused1]", "[unused2]"
ITEM_TEMPLATE = "{title} [unused2] {text}"
MAX_LEN = 256


def format_item(title, text):
    return ITEM_TEMPLATE.format(title=title, text=text)


POS_CUE = {"v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


def pos_cue_text(text, pos):
    """Issue 9 (natural sentences): the part of speech of a non-noun sense, written into
    its item text before the first ": " (`bank (verb): tip laterally`). Nouns stay
    unmarked, so noun-only item files (the demo) are unchanged: no cue = noun."""
    return insert_cue(text, POS_CUE.get(pos))


def insert_cue(text, name):
    """`head (name): rest` — a cue goes before the first ": " of an item text (after its
    lemmas), or in front when there is none; no name, no change."""
    if not name:
        return text
    if ": " in text:
        head, rest = text.split(": ", 1)
        return f"{head} ({name}): {rest}"
    return f"({name}) {text}"


def domain_cue_label(pos, domain):
    """The cue of train_ce.py --domain-cue: the lexicographer file's class for nouns
    (`animal`, `artifact`, ...), `verb, <class>` for verbs, the bare part of speech for
    adjectives and adverbs (their files carry no class)."""
    cls = domain.split(".", 1)[1] if "." in domain else domain
    cls = "top concept" if cls == "Tops" else cls
    if pos == "n":
        return cls
    if pos == "v":
        return f"verb, {cls}"
    return POS_CUE[pos]


def domain_cue_text(text, pos, domain):
    """Issue 9 (natural sentences), after the POS cue: every sense also names its WordNet
    class before the first ": " (`mole (animal): small velvety-furred ...`, `mole
    (artifact): a protective structure ...`, `bank (verb, motion): tip laterally`); most of
    the POS-cued model's natural-sentence errors (36 of 66) picked a sense of the right part
    of speech but another class."""
    return insert_cue(text, domain_cue_label(pos, domain))


def hypernym_cue_label(it, titles):
    """The cue of train_ce.py --hypernym-cue: what the sense is a kind of, by its first
    WordNet hypernym's first lemma (`a kind of placental`, `an instance of city`, `verb, a
    way to tip`); the POS cue where there is no hypernym (adjectives, adverbs, top nouns:
    nouns then stay unmarked). `titles`: item id -> title."""
    hyper = (it.get("hypernyms") or [None])[0]
    if hyper is None:
        return POS_CUE.get(it["pos"])
    instance = hyper.startswith("i")
    name = titles[hyper[1:] if instance else hyper]
    if it["pos"] == "v":
        return f"verb, a way to {name}"
    return f"{'an instance' if instance else 'a kind'} of {name}"


def hypernym_cue_text(it, titles):
    """Issue 9 (natural sentences), after the POS and class cues: the class cue failed on
    held-out classes (an unseen tag reads as "wrong"); a hypernym is an ordinary word whose
    meaning the base model knows, seen or not (`mole (a kind of insectivore): ...`, `mole (a
    kind of barrier): ...`)."""
    return insert_cue(it["text"], hypernym_cue_label(it, titles))


def cue_text(it, pos_cue=False, domain_cue=False, titles=None):
    """An item's text with the cue a model was trained with (none, POS, class, or hypernym:
    pass `titles`, item id -> title, for the hypernym cue)."""
    if titles is not None:
        return hypernym_cue_text(it, titles)
    if domain_cue:
        return domain_cue_text(it["text"], it["pos"], it["domain"])
    if pos_cue:
        return pos_cue_text(it["text"], it["pos"])
    return it["text"]


def marked_query(sentence, start, end):
    """`left context [unused0] mention [unused1] right context` (single spaces
    around the markers, ends stripped)."""
    left = sentence[:start].rstrip()
    right = sentence[end:].lstrip()
    parts = [p for p in (left, MARK_L, sentence[start:end], MARK_R, right) if p]
    return " ".join(parts)


def query_variant(q, mode):
    """mode: 'marked' | 'sentence' (plain, unmarked sentence) | 'mention' (plain
    mention phrase only, as a user would type a word into the app)."""
    if mode == "marked":
        return marked_query(q["sentence"], q["start"], q["end"])
    if mode == "sentence":
        return q["sentence"]
    if mode == "mention":
        return q["sentence"][q["start"]:q["end"]]
    raise ValueError(mode)


def make_tokenizer_files(base_dir, out_dir):
    """Write tokenizer.json (+vocab/config) with [unused0..2] registered as
    special added tokens and no fixed padding/truncation."""
    os.makedirs(out_dir, exist_ok=True)
    vocab = open(os.path.join(base_dir, "vocab.txt"), encoding="utf-8").read().split("\n")
    tj = json.load(open(os.path.join(base_dir, "tokenizer.json"), encoding="utf-8"))
    tj["padding"] = None
    tj["truncation"] = None
    have = {t["content"] for t in tj["added_tokens"]}
    for tok in (MARK_L, MARK_R, ITEM_SEP):
        tid = vocab.index(tok)
        assert tj["model"]["vocab"][tok] == tid
        if tok not in have:
            tj["added_tokens"].append({"id": tid, "content": tok, "single_word": False, "lstrip": False,
                                       "rstrip": False, "normalized": False, "special": True})
    tj["added_tokens"].sort(key=lambda t: t["id"])
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    shutil.copy(os.path.join(base_dir, "vocab.txt"), os.path.join(out_dir, "vocab.txt"))
    cfg = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": MAX_LEN,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "unk_token": "[UNK]", "mask_token": "[MASK]",
        "additional_special_tokens": [MARK_L, MARK_R, ITEM_SEP],
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
                   "mask_token": "[MASK]", "additional_special_tokens": [MARK_L, MARK_R, ITEM_SEP]}, f, indent=2)


class PairBuilder:
    """Builds `[CLS] q [SEP] i [SEP]` id sequences from pre-tokenized pieces,
    identical to the tokenizer's pair encoding with truncation=longest_first,
    max_length=MAX_LEN (checked against the tokenizer in the smoke test)."""

    def __init__(self, cls_id=101, sep_id=102, max_len=MAX_LEN):
        self.cls, self.sep, self.max_len = cls_id, sep_id, max_len

    def truncate(self, q, i):
        budget = self.max_len - 3
        lq, li = len(q), len(i)
        if lq + li <= budget:
            return q, i
        # longest_first as implemented by HF tokenizers: the shorter sequence
        # (the first on ties) keeps min(len, budget // 2) tokens, the longer
        # one gets the rest.
        if lq > li:
            short = min(li, budget // 2)
            li, lq = short, budget - short
        else:
            short = min(lq, budget // 2)
            lq, li = short, budget - short
        return q[:lq], i[:li]

    def build(self, q, i):
        q, i = self.truncate(q, i)
        ids = [self.cls] + list(q) + [self.sep] + list(i) + [self.sep]
        tt = [0] * (len(q) + 2) + [1] * (len(i) + 1)
        return ids, tt
