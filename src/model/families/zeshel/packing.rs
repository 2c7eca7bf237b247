//! The reference code's input packing for its zero-shot entity-linking models: the
//! query side (left context, marked mention, right context) cut to a 128-token window
//! around the mention, then each item appended after it (see the parent module docs).

use super::*;

/// The packing trims contexts itself (keeping the *end* of the left context), so the
/// tokenizer must never truncate.
pub(super) const NO_TRUNCATION: usize = 1 << 24;

/// Token ids the packing inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SpecialIds {
    cls: u32,
    sep: u32,
    pad: u32,
    start: u32,
    end: u32,
    title: u32,
}

impl SpecialIds {
    pub(super) fn of(tokens: &PairEncoder) -> Result<Self, ModelError> {
        let id = |t: &str| {
            tokens.token_to_id(t).ok_or_else(|| ModelError::Input {
                message: format!(
                    "the zeshel packing needs the token {t}, which the tokenizer's vocabulary lacks \
                     (the reference models use bert-base-uncased's)"
                ),
            })
        };
        Ok(Self {
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            pad: tokens.pad_id(),
            start: id(ENT_START_TAG)?,
            end: id(ENT_END_TAG)?,
            title: id(ENT_TITLE_TAG)?,
        })
    }
}

/// A query side packed once per query: `MAX_INPUT_LEN` ids, padded with 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeshelContext {
    pub ids: Vec<u32>,
    /// Query pieces (context, mention or markers) the 128-token window dropped.
    pub query_tokens_cut: usize,
    special: SpecialIds,
}

/// Packs the query side once (see the module docs for the query format).
pub fn encode_context(tokens: &PairEncoder, query: &str) -> Result<ZeshelContext, ModelError> {
    let special = SpecialIds::of(tokens)?;
    let (left, mention, right) = split_query(query)?;
    // utils/data_process.py load_mentions: "LOWERCASE EVERYTHING !"
    let mention = mention.trim().to_lowercase();
    let mut mention_ids = Vec::new();
    if !mention.is_empty() {
        mention_ids.push(special.start);
        mention_ids.extend(wordpieces(tokens, &mention)?);
        mention_ids.push(special.end);
    }
    let left = wordpieces(tokens, &left.to_lowercase())?;
    let right = wordpieces(tokens, &right.to_lowercase())?;
    let (ids, query_tokens_cut) = pack_context(
        &left,
        &mention_ids,
        &right,
        special.cls,
        special.sep,
        MAX_INPUT_LEN,
    );
    Ok(ZeshelContext {
        ids,
        query_tokens_cut,
        special,
    })
}

/// Appends one item (`title [unused2] description`) to a packed query side.
pub fn encode_pair(
    tokens: &PairEncoder,
    ctx: &ZeshelContext,
    item: &str,
) -> Result<EncodedPair, ModelError> {
    let sp = ctx.special;
    let (title, description) = split_item(item);
    // get_candidate_representation: title + [title_tag] + description, cut to max - 2.
    let mut cand = wordpieces(tokens, title)?;
    cand.push(sp.title);
    cand.extend(wordpieces(tokens, description)?);
    let full = cand.len();
    cand.truncate(MAX_LABEL_LEN - 2);
    let item_tokens_cut = full - cand.len();

    // create_input_label_pair: context ids + candidate ids without their [CLS].
    let mut ids = Vec::with_capacity(PACKED_LEN);
    ids.extend_from_slice(&ctx.ids);
    ids.extend_from_slice(&cand);
    ids.push(sp.sep);
    ids.resize(PACKED_LEN, 0);
    // to_cross_bert_input(first_segment_end = max_input_len)
    let type_ids = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| u32::from(i >= MAX_INPUT_LEN && id > 0))
        .collect();
    let attention = ids.iter().map(|&id| u8::from(id != sp.pad)).collect();
    Ok(EncodedPair {
        ids,
        type_ids,
        attention,
        truncation: Truncation {
            query_tokens_cut: ctx.query_tokens_cut,
            item_tokens_cut,
        },
    })
}

/// `left [unused0] mention [unused1] right` → the three parts; no markers → all mention.
pub(super) fn split_query(query: &str) -> Result<(&str, &str, &str), ModelError> {
    match query.find(ENT_START_TAG) {
        None => {
            if query.contains(ENT_END_TAG) {
                return Err(ModelError::Input {
                    message: format!(
                        "the query has the mention end marker {ENT_END_TAG} without a start marker {ENT_START_TAG}"
                    ),
                });
            }
            Ok(("", query, ""))
        }
        Some(s) => {
            let rest = &query[s + ENT_START_TAG.len()..];
            let e = rest.find(ENT_END_TAG).ok_or_else(|| ModelError::Input {
                message: format!(
                    "the query has the mention start marker {ENT_START_TAG} but no end marker {ENT_END_TAG} after it"
                ),
            })?;
            Ok((&query[..s], &rest[..e], &rest[e + ENT_END_TAG.len()..]))
        }
    }
}

/// `title [unused2] description` → (title, description); no marker → empty title.
pub(super) fn split_item(item: &str) -> (&str, &str) {
    match item.find(ENT_TITLE_TAG) {
        Some(p) => (&item[..p], &item[p + ENT_TITLE_TAG.len()..]),
        None => ("", item),
    }
}

/// WordPiece ids of `text` without special tokens (`tokenizer.tokenize` + ids).
pub(super) fn wordpieces(tokens: &PairEncoder, text: &str) -> Result<Vec<u32>, ModelError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    tokens.ids(text, &format!("`{text}`"))
}

/// Python's `a[start:end]` for a list.
pub(super) fn py_slice<T>(a: &[T], start: Option<isize>, end: Option<isize>) -> &[T] {
    let n = a.len() as isize;
    let norm = |i: isize| if i < 0 { (i + n).max(0) } else { i.min(n) };
    let s = start.map_or(0, norm);
    let e = end.map_or(n, norm);
    if s >= e {
        &[]
    } else {
        &a[s as usize..e as usize]
    }
}

/// `get_context_representation` from WordPiece ids (`mention` already holds its markers):
/// returns the `max_len` ids (padded with 0) and how many pieces were cut.
pub(super) fn pack_context(
    left: &[u32],
    mention: &[u32],
    right: &[u32],
    cls: u32,
    sep: u32,
    max_len: usize,
) -> (Vec<u32>, usize) {
    let max = max_len as isize;
    let m = mention.len() as isize;
    // Python's // floors; div_euclid by a positive divisor does too.
    let mut left_quota = (max - m).div_euclid(2) - 1;
    let mut right_quota = max - m - left_quota - 2;
    let (left_add, right_add) = (left.len() as isize, right.len() as isize);
    if left_add <= left_quota {
        if right_add > right_quota {
            right_quota += left_quota - left_add;
        }
    } else if right_add <= right_quota {
        left_quota += right_quota - right_add;
    }
    let mut ids = Vec::with_capacity(left.len() + mention.len() + right.len() + 2);
    ids.push(cls);
    // context_left[-left_quota:] + mention_tokens + context_right[:right_quota]
    ids.extend_from_slice(py_slice(left, Some(-left_quota), None));
    ids.extend_from_slice(mention);
    ids.extend_from_slice(py_slice(right, None, Some(right_quota)));
    ids.push(sep);
    let full = left.len() + mention.len() + right.len() + 2;
    ids.truncate(max_len);
    let cut = full - ids.len();
    ids.resize(max_len, 0);
    (ids, cut)
}
