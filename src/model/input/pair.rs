//! Pair encoding: `[CLS] query [SEP] item [SEP]`, exactly as the tokenizers library
//! encodes a pair, with each pair's truncation reported rather than hidden.
//!
//! The query is tokenized once per query and each item once; joining them repeats the
//! library's `post_process` (longest-first truncation, special tokens, type ids) from a
//! layout learned from that post-processor at load and checked against it, so the result
//! is identical to `tokenizer.encode((query, item))` while costing one query tokenization
//! per list instead of one per pair. BERT WordPiece tokenizers take a fast path
//! (`wordpiece.rs`) for ASCII text.

use std::path::Path;

use serde::Serialize;
use tokenizers::{
    models::wordpiece::WordPiece, normalizers::BertNormalizer,
    pre_tokenizers::bert::BertPreTokenizer, processors::bert::BertProcessing, AddedToken, Encoding,
    Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::model::input::wordpiece::{take_words, FastOutcome, FastWordPiece};
use crate::model::ModelError;

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

/// A query tokenized once (ids without special tokens), reused for every item.
#[derive(Clone)]
pub struct EncodedQuery {
    ids: Vec<u32>,
}

impl EncodedQuery {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// An item tokenized once (ids without special tokens), paired with many queries (index
/// builds score every anchor query against the same items).
#[derive(Clone)]
pub struct EncodedItem {
    ids: Vec<u32>,
}

/// A tokenizer configured for cross-encoder pairs.
#[derive(Clone)]
pub struct PairEncoder {
    tokenizer: Tokenizer,
    /// The same without truncation, for word ids: the library's truncation rule is
    /// applied by [`take_words`].
    untruncated: Tokenizer,
    max_length: usize,
    pad_id: u32,
    /// The ASCII fast path, for BERT WordPiece tokenizers.
    fast: Option<FastWordPiece>,
    /// How pairs are joined, when the post-processor's layout could be learned.
    layout: Option<PairLayout>,
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
            let settings = WordPieceSettings::read(dir, lowercase)?;
            wordpiece_from_vocab(&vocab, settings)?
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
            // A bare vocab.txt takes its settings from a tokenizer_config.json beside it.
            let dir = path.parent().unwrap_or(Path::new("."));
            wordpiece_from_vocab(path, WordPieceSettings::read(dir, true)?)?
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
        let mut encoder = Self {
            untruncated: tokenizer.clone(),
            tokenizer,
            max_length,
            pad_id,
            fast: None,
            layout: None,
        };
        encoder.learn_fast_paths();
        Ok(encoder)
    }

    /// Sets up the untruncated twin, the WordPiece fast path and the pair layout for the
    /// tokenizer as it is now (again after special tokens are registered).
    fn learn_fast_paths(&mut self) {
        self.untruncated = self.tokenizer.clone();
        self.untruncated.with_truncation(None).ok();
        self.fast = FastWordPiece::new(&self.tokenizer);
        self.layout = PairLayout::learn(&self.tokenizer, self.max_length);
    }

    /// Whether the WordPiece fast path and the learned pair layout are in use (tests).
    pub fn fast_paths(&self) -> (bool, bool) {
        (self.fast.is_some(), self.layout.is_some())
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
        self.learn_fast_paths();
        Ok(())
    }

    /// The ids of `text` without special tokens, truncated to the maximum length: what
    /// `tokenizer.encode_fast(text, false)` gives, through the fast path where it applies.
    /// `what` names the text in errors.
    pub fn ids(&self, text: &str, what: &str) -> Result<Vec<u32>, ModelError> {
        let mut ids = self.tokenize(text, what)?;
        ids.truncate(self.max_length);
        Ok(ids)
    }

    /// The ids of `text` (the library's, through the fast path where it applies), word
    /// by word until at least the maximum length: past it only when the last word has
    /// several pieces, as the library tokenises a pair's sides before truncating them.
    fn tokenize(&self, text: &str, what: &str) -> Result<Vec<u32>, ModelError> {
        let library = |part: &str, limit: usize, out: &mut Vec<u32>| {
            // Untruncated, with word ids, then cut at the library's word boundary.
            let encoding = self
                .untruncated
                .encode(part, false)
                .map_err(|e| ModelError::Input {
                    message: format!("cannot tokenize {what}: {e}"),
                })?;
            Ok::<bool, ModelError>(take_words(&encoding, limit, out))
        };
        let limit = self.max_length;
        let mut ids = Vec::new();
        if let Some(fast) = &self.fast {
            if let FastOutcome::Done = fast.encode(text, limit, &mut ids, library)? {
                return Ok(ids);
            }
            ids.clear();
        }
        library(text, limit, &mut ids)?;
        Ok(ids)
    }

    /// Tokenizes a query alone, for [`PairEncoder::pair`].
    pub fn encode_query(&self, query: &str) -> Result<EncodedQuery, ModelError> {
        Ok(EncodedQuery {
            ids: self.tokenize(query, "query")?,
        })
    }

    /// Tokenizes an item text alone, for [`PairEncoder::pair`].
    pub fn encode_item(&self, item: &str) -> Result<EncodedItem, ModelError> {
        Ok(EncodedItem {
            ids: self.tokenize(item, "item")?,
        })
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
        let (q, i) = (&query.ids, &item.ids);
        let (ids, type_ids, q_kept, i_kept) = match &self.layout {
            Some(layout) => layout.join(q, i, self.max_length),
            None => library_join(&self.tokenizer, q, i)?,
        };
        let truncation = Truncation {
            query_tokens_cut: q.len().saturating_sub(q_kept),
            item_tokens_cut: i.len().saturating_sub(i_kept),
        };
        let attention = vec![1u8; ids.len()];
        Ok(EncodedPair {
            ids,
            type_ids,
            attention,
            truncation,
        })
    }
}

/// A joined pair: ids, type ids, and how many query and item tokens were kept.
type Joined = (Vec<u32>, Vec<u32>, usize, usize);

/// An encoding holding only ids, as the post-processor needs them.
fn ids_encoding(ids: &[u32]) -> Encoding {
    let n = ids.len();
    Encoding::new(
        ids.to_vec(),
        vec![0; n],
        vec![String::new(); n],
        vec![None; n],
        vec![(0, 0); n],
        vec![0; n],
        vec![1; n],
        Vec::new(),
        Default::default(),
    )
}

/// The library's own `post_process` of a pair, with the kept counts read back from the
/// special-tokens mask and type ids.
fn library_join(tokenizer: &Tokenizer, q: &[u32], i: &[u32]) -> Result<Joined, ModelError> {
    let enc = tokenizer
        .post_process(ids_encoding(q), Some(ids_encoding(i)), true)
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
        match (q.len(), i.len()) {
            (0, _) => (0, total),
            (_, 0) => (total, 0),
            _ => (first_run, total - first_run),
        }
    };
    Ok((enc.get_ids().to_vec(), type_ids, q_kept, i_kept))
}

/// Where the post-processor puts a pair's special tokens and which type ids each part
/// gets: `prefix query middle item suffix`, as (id, type id) for the special tokens.
#[derive(Clone, Debug)]
struct PairLayout {
    prefix: Vec<(u32, u32)>,
    middle: Vec<(u32, u32)>,
    suffix: Vec<(u32, u32)>,
    query_type: u32,
    item_type: u32,
}

impl PairLayout {
    /// Learned from the tokenizer's post-processor on a probe pair, then checked against
    /// it on every combination of lengths around the truncation boundaries; `None` (the
    /// library joins every pair) if the processor does anything this layout cannot say.
    fn learn(tokenizer: &Tokenizer, max_length: usize) -> Option<Self> {
        // Ids no vocabulary uses, so the probe's own tokens are told from special ones.
        const Q: u32 = u32::MAX - 1;
        const I: u32 = u32::MAX - 2;
        if tokenizer.get_truncation()?.strategy != TruncationStrategy::LongestFirst {
            return None;
        }
        let probe = tokenizer
            .post_process(ids_encoding(&[Q, Q]), Some(ids_encoding(&[I, I, I])), true)
            .ok()?;
        let (ids, types) = (probe.get_ids(), probe.get_type_ids());
        let q_at = ids.iter().position(|&x| x == Q)?;
        let i_at = ids.iter().position(|&x| x == I)?;
        let run = |at: usize, id: u32, n: usize| {
            ids.get(at..at + n)
                .is_some_and(|r| r.iter().all(|&x| x == id))
                && types[at..at + n].iter().all(|&t| t == types[at])
                && ids.iter().filter(|&&x| x == id).count() == n
        };
        if !run(q_at, Q, 2) || !run(i_at, I, 3) || i_at < q_at + 2 {
            return None;
        }
        let part = |r: std::ops::Range<usize>| -> Vec<(u32, u32)> {
            ids[r.clone()]
                .iter()
                .copied()
                .zip(types[r].iter().copied())
                .collect()
        };
        let layout = Self {
            prefix: part(0..q_at),
            middle: part(q_at + 2..i_at),
            suffix: part(i_at + 3..ids.len()),
            query_type: types[q_at],
            item_type: types[i_at],
        };
        if max_length < layout.added() {
            return None;
        }
        // Lengths around where truncation starts and where both sides are cut; a limit
        // too large to reach (the zeshel loader's "no truncation") is probed short only.
        let m = max_length;
        let mut lens = vec![0, 1, 2, 3];
        if m <= 8192 {
            lens.extend((0..5).map(|k| (m / 2 + k).saturating_sub(2)));
            lens.extend((0..6).map(|k| (m + k).saturating_sub(4)));
        }
        lens.sort_unstable();
        lens.dedup();
        for &a in &lens {
            for &b in &lens {
                let (q, i) = (vec![Q; a], vec![I; b]);
                let theirs = library_join(tokenizer, &q, &i).ok()?;
                let ours = layout.join(&q, &i, max_length);
                if (&theirs.0, &theirs.1) != (&ours.0, &ours.1) {
                    return None;
                }
            }
        }
        Some(layout)
    }

    fn added(&self) -> usize {
        self.prefix.len() + self.middle.len() + self.suffix.len()
    }

    /// The pair as the post-processor makes it, after its longest-first truncation.
    fn join(&self, q: &[u32], i: &[u32], max_length: usize) -> Joined {
        let (nq, ni) = longest_first(q.len(), i.len(), max_length.saturating_sub(self.added()));
        let n = nq + ni + self.added();
        let (mut ids, mut types) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let specials = |part: &[(u32, u32)], ids: &mut Vec<u32>, types: &mut Vec<u32>| {
            for &(id, t) in part {
                ids.push(id);
                types.push(t);
            }
        };
        specials(&self.prefix, &mut ids, &mut types);
        ids.extend_from_slice(&q[..nq]);
        types.extend(std::iter::repeat_n(self.query_type, nq));
        specials(&self.middle, &mut ids, &mut types);
        ids.extend_from_slice(&i[..ni]);
        types.extend(std::iter::repeat_n(self.item_type, ni));
        specials(&self.suffix, &mut ids, &mut types);
        (ids, types, nq, ni)
    }
}

/// tokenizers' `truncate_encodings` with `LongestFirst` on a pair: how many tokens of
/// each side are kept within `max` (the budget left after the special tokens).
fn longest_first(a: usize, b: usize, max: usize) -> (usize, usize) {
    if max == 0 {
        return (0, 0);
    }
    if a + b <= max {
        return (a, b);
    }
    let swap = a > b;
    let mut n1 = a.min(b);
    let mut n2;
    n2 = if n1 > max { n1 } else { n1.max(max - n1) };
    if n1 + n2 > max {
        n1 = max / 2;
        n2 = n1 + max % 2;
    }
    if swap {
        std::mem::swap(&mut n1, &mut n2);
    }
    (n1.min(a), n2.min(b))
}

/// The normaliser settings of a vocab.txt-only BERT tokenizer, read from the
/// `tokenizer_config.json` beside it as transformers reads them (`do_lower_case`,
/// `strip_accents`, `tokenize_chinese_chars`); a key that is absent keeps transformers'
/// default, and `lowercase` is the family's default for `do_lower_case`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordPieceSettings {
    pub lowercase: bool,
    /// `None`: strip accents exactly when lower-casing (BERT's rule).
    pub strip_accents: Option<bool>,
    pub chinese_chars: bool,
}

impl WordPieceSettings {
    pub fn read(dir: &Path, lowercase: bool) -> Result<Self, ModelError> {
        let mut settings = Self {
            lowercase,
            strip_accents: None,
            chinese_chars: true,
        };
        let path = dir.join("tokenizer_config.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(settings),
            Err(source) => return Err(ModelError::Io { path, source }),
        };
        let err = |message: String| ModelError::Tokenizer {
            path: path.clone(),
            message,
        };
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| err(format!("line {} column {}: {e}", e.line(), e.column())))?;
        let flag = |key: &str| -> Result<Option<bool>, ModelError> {
            match json.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
                Some(other) => Err(err(format!("`{key}` is {other}, expected true or false"))),
            }
        };
        if let Some(b) = flag("do_lower_case")? {
            settings.lowercase = b;
        }
        settings.strip_accents = flag("strip_accents")?;
        if let Some(b) = flag("tokenize_chinese_chars")? {
            settings.chinese_chars = b;
        }
        Ok(settings)
    }
}

/// BERT WordPiece from a bare `vocab.txt`, as transformers' BertTokenizerFast builds it.
fn wordpiece_from_vocab(
    vocab: &Path,
    settings: WordPieceSettings,
) -> Result<Tokenizer, ModelError> {
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
            settings.chinese_chars,
            // Spelled out (BERT's rule for `None`), so the tokenizer serialises, and
            // fingerprints, as it always did for uncased folders.
            Some(settings.strip_accents.unwrap_or(settings.lowercase)),
            settings.lowercase,
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
