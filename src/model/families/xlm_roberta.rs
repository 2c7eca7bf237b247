//! XLM-RoBERTa cross-encoders (`XLMRobertaForSequenceClassification`, e.g.
//! bge-reranker-v2-m3): BERT's post-norm encoder ([`super::bert`]) with RoBERTa's
//! position ids, its weights under `roberta.`, and `RobertaClassificationHead`
//! (`out_proj(tanh(dense(<s>)))`, modeling_roberta.py) in place of pooler + classifier.
//! This file holds what differs; the loader is BERT's.

use super::bert::{HeadPlan, Positions};
use crate::model::config::BertConfig;
use crate::model::weights::Weights;

/// Where XLMRobertaForSequenceClassification saves its encoder.
pub(crate) const WEIGHT_PREFIX: &str = "roberta.";

/// RoBERTa's position ids count from `pad_token_id` + 1 (`create_position_ids_from_input_ids`).
pub(crate) fn positions(cfg: &BertConfig) -> Positions {
    Positions::Roberta {
        padding_idx: cfg.pad_token_id,
    }
}

/// Whether the weights hold `RobertaClassificationHead` (read with an empty prefix).
pub(crate) fn has_classification_head(w: &Weights) -> bool {
    w.contains("classifier.out_proj.weight")
}

/// modeling_roberta.py `RobertaClassificationHead`: `out_proj(tanh(dense(<s>)))`.
pub(crate) fn head_plan(label: usize) -> HeadPlan {
    HeadPlan::Classifier {
        pooler: Some("classifier.dense"),
        classifier: "classifier.out_proj",
        label,
    }
}
