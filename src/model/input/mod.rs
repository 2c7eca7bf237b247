//! Text to ids: the pair encoding `[CLS] query [SEP] item [SEP]` ([`pair`]), its
//! WordPiece fast path ([`wordpiece`]), LLM rerankers' chat prompts ([`prompt`]) and
//! the `[mention]` markup typed queries carry ([`mention`]).

pub mod mention;
pub mod pair;
pub mod prompt;
pub mod wordpiece;
