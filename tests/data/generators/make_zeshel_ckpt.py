#!/usr/bin/env python3
"""Writes the fixtures for relex's zeshel-checkpoint parity test (tests/integration/zeshel_parity.rs).

What it builds, all under tests/data/zeshel/ (CPU only, a few seconds, seeded):

* vocab.txt     -- a small lowercase WordPiece vocabulary with the reference code's layout
                   of special ids: [PAD]=0 [unused0]=1 [unused1]=2 [unused2]=3 [UNK] [CLS]
                   [SEP] [MASK], then punctuation, digits, letters, ##letters and a few
                   hundred words (words outside it are split into pieces or become [UNK]).
* config.json   -- the tiny BERT's config (the checkpoints carry none; relex infers sizes
                   from tensor shapes and takes the head count from this file).
* cls_crossenc_zeshel.ckpt -- a PyTorch-Lightning style checkpoint of iesl/anncur's
                   CrossEncoderWrapper with the default cross-encoder (CrossBertWrapper,
                   pooling "cls_w_lin": BERT pooler, then `additional_linear`).
* emb_crossenc_zeshel.ckpt -- the same for cross_enc_type "w_embeds"
                   (CrossBertWEmbedsWrapper: no additional_linear).
* cls_crossenc_missing_tensor.ckpt -- the cls checkpoint with one tensor removed and
                   no hyper_parameters (for the error-message test).
* golden.json   -- ~20 examples: the query and item text exactly as relex receives them
                   (query with literal [unused0]/[unused1] markers, item
                   "title [unused2] description"), the packed ids / type ids / attention
                   mask of the reference packing, and both models' scores.

The state_dict keys are `model.encoder.bert_model.*` and `model.encoder.additional_linear.*`
as in the reference (`CrossEncoderWrapper.model` -> `CrossEncoderModule.encoder` ->
`CrossBertWrapper.bert_model` / `.additional_linear`). The checkpoints also hold optimizer
state and `hyper_parameters = {"config": utils.config.Config(...)}`, like Lightning's
`save_hyperparameters()` on the reference wrapper.

The packing below is a line-by-line port of the reference's
`utils/data_process.py::get_context_representation` / `get_candidate_representation` /
`create_input_label_pair` and `models/crossencoder.py::to_cross_bert_input`, with the
mention-data lower-casing of `load_mentions`, using transformers' (slow) BertTokenizer on
vocab.txt, max_input_len = max_label_len = 128.

Run (from the crate root):  python3 tests/data/generators/make_zeshel_ckpt.py
"""
import json
import os
import random
import sys
import types
from collections import OrderedDict

import torch
import torch.nn as nn
from transformers import BertConfig, BertModel, BertTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "zeshel")
MAX_INPUT_LEN = 128
MAX_LABEL_LEN = 128
ENT_START_TAG, ENT_END_TAG, ENT_TITLE_TAG = "[unused0]", "[unused1]", "[unused2]"

os.makedirs(OUT, exist_ok=True)

# ----------------------------------------------------------------------------- vocabulary
SPECIALS = ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(".,'\"()-:;!?[]/&%$#@*+=<>_")
DIGITS = list("0123456789")
LETTERS = list("abcdefghijklmnopqrstuvwxyz")
WORDS = """
the a an of and or to in on at by for with from as is was were be been are it its this that
these those he she they his her their him them we you i not no but if then than so such
which who whom what when where while after before during into over under between through
about against among around also only other some any all each most more many much one two
three four first second new old great small large long short high low early late last own
same city town river king queen war battle army order empire republic planet ship station
star system galaxy council master knight lord sword light dark force power temple ancient
history year years century time day night world people family son daughter father mother
brother sister name called known became born died killed led founded built destroyed
ruled fought joined left returned found used made took gave came went said told served
series game film book novel episode season character player team club league cup song
album band music singer actor role wiki page article entity mention context title
description jedi sith droid hutt wookiee rebel alliance senate chancellor emperor
clone trooper blaster saber hyperspace smuggler bounty hunter pilot captain general
admiral fleet fighter cruiser destroyer moon desert forest ice lava water fire stone
iron gold silver dragon wizard witch magic spell school castle house tower bridge road
north south east west island sea ocean mountain valley village kingdom land island
doctor professor student teacher war peace treaty trade federation guild union bank
quick brown fox jumps lazy dog cat bird horse red blue green black white yellow
##s ##es ##ed ##ing ##er ##ers ##ly ##tion ##ion ##al ##ic ##ous ##ness ##ment ##ist
""".split()
vocab = []
for tok in SPECIALS + PUNCT + DIGITS + LETTERS + ["##" + c for c in LETTERS + DIGITS] + WORDS:
    if tok not in vocab:
        vocab.append(tok)
VOCAB_PATH = os.path.join(OUT, "vocab.txt")
with open(VOCAB_PATH, "w") as f:
    f.write("\n".join(vocab) + "\n")

tokenizer = BertTokenizer(VOCAB_PATH, do_lower_case=True)
assert tokenizer.convert_tokens_to_ids(SPECIALS) == list(range(8))
assert tokenizer.pad_token_id == 0

# ----------------------------------------------------------------------------- models
config = BertConfig(
    vocab_size=len(vocab),
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_act="gelu",
    max_position_embeddings=256,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
)
with open(os.path.join(OUT, "config.json"), "w") as f:
    json.dump(
        {
            "model_type": "bert",
            "vocab_size": config.vocab_size,
            "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers,
            "num_attention_heads": config.num_attention_heads,
            "intermediate_size": config.intermediate_size,
            "hidden_act": config.hidden_act,
            "max_position_embeddings": config.max_position_embeddings,
            "type_vocab_size": config.type_vocab_size,
            "layer_norm_eps": config.layer_norm_eps,
        },
        f,
        indent=2,
    )


def tiny_bert(seed):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    bert = BertModel(config, add_pooling_layer=True)
    # Larger-than-default init so that scores spread and attention is far from uniform.
    with torch.no_grad():
        for name, p in bert.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() == 2 and "embeddings" in name:
                p.normal_(0.0, 1.0)
            elif p.dim() == 2:
                p.normal_(0.0, 0.2)
            else:
                p.normal_(0.0, 0.1)
    return bert.eval()


class CrossBertWrapper(nn.Module):
    """models/crossencoder.py CrossBertWrapper (BertWrapper, output_dim=1, add_linear_layer)."""

    def __init__(self, bert):
        super().__init__()
        self.bert_model = bert
        self.dropout = nn.Dropout(0.1)
        self.additional_linear = nn.Linear(config.hidden_size, 1)
        with torch.no_grad():
            self.additional_linear.weight.normal_(0.0, 0.5)
            self.additional_linear.bias.normal_(0.0, 0.5)

    def forward(self, token_ids, segment_ids, attention_mask):
        out = self.bert_model(
            input_ids=token_ids, token_type_ids=segment_ids, attention_mask=attention_mask
        )
        # pooling_type == "cls_w_lin": embeddings = output_pooler
        return self.additional_linear(self.dropout(out.pooler_output))


class CrossBertWEmbedsWrapper(nn.Module):
    """models/crossencoder.py CrossBertWEmbedsWrapper.forward / forward_for_embeds."""

    def __init__(self, bert):
        super().__init__()
        self.bert_model = bert
        ids = tokenizer.convert_tokens_to_ids([ENT_START_TAG, ENT_END_TAG, ENT_TITLE_TAG])
        self.ENT_START_TAG_ID, self.ENT_END_TAG_ID, self.ENT_TITLE_TAG_ID = ids

    def forward(self, token_ids, segment_ids, attention_mask):
        output_bert = self.bert_model(
            input_ids=token_ids, token_type_ids=segment_ids, attention_mask=attention_mask
        ).last_hidden_state
        start = (token_ids == self.ENT_START_TAG_ID).nonzero()
        end = (token_ids == self.ENT_END_TAG_ID).nonzero()
        title = (token_ids == self.ENT_TITLE_TAG_ID).nonzero()
        b = token_ids.shape[0]
        assert start.shape == (b, 2) and end.shape == (b, 2) and title.shape == (b, 2)
        title_e = torch.stack([output_bert[i, title[i, 1], :] for i in range(b)])
        start_e = torch.stack([output_bert[i, start[i, 1], :] for i in range(b)])
        end_e = torch.stack([output_bert[i, end[i, 1], :] for i in range(b)])
        input_1_embed = (start_e + end_e) / 2
        input_2_embed = title_e
        return torch.sum(input_1_embed * input_2_embed, dim=-1).unsqueeze(1)


class CrossEncoderModule(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, token_idx, segment_idx, mask):
        return self.encoder(token_idx, segment_idx, mask).squeeze(-1)


class CrossEncoderWrapper(nn.Module):
    """Stands in for the LightningModule: only its `model` attribute reaches the state_dict."""

    def __init__(self, encoder):
        super().__init__()
        self.model = CrossEncoderModule(encoder)


cls_wrapper = CrossEncoderWrapper(CrossBertWrapper(tiny_bert(1234))).eval()
emb_wrapper = CrossEncoderWrapper(CrossBertWEmbedsWrapper(tiny_bert(5678))).eval()

# The reference's hyper-parameters object: utils.config.Config, pickled by reference.
utils_mod = types.ModuleType("utils")
config_mod = types.ModuleType("utils.config")


class Config:
    pass


Config.__module__ = "utils.config"
config_mod.Config = Config
utils_mod.config = config_mod
sys.modules["utils"] = utils_mod
sys.modules["utils.config"] = config_mod


def hparams(cross_enc_type):
    c = Config()
    c.__dict__.update(
        {
            "bert_model": "bert-base-uncased",
            "lowercase": True,
            "pooling_type": "cls_w_lin",
            "cross_enc_type": cross_enc_type,
            "model_type": "cross_enc",
            "max_input_len": MAX_INPUT_LEN,
            "max_label_len": MAX_LABEL_LEN,
            "loss_type": "ce",
            "learning_rate": 1e-05,
            "num_epochs": 4,
            "data_type": "ent_link",
            "train_domains": ["american_football", "doctor_who"],
        }
    )
    return {"config": c}


def state_dict_of(wrapper):
    sd = OrderedDict(
        (k, v.detach().clone())
        for k, v in wrapper.state_dict().items()
        # pytorch_transformers' BertModel has no position_ids / token_type_ids buffers
        if not k.endswith("position_ids") and not k.endswith("embeddings.token_type_ids")
    )
    return sd


def save_ckpt(path, sd, hp):
    ckpt = {
        "epoch": 0,
        "global_step": 10,
        "pytorch-lightning_version": "1.5.10",
        "state_dict": sd,
        "callbacks": {},
        "optimizer_states": [
            {
                "state": {
                    0: {"step": torch.tensor(10.0), "exp_avg": torch.randn(8, 4), "exp_avg_sq": torch.rand(8, 4)},
                    1: {"step": torch.tensor(10.0), "exp_avg": torch.randn(8), "exp_avg_sq": torch.rand(8)},
                },
                "param_groups": [{"lr": 1e-05, "weight_decay": 0.01, "params": [0, 1]}],
            }
        ],
        "lr_schedulers": [{"last_epoch": 10, "base_lrs": [1e-05]}],
    }
    if hp is not None:
        ckpt["hyper_parameters"] = hp
    torch.save(ckpt, path)


torch.manual_seed(0)
cls_sd = state_dict_of(cls_wrapper)
emb_sd = state_dict_of(emb_wrapper)
assert all(k.startswith("model.encoder.bert_model.") or k.startswith("model.encoder.additional_linear.") for k in cls_sd)
assert "model.encoder.additional_linear.weight" in cls_sd
assert not any("additional_linear" in k for k in emb_sd)
save_ckpt(os.path.join(OUT, "cls_crossenc_zeshel.ckpt"), cls_sd, hparams("default"))
save_ckpt(os.path.join(OUT, "emb_crossenc_zeshel.ckpt"), emb_sd, hparams("w_embeds"))
MISSING = "model.encoder.bert_model.encoder.layer.1.output.dense.bias"
broken = OrderedDict((k, v) for k, v in cls_sd.items() if k != MISSING)
save_ckpt(os.path.join(OUT, "cls_crossenc_missing_tensor.ckpt"), broken, None)


# ----------------------------------------------------------------------------- packing
# Port of iesl/anncur utils/data_process.py (from BLINK's biencoder data_process).
def get_context_representation(sample, tokenizer, max_seq_length, mention_key="mention",
                               context_key="context", ent_start_token=ENT_START_TAG,
                               ent_end_token=ENT_END_TAG):
    mention_tokens = []
    if sample[mention_key] and len(sample[mention_key]) > 0:
        mention_tokens = tokenizer.tokenize(sample[mention_key])
        mention_tokens = [ent_start_token] + mention_tokens + [ent_end_token]

    context_left = sample[context_key + "_left"]
    context_right = sample[context_key + "_right"]
    context_left = tokenizer.tokenize(context_left)
    context_right = tokenizer.tokenize(context_right)

    left_quota = (max_seq_length - len(mention_tokens)) // 2 - 1
    right_quota = max_seq_length - len(mention_tokens) - left_quota - 2
    left_add = len(context_left)
    right_add = len(context_right)
    if left_add <= left_quota:
        if right_add > right_quota:
            right_quota += left_quota - left_add
    else:
        if right_add <= right_quota:
            left_quota += right_quota - right_add

    context_tokens = context_left[-left_quota:] + mention_tokens + context_right[:right_quota]

    context_tokens = ["[CLS]"] + context_tokens + ["[SEP]"]
    input_ids = tokenizer.convert_tokens_to_ids(context_tokens)[:max_seq_length]
    padding = [0] * (max_seq_length - len(input_ids))
    input_ids += padding
    assert len(input_ids) == max_seq_length
    full = len(context_left) + len(mention_tokens) + len(context_right)
    return {"tokens": context_tokens, "ids": input_ids,
            "cut": full + 2 - min(len(context_tokens), max_seq_length)}


def get_candidate_representation(candidate_desc, tokenizer, max_seq_length, candidate_title=None,
                                 title_tag=ENT_TITLE_TAG):
    cls_token = tokenizer.cls_token
    sep_token = tokenizer.sep_token
    cand_tokens = tokenizer.tokenize(candidate_desc)
    if candidate_title is not None:
        title_tokens = tokenizer.tokenize(candidate_title)
        cand_tokens = title_tokens + [title_tag] + cand_tokens
    full = len(cand_tokens)

    cand_tokens = cand_tokens[: max_seq_length - 2]
    cand_tokens = [cls_token] + cand_tokens + [sep_token]

    input_ids = tokenizer.convert_tokens_to_ids(cand_tokens)
    padding = [0] * (max_seq_length - len(input_ids))
    input_ids += padding
    assert len(input_ids) == max_seq_length
    return {"tokens": cand_tokens, "ids": input_ids, "cut": full - (len(cand_tokens) - 2)}


def create_input_label_pair(input_token_idxs, label_token_idxs):
    return input_token_idxs + label_token_idxs[1:]


def to_cross_bert_input(token_idxs, null_idx, first_segment_end):
    segment_idxs = token_idxs * 0
    if first_segment_end > 0:
        segment_idxs[:, first_segment_end:] = token_idxs[:, first_segment_end:] > 0
    mask = token_idxs != null_idx
    token_idxs = token_idxs * mask.long()
    return token_idxs, segment_idxs, mask


# ----------------------------------------------------------------------------- examples
rng = random.Random(42)
POOL = [w for w in WORDS if not w.startswith("##")] + [
    "skywalker", "tatooine", "coruscant", "naboo", "mandalorian", "kenobi", "vader", "yoda",
    "mos", "eisley", "cantina", "republic's", "1977", "x-wing", "straße", "café", "über",
]


def words(n):
    return " ".join(rng.choice(POOL) for _ in range(n))


def cap(s):
    return " ".join(w.capitalize() if i % 3 == 0 else w for i, w in enumerate(s.split()))


# (name, left, mention, right, title, description); mention None = query without markers;
# title None = item without the [unused2] marker (relex: empty title).
EXAMPLES = [
    ("short", "The", "Jedi Order", "was an ancient monastic order.", "Jedi Order",
     "The Jedi Order was a noble order of protectors united in their devotion to the light side of the Force."),
    ("upper_case", "THE QUICK", "BROWN FOX", "JUMPS OVER THE LAZY DOG", "BROWN FOX",
     "A FOX THAT IS BROWN AND QUICK."),
    ("long_left", words(300), "Darth Vader", "fought at the station.", "Darth Vader",
     "Darth Vader was a Sith Lord and the father of Luke Skywalker."),
    ("long_right", "In", "Tatooine", words(300), "Tatooine",
     "Tatooine was a desert planet in the Outer Rim."),
    ("long_both", words(200), "the Senate", words(200), "Galactic Senate", words(40)),
    ("mention_at_start", "", "Yoda", words(150), "Yoda", "Yoda was a legendary Jedi Master."),
    ("mention_at_end", words(150), "Coruscant", "", "Coruscant", words(200)),
    ("mention_only", "", "Obi-Wan Kenobi", "", "Obi-Wan Kenobi", "A Jedi Master."),
    ("empty_description", "The ship landed near", "Mos Eisley", "at night.", "Mos Eisley", ""),
    ("long_description", "The", "cantina", "was full of smugglers.", "Chalmun's Cantina",
     words(400)),
    ("long_title", "The", "treaty", "ended the war.", words(150), "A treaty."),
    ("accents_and_unknown", "The Café on the", "Straße", "was über popular (in 1977)!", "Straße",
     "Straße is a word; café too."),
    ("no_markers", None, cap(words(20)), None, "Jedi", "Jedi knights."),
    ("no_markers_long", None, words(180), None, "Galaxy", words(30)),
    ("no_title_marker", "An old", "X-wing", "starfighter", None,
     "The X-wing starfighter was a fighter used by the Rebel Alliance."),
    # mention of exactly 123 word-pieces -> 125 with markers -> left_quota == 0 and
    # context_left[-0:] keeps the WHOLE left context (then [:128] cuts the row).
    ("left_quota_zero", words(40), " ".join(["the"] * 123), words(5), "The", "Article."),
    # mention longer than the window: negative quotas (Python slicing from the other end)
    ("mention_too_long", words(30), " ".join(["jedi"] * 140), words(30), "Jedi", "Too long."),
    ("long_mention_right_slack", words(80), " ".join(["sith"] * 100), "end", "Sith", "Sith lords."),
    ("punctuation", "He said: \"", "R2-D2", "\" (the droid) -- & more; yes?", "R2-D2",
     "R2-D2 was an astromech droid [3]."),
    ("empty_mention", "Left side", "", "right side", "Nothing", "No mention here."),
    ("case_mix", "The MANDALORIAN met", "Din Djarin", "On Nevarro", "Din Djarin",
     "The Mandalorian Bounty Hunter."),
]

rows = []
for name, left, mention, right, title, desc in EXAMPLES:
    if left is None:  # relex: a query without markers is all mention
        query = mention
        left, right = "", ""
    else:
        query = " ".join(p for p in [left, ENT_START_TAG, mention, ENT_END_TAG, right] if p)
    # load_mentions lower-cases context_left, context_right and mention
    sample = {"context_left": left.lower(), "context_right": right.lower(),
              "mention": mention.strip().lower()}
    item = desc if title is None else f"{title} {ENT_TITLE_TAG} {desc}"
    ctx = get_context_representation(sample, tokenizer, MAX_INPUT_LEN)
    cand = get_candidate_representation(desc, tokenizer, MAX_LABEL_LEN,
                                        candidate_title="" if title is None else title)
    pair = create_input_label_pair(ctx["ids"], cand["ids"])
    assert len(pair) == MAX_INPUT_LEN + MAX_LABEL_LEN - 1
    rows.append({"name": name, "query": query, "item": item, "ids": pair,
                 "query_tokens_cut": ctx["cut"], "item_tokens_cut": cand["cut"]})

ids = torch.tensor([r["ids"] for r in rows], dtype=torch.long)
tok, seg, mask = to_cross_bert_input(ids, null_idx=tokenizer.pad_token_id, first_segment_end=MAX_INPUT_LEN)
with torch.no_grad():
    cls_scores = cls_wrapper.model(tok, seg, mask.long()).tolist()
    emb_scores = []
    for i in range(len(rows)):
        row = tok[i : i + 1]
        if (row == 1).sum() == 1 and (row == 2).sum() == 1 and (row == 3).sum() == 1:
            emb_scores.append(emb_wrapper.model(row, seg[i : i + 1], mask[i : i + 1].long()).item())
        else:  # the reference asserts exactly one of each marker per row
            emb_scores.append(None)
for r, c, e, s, m in zip(rows, cls_scores, emb_scores, seg.tolist(), mask.long().tolist()):
    r["type_ids"] = s
    r["attention"] = m
    r["score_cls_w_lin"] = c
    r["score_w_embeds"] = e

with open(os.path.join(OUT, "golden.json"), "w") as f:
    json.dump({"max_input_len": MAX_INPUT_LEN, "max_label_len": MAX_LABEL_LEN,
               "missing_tensor": MISSING, "examples": rows}, f, separators=(",", ":"))

print(f"wrote {len(rows)} examples to {OUT}")
for r in rows:
    print(f"  {r['name']:26} cls={r['score_cls_w_lin']:+.5f} emb={r['score_w_embeds']} "
          f"cut=({r['query_tokens_cut']},{r['item_tokens_cut']})")
