#!/usr/bin/env python3
"""Writes the parity fixtures for relex's non-BERT model families.

For each family, builds a tiny seeded random model with transformers and a tiny tokenizer
trained with the `tokenizers` library in the family's own style, saves them as a Hugging
Face folder (f32 safetensors) under tests/data/tiny-<family>/, and records in
tests/data/tiny_<family>_golden.json the input ids the transformers tokenizer produced
and the scores transformers computes, one pair at a time and in one padded batch:

- xlm-roberta: `XLMRobertaForSequenceClassification`, SentencePiece-style Unigram
  tokenizer (Metaspace, `<s> A </s></s> B </s>`; no registry package ships the real
  250k-piece tokenizer.json, so a 600-piece one is trained here), positions offset by
  padding_idx + 1, classification head dense + tanh + out_proj on `<s>`;
- modernbert: `ModernBertForSequenceClassification`, byte-level BPE tokenizer with
  `[CLS] A [SEP] B [SEP]`, 4 layers (global, local, local, global) with a local window
  of 16 tokens and pairs far longer than it, "mean" pooling (scores for "cls" recorded
  too);
- qwen3-reranker: `Qwen3ForCausalLM` with grouped-query attention (4 query heads, 2
  key/value heads), byte-level BPE tokenizer with the chat tokens and "yes"/"no" as
  tokens; scored as the Qwen3-Reranker model card does (prompt template, left padding,
  last-token logits), the recorded score being logit(yes) - logit(no).

Run: python3 tests/data/generators/make_family_parity.py   (CPU, a few seconds)
"""
import json
import os

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    ModernBertConfig,
    ModernBertForSequenceClassification,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)  # tests/data

LONG = " ".join(
    f"paragraph {i}: the quick brown fox jumps over the lazy dog near the river bank" for i in range(40)
)
QUERIES = [
    "what is a cross encoder",
    "How do I bake sourdough bread?",
    "Éléphant café naïve résumé",
    "river bank",
    "a",
]
ITEMS = [
    "A cross-encoder scores a query and a document jointly with one transformer pass.",
    "Sourdough bread needs a starter, flour, water and salt; bake at 230°C.",
    "Le café est une boisson. Crème brûlée, façade.",
    "x",
    "the river bank was muddy after the rain, and the bank downtown lends money",
    LONG,
    "emoji 🚀 and 日本語 text",
]
PAIRS = [(q, it) for qi, q in enumerate(QUERIES) for ii, it in enumerate(ITEMS) if (qi * 3 + ii * 5) % 7 < 4]

CORPUS = (
    QUERIES
    + ITEMS
    + [
        "yes no yes no maybe yes no",
        "Judge whether the Document meets the requirements based on the Query and the Instruct provided.",
        'Note that the answer can only be "yes" or "no".',
        "Given a web search query, retrieve relevant passages that answer the query",
        "<Instruct>: <Query>: <Document>: system user assistant",
        "transformers tokenizers relevance ranking search engine documents passages queries",
        "money lends downtown muddy rain after bread flour water salt starter bake",
    ]
) * 20


def randomize(model, std=0.2):
    """Larger-than-default weights, so that scores spread and attention is not uniform."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower():
                p.copy_(1.0 + torch.randn_like(p) * 0.1) if name.endswith("weight") else p.normal_(0.0, 0.05)
            elif p.dim() == 2:
                p.normal_(0.0, std)
            else:
                p.normal_(0.0, 0.05)
    return model.float().eval()


def save_hf_tokenizer(tok: Tokenizer, out: str, **specials) -> PreTrainedTokenizerFast:
    path = os.path.join(out, "tokenizer.json")
    tok.save(path)
    hf = PreTrainedTokenizerFast(tokenizer_file=path, **specials)
    hf.save_pretrained(out)
    # save_pretrained may rewrite tokenizer.json; reload exactly what relex will read
    return PreTrainedTokenizerFast(tokenizer_file=path, **specials)


def write_golden(name: str, payload: dict):
    with open(os.path.join(DATA, f"tiny_{name}_golden.json"), "w") as f:
        json.dump(payload, f, ensure_ascii=False, indent=1)


def pair_family(name, model, hf_tok, max_length, extra=None):
    records = []
    with torch.no_grad():
        for q, it in PAIRS:
            enc = hf_tok(q, it, truncation="longest_first", max_length=max_length, return_tensors="pt")
            full = hf_tok(q, it, truncation=False)
            enc.pop("token_type_ids", None)
            score = model(**enc).logits[0, -1].item()
            records.append(
                {
                    "query": q,
                    "item": it,
                    "input_ids": enc["input_ids"][0].tolist(),
                    "score": score,
                    "truncated": len(full["input_ids"]) > max_length,
                }
            )
        batch = hf_tok([p[0] for p in PAIRS], [p[1] for p in PAIRS], truncation="longest_first",
                       max_length=max_length, padding=True, return_tensors="pt")
        batch.pop("token_type_ids", None)
        batch_scores = model(**batch).logits[:, -1].tolist()
    for r, b in zip(records, batch_scores):
        r["batch_score"] = b
    payload = {
        "family": name,
        "generator": "tests/data/generators/make_family_parity.py",
        "torch": torch.__version__,
        "max_length": max_length,
        "pairs": records,
    }
    if extra:
        payload.update(extra)
    return payload


def xlm_roberta():
    out = os.path.join(DATA, "tiny-xlmr")
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(CORPUS, trainer)
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    assert [tok.token_to_id(t) for t in specials] == [0, 1, 2, 3]
    hf_tok = save_hf_tokenizer(tok, out, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                               cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    max_length = 128
    config = XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu",
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=1,
    )
    torch.manual_seed(12)
    model = randomize(XLMRobertaForSequenceClassification(config))
    model.save_pretrained(out, safe_serialization=True)
    write_golden("xlmr", pair_family("xlm-roberta", model, hf_tok, max_length))


def byte_bpe(vocab_size, specials, template):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = template(tok)
    return tok


def modernbert():
    out = os.path.join(DATA, "tiny-modernbert")
    os.makedirs(out, exist_ok=True)
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = byte_bpe(
        700,
        specials,
        lambda t: processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0",
            pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
            special_tokens=[("[CLS]", t.token_to_id("[CLS]")), ("[SEP]", t.token_to_id("[SEP]"))],
        ),
    )
    hf_tok = save_hf_tokenizer(tok, out, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                               unk_token="[UNK]", mask_token="[MASK]")
    max_length = 256
    config = ModernBertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=48,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=max_length,
        global_attn_every_n_layers=3,
        local_attention=16,
        global_rope_theta=160000.0,
        local_rope_theta=10000.0,
        pad_token_id=tok.token_to_id("[PAD]"),
        cls_token_id=tok.token_to_id("[CLS]"),
        sep_token_id=tok.token_to_id("[SEP]"),
        bos_token_id=tok.token_to_id("[CLS]"),
        eos_token_id=tok.token_to_id("[SEP]"),
        classifier_pooling="mean",
        num_labels=1,
        attn_implementation="eager",
    )
    assert config.layer_types == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
    torch.manual_seed(20)
    model = randomize(ModernBertForSequenceClassification(config))
    model.save_pretrained(out, safe_serialization=True)
    payload = pair_family("modernbert", model, hf_tok, max_length)
    # The same model with "cls" pooling, for relex's pooling override.
    model.config.classifier_pooling = "cls"
    with torch.no_grad():
        for r in payload["pairs"]:
            enc = hf_tok(r["query"], r["item"], truncation="longest_first", max_length=max_length, return_tensors="pt")
            enc.pop("token_type_ids", None)
            r["cls_score"] = model(**enc).logits[0, -1].item()
    longest = max(len(r["input_ids"]) for r in payload["pairs"])
    assert longest > 4 * 16, f"pairs must be longer than the local window: {longest}"
    write_golden("modernbert", payload)


PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


def qwen3():
    out = os.path.join(DATA, "tiny-qwen3")
    os.makedirs(out, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    tok = byte_bpe(800, specials, lambda t: processors.ByteLevel(trim_offsets=False))
    for t in ["yes", "no"]:
        assert tok.token_to_id(t) is not None, f"{t} must be one token"
    hf_tok = save_hf_tokenizer(tok, out, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    hf_tok.padding_side = "left"
    max_length = 512
    config = Qwen3Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        max_position_embeddings=max_length,
        tie_word_embeddings=True,
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=tok.token_to_id("<|im_end|>"),
        attn_implementation="eager",
    )
    torch.manual_seed(3)
    model = randomize(Qwen3ForCausalLM(config), std=0.15)
    model.save_pretrained(out, safe_serialization=True)
    yes, no = tok.token_to_id("yes"), tok.token_to_id("no")

    # The model card's process_inputs / compute_logits.
    prefix_ids = hf_tok.encode(PREFIX, add_special_tokens=False)
    suffix_ids = hf_tok.encode(SUFFIX, add_special_tokens=False)
    texts = [f"<Instruct>: {INSTRUCTION}\n<Query>: {q}\n<Document>: {d}" for q, d in PAIRS]
    budget = max_length - len(prefix_ids) - len(suffix_ids)
    enc = hf_tok(texts, padding=False, truncation="longest_first", return_attention_mask=False, max_length=budget)
    full = hf_tok(texts, padding=False, truncation=False, return_attention_mask=False)
    ids = [prefix_ids + e + suffix_ids for e in enc["input_ids"]]

    def score(batch_ids):
        batch = hf_tok.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt")
        logits = model(**batch).logits[:, -1, :]
        return (logits[:, yes] - logits[:, no]).tolist(), torch.log_softmax(
            torch.stack([logits[:, no], logits[:, yes]], dim=1), dim=1
        )[:, 1].exp().tolist()

    records = []
    with torch.no_grad():
        batch_scores, batch_probs = score(ids)
        for (q, d), i, f, b, p in zip(PAIRS, ids, full["input_ids"], batch_scores, batch_probs):
            s, prob = score([i])
            records.append(
                {
                    "query": q,
                    "item": d,
                    "input_ids": i,
                    "score": s[0],
                    "probability": prob[0],
                    "batch_score": b,
                    "batch_probability": p,
                    "truncated": len(f) > budget,
                }
            )
    write_golden(
        "qwen3",
        {
            "family": "qwen3-reranker",
            "generator": "tests/data/generators/make_family_parity.py",
            "torch": torch.__version__,
            "max_length": max_length,
            "padding_side": "left",
            "pairs": records,
        },
    )


if __name__ == "__main__":
    xlm_roberta()
    modernbert()
    qwen3()
    for name in ["xlmr", "modernbert", "qwen3"]:
        with open(os.path.join(DATA, f"tiny_{name}_golden.json")) as f:
            g = json.load(f)
        worst = max(abs(r["score"] - r["batch_score"]) for r in g["pairs"])
        longest = max(len(r["input_ids"]) for r in g["pairs"])
        print(f"{name}: {len(g['pairs'])} pairs, longest {longest} tokens, "
              f"truncated {sum(r['truncated'] for r in g['pairs'])}, max |batch - single| {worst:.2e}")
