//! Pair encoding: `[CLS] query [SEP] item [SEP]`, exactly as the tokenizers library
//! encodes a pair, with each pair's truncation reported rather than hidden.
//!
//! The query is tokenized once per query and each item once, then the library's own
//! `post_process` does the longest-first truncation and adds the special tokens and type
//! ids, so the result is identical to `tokenizer.encode((query, item))` while costing one
//! query tokenization per list instead of one per pair.

use std::path::Path;

use serde::Serialize;
use tokenizers::{
    models::wordpiece::WordPiece, normalizers::BertNormalizer,
    pre_tokenizers::bert::BertPreTokenizer, processors::bert::BertProcessing, AddedToken, Encoding,
    Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use super::ModelError;

/// How many tokens truncation removed from each side of one pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Truncation {
    pub query_tokens_cut: usize,
    pub item_tokens_cut: usize,
}

impl Truncation {
    pub fn any(&self) -> bool {
        self.query_tokens_cut > 0 || self.item_tokens_cut > 0
    }

    /// "query", "item", "both" or "" — for tables.
    pub fn side(&self) -> &'static str {
        match (self.query_tokens_cut > 0, self.item_tokens_cut > 0) {
            (false, false) => "",
            (true, false) => "query",
            (false, true) => "item",
            (true, true) => "both",
        }
    }
}

/// One model input row before padding.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedPair {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// 1 for tokens attended to. Usually all ones; the zeshel packing has pads inside.
    pub attention: Vec<u8>,
    pub truncation: Truncation,
}

impl EncodedPair {
    /// Tokens the model attends to (what "token count" means to a user).
    pub fn token_count(&self) -> usize {
        self.attention.iter().filter(|&&a| a == 1).count()
    }
}

/// A query tokenized once, reused for every item.
#[derive(Clone)]
pub struct EncodedQuery {
    encoding: Encoding,
}

impl EncodedQuery {
    pub fn len(&self) -> usize {
        self.encoding.len()
    }

    pub fn is_empty(&self) -> bool {
        self.encoding.is_empty()
    }
}

/// An item tokenized once, paired with many queries (index builds score every anchor
/// query against the same items).
#[derive(Clone)]
pub struct EncodedItem {
    encoding: Encoding,
}

/// A tokenizer configured for cross-encoder pairs.
#[derive(Clone)]
pub struct PairEncoder {
    tokenizer: Tokenizer,
    max_length: usize,
    pad_id: u32,
}

impl PairEncoder {
    /// Loads `tokenizer.json`, or builds BERT WordPiece from `vocab.txt` when that is all
    /// the folder has. The file's own padding and truncation (the MiniLM one pads every
    /// input to 128) are replaced by relex's: no padding, longest-first to `max_length`.
    pub fn from_folder(dir: &Path, max_length: usize, lowercase: bool) -> Result<Self, ModelError> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        let tokenizer = if json.exists() {
            Tokenizer::from_file(&json).map_err(|e| ModelError::Tokenizer {
                path: json.clone(),
                message: e.to_string(),
            })?
        } else if vocab.exists() {
            wordpiece_from_vocab(&vocab, lowercase)?
        } else {
            return Err(ModelError::Tokenizer {
                path: dir.to_path_buf(),
                message: "no tokenizer.json or vocab.txt in this folder".into(),
            });
        };
        Self::new(tokenizer, max_length, &json)
    }

    pub fn from_file(path: &Path, max_length: usize) -> Result<Self, ModelError> {
        let tokenizer = if path.extension().and_then(|e| e.to_str()) == Some("txt") {
            wordpiece_from_vocab(path, true)?
        } else {
            Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
        };
        Self::new(tokenizer, max_length, path)
    }

    fn new(mut tokenizer: Tokenizer, max_length: usize, origin: &Path) -> Result<Self, ModelError> {
        let file_pad = tokenizer.get_padding().map(|p| p.pad_id);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ModelError::Tokenizer {
                path: origin.to_path_buf(),
                message: e.to_string(),
            })?;
        let pad_id = tokenizer
            .token_to_id("[PAD]")
            .or(file_pad)
            .or_else(|| tokenizer.token_to_id("<pad>"))
            .unwrap_or(0);
        Ok(Self {
            tokenizer,
            max_length,
            pad_id,
        })
    }

    /// A hash of everything that decides the token ids: the vocabulary, normaliser and
    /// post-processor, the special tokens registered on top, and the truncation length.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = self.tokenizer.to_string(false).unwrap_or_default();
        let digest = Sha256::digest(json.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Sets the id used to pad batches (the model's `pad_token_id`).
    pub fn set_pad_id(&mut self, id: u32) {
        self.pad_id = id;
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Makes `tokens` (e.g. `[unused0]`) single, never-split tokens, so typed markers reach
    /// the model as the ids it was trained with.
    pub fn register_special_tokens(&mut self, tokens: &[&str]) -> Result<(), ModelError> {
        let added: Vec<AddedToken> = tokens
            .iter()
            .filter(|t| self.tokenizer.token_to_id(t).is_some())
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        self.tokenizer
            .add_special_tokens(added)
            .map_err(|e| ModelError::Input {
                message: format!("cannot register special tokens {tokens:?}: {e}"),
            })?;
        Ok(())
    }

    pub fn encode_query(&self, query: &str) -> Result<EncodedQuery, ModelError> {
        let encoding = self
            .tokenizer
            .encode_fast(query, false)
            .map_err(|e| ModelError::Input {
                message: format!("cannot tokenize query: {e}"),
            })?;
        Ok(EncodedQuery { encoding })
    }

    /// Tokenizes an item text alone, for [`PairEncoder::pair`].
    pub fn encode_item(&self, item: &str) -> Result<EncodedItem, ModelError> {
        let encoding = self
            .tokenizer
            .encode_fast(item, false)
            .map_err(|e| ModelError::Input {
                message: format!("cannot tokenize item: {e}"),
            })?;
        Ok(EncodedItem { encoding })
    }

    /// Encodes `[CLS] query [SEP] item [SEP]` with longest-first truncation.
    pub fn encode_pair(&self, query: &EncodedQuery, item: &str) -> Result<EncodedPair, ModelError> {
        self.pair(query, &self.encode_item(item)?)
    }

    /// Joins a tokenized query and item into one input (special tokens, type ids,
    /// longest-first truncation): the same ids as [`PairEncoder::encode_pair`] at a
    /// fraction of the cost, since the item's text is not tokenized again.
    pub fn pair(
        &self,
        query: &EncodedQuery,
        item: &EncodedItem,
    ) -> Result<EncodedPair, ModelError> {
        let item_enc = item.encoding.clone();
        let (q_len, i_len) = (query.encoding.len(), item_enc.len());
        let enc = self
            .tokenizer
            .post_process(query.encoding.clone(), Some(item_enc), true)
            .map_err(|e| ModelError::Input {
                message: format!("cannot encode pair: {e}"),
            })?;
        let type_ids = enc.get_type_ids().to_vec();
        let special = enc.get_special_tokens_mask();
        let (q_kept, i_kept) = if type_ids.contains(&1) {
            // BERT's processor adds [CLS] + [SEP] to the query side (type 0) and [SEP] to
            // the item side (type 1).
            let kept = |side: u32| {
                type_ids
                    .iter()
                    .zip(special)
                    .filter(|(&t, &s)| t == side && s == 0)
                    .count()
            };
            (kept(0), kept(1))
        } else {
            // RoBERTa-style processors give both sides type 0: `<s> q </s></s> item </s>`,
            // so the query is the first run of non-special tokens.
            let total = special.iter().filter(|&&s| s == 0).count();
            let first_run = special
                .iter()
                .skip_while(|&&s| s == 1)
                .take_while(|&&s| s == 0)
                .count();
            match (q_len, i_len) {
                (0, _) => (0, total),
                (_, 0) => (total, 0),
                _ => (first_run, total - first_run),
            }
        };
        let truncation = Truncation {
            query_tokens_cut: q_len.saturating_sub(q_kept),
            item_tokens_cut: i_len.saturating_sub(i_kept),
        };
        let ids = enc.get_ids().to_vec();
        let attention = vec![1u8; ids.len()];
        Ok(EncodedPair {
            ids,
            type_ids,
            attention,
            truncation,
        })
    }
}

/// BERT WordPiece from a bare `vocab.txt`, as transformers' BertTokenizerFast builds it.
fn wordpiece_from_vocab(vocab: &Path, lowercase: bool) -> Result<Tokenizer, ModelError> {
    let err = |message: String| ModelError::Tokenizer {
        path: vocab.to_path_buf(),
        message,
    };
    let path = vocab
        .to_str()
        .ok_or_else(|| err("path is not valid UTF-8".into()))?;
    let wp = WordPiece::from_file(path)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(wp);
    let id = |t: &str| {
        tokenizer
            .token_to_id(t)
            .ok_or_else(|| err(format!("vocabulary has no {t} token")))
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            true,
            Some(lowercase),
            lowercase,
        )))
        .map_err(|e| err(e.to_string()))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    let specials: Vec<AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| err(e.to_string()))?;
    Ok(tokenizer)
}
