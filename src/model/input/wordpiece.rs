//! A fast path for BERT WordPiece tokenizers (`BertNormalizer` + `BertPreTokenizer` +
//! `WordPiece`: the tokenizer of BERT, MiniLM and most cross-encoders), producing the
//! tokenizers library's ids.
//!
//! Why: the library keeps an alignment entry per character and looks every character up
//! in Unicode tables; on a GPU that made tokenisation, not the model, the limit of
//! end-to-end scoring (≈1.1 ms per 380-token item on one core). Here plain added tokens
//! (`[unused2]`, `[SEP]`: matched leftmost-longest on the raw text, as the library does)
//! and ASCII words are handled directly; a whitespace-separated chunk holding a non-ASCII
//! character is handed to the library (its normaliser and pre-tokenizer act per
//! character and never join across ASCII whitespace, so a chunk tokenises alone exactly
//! as inside its text), and a text that might hold an added token with other matching
//! rules (normalised, single-word, stripping) goes to the library whole.
//!
//! Truncation is the library's too: a sequence is tokenised word by word until it holds
//! at least `limit` tokens (the last word whole), which decides which side of a pair is
//! the longer one. Tests compare ids with the library's on the demo's texts and on
//! random text.

use rustc_hash::FxHashMap;
use tokenizers::{
    models::ModelWrapper, normalizers::NormalizerWrapper, pre_tokenizers::PreTokenizerWrapper,
    Model, Tokenizer,
};

/// The ASCII fast path of one BERT WordPiece tokenizer.
#[derive(Clone)]
pub struct FastWordPiece {
    clean_text: bool,
    lowercase: bool,
    /// Pieces that may start a word.
    initial: FxHashMap<Box<[u8]>, u32>,
    /// Pieces that continue a word, keyed without the continuation prefix (`##`).
    continuing: FxHashMap<Box<[u8]>, u32>,
    /// The longest piece, in bytes: no longer match is tried.
    longest: usize,
    unk: u32,
    max_input_chars_per_word: usize,
    /// Added tokens matched on the raw text with no other rule, longest first.
    plain_added: Vec<(Box<[u8]>, u32)>,
    /// Bytes a plain added token starts with.
    plain_starts: [bool; 256],
    /// Bytes any other added token starts with (both cases): text holding one goes to
    /// the library, whose added-vocabulary rules decide.
    other_starts: [bool; 256],
}

/// What [`FastWordPiece::encode`] did with a text.
pub enum FastOutcome {
    /// The ids were appended.
    Done,
    /// The text may hold an added token with rules of its own: tokenise it with the
    /// library.
    UseLibrary,
}

impl FastWordPiece {
    /// The fast path for `tokenizer`, or `None` when it is not a BERT WordPiece
    /// tokenizer this module reproduces exactly.
    pub fn new(tokenizer: &Tokenizer) -> Option<Self> {
        let Some(NormalizerWrapper::BertNormalizer(norm)) = tokenizer.get_normalizer() else {
            return None;
        };
        let Some(PreTokenizerWrapper::BertPreTokenizer(_)) = tokenizer.get_pre_tokenizer() else {
            return None;
        };
        let ModelWrapper::WordPiece(wp) = tokenizer.get_model() else {
            return None;
        };
        let vocab = wp.get_vocab();
        let unk = *vocab.get(&wp.unk_token)?;
        let prefix = wp.continuing_subword_prefix.as_bytes();
        let mut initial = FxHashMap::default();
        let mut continuing = FxHashMap::default();
        let mut longest = 0;
        for (piece, id) in vocab {
            let bytes = piece.as_bytes();
            longest = longest.max(bytes.len());
            if let Some(rest) = bytes.strip_prefix(prefix).filter(|r| !r.is_empty()) {
                continuing.insert(Box::from(rest), id);
            }
            initial.insert(Box::from(bytes), id);
        }
        let mut plain_added: Vec<(Box<[u8]>, u32)> = Vec::new();
        let mut plain_starts = [false; 256];
        let mut other_starts = [false; 256];
        for (id, token) in tokenizer.get_added_tokens_decoder() {
            let first = *token.content.as_bytes().first()?;
            if !token.normalized && !token.single_word && !token.lstrip && !token.rstrip {
                plain_added.push((Box::from(token.content.as_bytes()), id));
                plain_starts[first as usize] = true;
                continue;
            }
            // A normalised added token is matched in normalised text, where a non-ASCII
            // character may have become ASCII (é → e): no fast path then.
            if token.normalized && !token.content.is_ascii() {
                return None;
            }
            other_starts[first.to_ascii_lowercase() as usize] = true;
            other_starts[first.to_ascii_uppercase() as usize] = true;
        }
        plain_added.sort_by_key(|(content, _)| std::cmp::Reverse(content.len()));
        Some(Self {
            clean_text: norm.clean_text,
            lowercase: norm.lowercase,
            initial,
            continuing,
            longest,
            unk,
            max_input_chars_per_word: wp.max_input_chars_per_word,
            plain_added,
            plain_starts,
            other_starts,
        })
    }

    /// Appends the ids of `text` (no special tokens) to `out`, word by word until `out`
    /// holds at least `limit` ids. Non-ASCII chunks go through `library(chunk, limit,
    /// out)`, which must do the same and say whether the limit was reached.
    pub fn encode<E>(
        &self,
        text: &str,
        limit: usize,
        out: &mut Vec<u32>,
        mut library: impl FnMut(&str, usize, &mut Vec<u32>) -> Result<bool, E>,
    ) -> Result<FastOutcome, E> {
        let bytes = text.as_bytes();
        if bytes.iter().any(|&b| self.other_starts[b as usize]) {
            return Ok(FastOutcome::UseLibrary);
        }
        let mut word = Vec::with_capacity(32);
        let mut from = 0;
        let mut at = 0;
        while at < bytes.len() {
            let found = if self.plain_starts[bytes[at] as usize] {
                self.plain_added
                    .iter()
                    .find(|(content, _)| bytes[at..].starts_with(content))
            } else {
                None
            };
            let Some((content, id)) = found else {
                at += 1;
                continue;
            };
            if self.segment(&text[from..at], limit, &mut word, out, &mut library)? {
                return Ok(FastOutcome::Done);
            }
            // The library checks its limit after words, not after added tokens.
            out.push(*id);
            at += content.len();
            from = at;
        }
        self.segment(&text[from..], limit, &mut word, out, &mut library)?;
        Ok(FastOutcome::Done)
    }

    /// A stretch of text without added tokens; true once the limit is reached.
    fn segment<E>(
        &self,
        text: &str,
        limit: usize,
        word: &mut Vec<u8>,
        out: &mut Vec<u32>,
        library: &mut impl FnMut(&str, usize, &mut Vec<u32>) -> Result<bool, E>,
    ) -> Result<bool, E> {
        // Space, tab, newline and return end a word under either normaliser setting
        // (cleaned to a space, or split as whitespace), so they delimit independent chunks.
        for chunk in text.split([' ', '\t', '\n', '\r']) {
            let reached = if chunk.is_ascii() {
                self.ascii_chunk(chunk.as_bytes(), limit, word, out)
            } else {
                library(chunk, limit, out)?
            };
            if reached {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// BertNormalizer, BertPreTokenizer and WordPiece on one ASCII chunk; true once the
    /// limit is reached.
    fn ascii_chunk(
        &self,
        chunk: &[u8],
        limit: usize,
        word: &mut Vec<u8>,
        out: &mut Vec<u32>,
    ) -> bool {
        word.clear();
        for &b in chunk {
            // clean_text drops control characters (\t \n \r never reach here).
            if self.clean_text && (b < 0x20 || b == 0x7f) {
                continue;
            }
            let b = if self.lowercase {
                b.to_ascii_lowercase()
            } else {
                b
            };
            let space = (b as char).is_whitespace(); // \x0b, \x0c when not cleaned
            if space || b.is_ascii_punctuation() {
                if self.word_pieces(word, limit, out) {
                    return true;
                }
                word.clear();
                if !space && self.word_pieces(&[b], limit, out) {
                    return true;
                }
            } else {
                word.push(b);
            }
        }
        self.word_pieces(word, limit, out)
    }

    /// WordPiece's greedy longest-match-first split of one word (a word with an unknown
    /// remainder, or over the length limit, is one unknown token); true once `out` holds
    /// `limit` ids.
    fn word_pieces(&self, word: &[u8], limit: usize, out: &mut Vec<u32>) -> bool {
        if word.is_empty() {
            return false;
        }
        if word.len() > self.max_input_chars_per_word {
            out.push(self.unk);
            return out.len() >= limit;
        }
        let mark = out.len();
        let mut start = 0;
        while start < word.len() {
            let table = if start == 0 {
                &self.initial
            } else {
                &self.continuing
            };
            let mut end = word.len().min(start + self.longest);
            let found = loop {
                if end == start {
                    break None;
                }
                if let Some(&id) = table.get(&word[start..end]) {
                    break Some(id);
                }
                end -= 1;
            };
            let Some(id) = found else {
                out.truncate(mark);
                out.push(self.unk);
                break;
            };
            out.push(id);
            start = end;
        }
        out.len() >= limit
    }
}

/// Appends the library's tokens word by word until `out` holds at least `limit` ids
/// (the library's own rule when it truncates); true once it does. `encoding` must carry
/// word ids (made by `encode`, not `encode_fast`).
pub fn take_words(encoding: &tokenizers::Encoding, limit: usize, out: &mut Vec<u32>) -> bool {
    let (ids, words) = (encoding.get_ids(), encoding.get_word_ids());
    let mut k = 0;
    while k < ids.len() {
        let end = (k + 1..ids.len())
            .find(|&e| words[e] != words[k])
            .unwrap_or(ids.len());
        out.extend_from_slice(&ids[k..end]);
        if out.len() >= limit {
            return true;
        }
        k = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use crate::model::PairEncoder;

    fn library_ids(enc: &PairEncoder, text: &str) -> Vec<u32> {
        enc.tokenizer()
            .encode_fast(text, false)
            .expect("the library tokenizes")
            .get_ids()
            .to_vec()
    }

    /// The default model's tokenizer.json (lowercasing, with the [EMB] markers added),
    /// the tiny test model's bare vocab.txt cased and uncased, a SentencePiece one, and
    /// short limits so truncation is exercised.
    fn encoders() -> &'static [(&'static str, PairEncoder)] {
        static ENCODERS: std::sync::OnceLock<Vec<(&'static str, PairEncoder)>> =
            std::sync::OnceLock::new();
        ENCODERS.get_or_init(load_encoders)
    }

    fn load_encoders() -> Vec<(&'static str, PairEncoder)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let emb = root.join("assets/models/wordnet-minilm-emb");
        let tiny = root.join("tests/data/tiny-ce");
        let mut marked = PairEncoder::from_folder(&emb, 512, true).expect("default tokenizer");
        marked
            .register_special_tokens(&["[unused0]", "[unused1]", "[unused2]"])
            .expect("markers");
        vec![
            (
                "default, 512",
                PairEncoder::from_folder(&emb, 512, true).expect("default"),
            ),
            ("default + markers, 24", {
                let mut e = PairEncoder::from_folder(&emb, 24, true).expect("default");
                e.register_special_tokens(&["[unused0]"]).expect("marker");
                e
            }),
            ("default + markers, 512", marked),
            (
                "tiny uncased, 16",
                PairEncoder::from_folder(&tiny, 16, true).expect("tiny"),
            ),
            (
                "tiny cased, 512",
                PairEncoder::from_folder(&tiny, 512, false).expect("tiny"),
            ),
            // SentencePiece: no WordPiece fast path, but its pair layout is learned.
            (
                "xlm-r, 20",
                PairEncoder::from_folder(&root.join("tests/data/tiny-xlmr"), 20, false)
                    .expect("xlmr"),
            ),
        ]
    }

    #[test]
    fn bert_tokenizers_take_the_fast_paths_and_others_do_not() {
        for (name, enc) in encoders() {
            let wordpiece = !name.starts_with("xlm-r");
            assert_eq!(enc.fast_paths(), (wordpiece, true), "{name}");
        }
    }

    #[test]
    fn demo_items_and_queries_get_the_library_ids() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for file in ["items.jsonl", "anchor_queries.jsonl", "test_queries.jsonl"] {
            let path = root.join("assets/demo").join(file);
            let body = std::fs::read_to_string(&path).expect("demo file");
            for line in body.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                let text = v.get("text").or_else(|| v.get("query"));
                texts.push(text.and_then(|t| t.as_str()).expect("text").to_string());
            }
        }
        assert!(texts.len() > 12_000);
        for (name, enc) in encoders() {
            for text in &texts {
                assert_eq!(
                    enc.ids(text, "text").expect("ids"),
                    library_ids(enc, text),
                    "{name}: {text:?}"
                );
            }
        }
    }

    /// Characters chosen to hit every branch: ASCII letters in both cases, digits,
    /// punctuation, every kind of ASCII whitespace and control, accents (composed and
    /// combining), CJK, Unicode punctuation and spaces, and the markers' brackets.
    const ALPHABET: &[char] = &[
        'a', 'b', 'e', 'g', 'i', 'n', 'r', 's', 't', 'u', 'x', 'A', 'E', 'Q', 'T', '0', '7', ' ',
        ' ', ' ', '\t', '\n', '\r', '\x0b', '\x0c', '\x01', '\x1f', '\x7f', '\0', '.', ',', '#',
        '-', '\'', '[', ']', '$', 'é', 'É', 'ß', 'İ', '中', '’', '–', '\u{a0}', '\u{200b}',
        '\u{301}', '\u{fffd}',
    ];

    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => prop::sample::select(ALPHABET).prop_map(String::from),
            2 => prop::sample::select(&[
                "the", "running", "unaffable", "abacus", "cloth", "xylophone", "[unused0]",
                "[UNUSED1]", "[CLS]", "naïve", "café", "##ing",
            ][..]).prop_map(String::from),
            1 => "[a-z]{90,110}",
        ];
        prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn random_text_gets_the_library_ids(text in text()) {
            for (name, enc) in encoders() {
                prop_assert_eq!(enc.ids(&text, "text").expect("ids"), library_ids(enc, &text), "{}", name);
            }
        }

        #[test]
        fn pairs_join_as_the_library_joins_them(query in text(), item in text()) {
            for (name, enc) in encoders() {
                let library = enc
                    .tokenizer()
                    .encode((query.as_str(), item.as_str()), true)
                    .expect("the library encodes the pair");
                let q = enc.encode_query(&query).expect("query");
                let ours = enc.pair(&q, &enc.encode_item(&item).expect("item")).expect("pair");
                prop_assert_eq!(&ours.ids, &library.get_ids().to_vec(), "{}", name);
                prop_assert_eq!(&ours.type_ids, &library.get_type_ids().to_vec(), "{}", name);
            }
        }
    }
}
