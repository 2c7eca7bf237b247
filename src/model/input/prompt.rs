//! The input side of LLM rerankers: query and item are written into the model's chat
//! prompt, as the Qwen3-Reranker model card does it:
//!
//! ```text
//! <|im_start|>system\nJudge whether the Document meets the requirements based on the Query
//! and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n
//! <|im_start|>user\n<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}<|im_end|>\n
//! <|im_start|>assistant\n<think>\n\n</think>\n\n
//! ```
//!
//! The middle part is tokenized as one text and truncated from the right (the end of the
//! document goes first) to what the fixed prefix and suffix leave of `max_length`.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::model::input::pair::{EncodedPair, PairEncoder, Truncation};
use crate::model::ModelError;

/// Qwen3-Reranker's system prompt.
pub const QWEN3_RERANKER_SYSTEM: &str = "Judge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".";

/// The instruction the model card uses when none is given.
pub const DEFAULT_INSTRUCTION: &str =
    "Given a web search query, retrieve relevant passages that answer the query";

/// Builds the token ids of one (query, item) prompt.
#[derive(Clone)]
pub struct PromptEncoder {
    /// Truncates the user turn to what the template leaves of `max_length`.
    tokenizer: Tokenizer,
    /// The same without truncation, to count what was cut.
    untruncated: Tokenizer,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    instruction: String,
    max_length: usize,
}

impl PromptEncoder {
    /// Qwen3-Reranker's template over the model's own tokenizer.
    pub fn qwen3(
        tokens: &PairEncoder,
        max_length: usize,
        instruction: Option<String>,
    ) -> Result<Self, ModelError> {
        let prefix_text =
            format!("<|im_start|>system\n{QWEN3_RERANKER_SYSTEM}<|im_end|>\n<|im_start|>user\n");
        let suffix_text = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
        let mut tokenizer = tokens.tokenizer().clone();
        for t in ["<|im_start|>", "<|im_end|>"] {
            if tokenizer.token_to_id(t).is_none() {
                return Err(ModelError::Input {
                    message: format!(
                        "the reranker prompt needs the token {t}, which the tokenizer lacks"
                    ),
                });
            }
        }
        let plain = |t: &Tokenizer, text: &str| -> Result<Vec<u32>, ModelError> {
            Ok(t.encode_fast(text, false)
                .map_err(|e| ModelError::Input {
                    message: format!("cannot tokenize the prompt template: {e}"),
                })?
                .get_ids()
                .to_vec())
        };
        tokenizer
            .with_truncation(None)
            .map_err(|e| ModelError::Input {
                message: e.to_string(),
            })?;
        let untruncated = tokenizer.clone();
        let prefix = plain(&tokenizer, &prefix_text)?;
        let suffix = plain(&tokenizer, suffix_text)?;
        let budget = max_length
            .checked_sub(prefix.len() + suffix.len())
            .filter(|&b| b > 0)
            .ok_or_else(|| ModelError::Input {
                message: format!(
                    "max length {max_length} leaves no room for text: the prompt template alone has {} tokens",
                    prefix.len() + suffix.len()
                ),
            })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: budget,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ModelError::Input {
                message: e.to_string(),
            })?;
        Ok(Self {
            tokenizer,
            untruncated,
            prefix,
            suffix,
            instruction: instruction.unwrap_or_else(|| DEFAULT_INSTRUCTION.to_string()),
            max_length,
        })
    }

    pub fn instruction(&self) -> &str {
        &self.instruction
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The user turn's text.
    pub fn format(&self, query: &str, item: &str) -> String {
        format!(
            "<Instruct>: {}\n<Query>: {query}\n<Document>: {item}",
            self.instruction
        )
    }

    /// `prefix + tokenize(format(query, item)) + suffix`, truncated to `max_length`.
    pub fn encode(&self, query: &str, item: &str) -> Result<EncodedPair, ModelError> {
        let text = self.format(query, item);
        let encode = |t: &Tokenizer| {
            t.encode_fast(text.as_str(), true)
                .map_err(|e| ModelError::Input {
                    message: format!("cannot tokenize prompt: {e}"),
                })
        };
        let enc = encode(&self.tokenizer)?;
        let budget = self.max_length - self.prefix.len() - self.suffix.len();
        // The document is last, so what truncation removed is the document's tail.
        let cut = if enc.len() >= budget {
            encode(&self.untruncated)?.len().saturating_sub(enc.len())
        } else {
            0
        };
        let mut ids = Vec::with_capacity(self.prefix.len() + enc.len() + self.suffix.len());
        ids.extend_from_slice(&self.prefix);
        ids.extend_from_slice(enc.get_ids());
        ids.extend_from_slice(&self.suffix);
        let n = ids.len();
        Ok(EncodedPair {
            ids,
            type_ids: vec![0; n],
            attention: vec![1; n],
            truncation: Truncation {
                query_tokens_cut: 0,
                item_tokens_cut: cut,
            },
        })
    }
}
