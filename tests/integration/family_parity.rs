//! Parity of relex's XLM-RoBERTa, ModernBERT and Qwen3-Reranker ports with transformers,
//! on tiny random models and golden numbers written by `scripts/make_family_parity.py`:
//! tokenization id for id, scores to 1e-4 one pair at a time and in padded batches.

use std::ops::ControlFlow;
use std::path::Path;

use relex::model::{CrossEncoder, Family, LoadOptions, Pooling, ScoreOptions};
use serde::Deserialize;

const TOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Golden {
    pairs: Vec<GoldenPair>,
}

#[derive(Deserialize)]
struct GoldenPair {
    query: String,
    item: String,
    input_ids: Vec<u32>,
    score: f32,
    batch_score: f32,
    truncated: bool,
    cls_score: Option<f32>,
    probability: Option<f64>,
}

fn golden(name: &str) -> Golden {
    let text = std::fs::read_to_string(format!("tests/data/tiny_{name}_golden.json"))
        .expect("golden file");
    serde_json::from_str(&text).expect("golden json")
}

fn load(dir: &str, opts: &LoadOptions) -> CrossEncoder {
    CrossEncoder::load(dir, opts).unwrap_or_else(|e| panic!("{dir} loads: {e}"))
}

fn check_tokenization(m: &CrossEncoder, g: &Golden) {
    for p in &g.pairs {
        let enc = m.encode(&p.query, &[p.item.as_str()]).unwrap().remove(0);
        assert_eq!(enc.ids, p.input_ids, "ids for {:?} / {:?}", p.query, p.item);
        assert_eq!(
            enc.truncation.any(),
            p.truncated,
            "truncation of {:?}",
            p.item
        );
        if p.truncated {
            assert!(enc.truncation.item_tokens_cut > 0);
        }
    }
    assert!(
        g.pairs.iter().any(|p| p.truncated),
        "fixture covers truncation"
    );
}

/// Max |relex - golden| one pair at a time.
fn single_error(m: &CrossEncoder, g: &Golden, pick: impl Fn(&GoldenPair) -> f32) -> f32 {
    let opts = ScoreOptions {
        max_batch_size: 1,
        ..ScoreOptions::default()
    };
    g.pairs
        .iter()
        .map(|p| {
            let s = m.score(&p.query, &[p.item.as_str()], &opts).unwrap()[0];
            (s.logit - pick(p)).abs()
        })
        .fold(0f32, f32::max)
}

/// Max |relex - golden| with every pair scored in padded batches of mixed lengths
/// (and mixed queries), against both transformers' single and batched numbers.
fn batch_error(m: &CrossEncoder, g: &Golden, pick: impl Fn(&GoldenPair) -> f32) -> f32 {
    let pairs: Vec<(&str, &str)> = g
        .pairs
        .iter()
        .map(|p| (p.query.as_str(), p.item.as_str()))
        .collect();
    let encoded = m.encode_pairs(&pairs).unwrap();
    let mut scores = vec![f32::NAN; pairs.len()];
    let mut batches = 0;
    m.score_encoded(&encoded, &ScoreOptions::default(), &mut |batch, _| {
        batches += 1;
        assert!(batch.len() > 1 || pairs.len() == 1);
        for &(i, s) in batch {
            scores[i] = s.logit;
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    scores
        .iter()
        .zip(&g.pairs)
        .map(|(s, p)| (s - pick(p)).abs().max((s - p.batch_score).abs()))
        .fold(0f32, f32::max)
}

fn check_family(dir: &str, name: &str, family: Family) -> CrossEncoder {
    let g = golden(name);
    let m = load(dir, &LoadOptions::default());
    assert_eq!(m.info().family, family);
    check_tokenization(&m, &g);
    let single = single_error(&m, &g, |p| p.score);
    let batched = batch_error(&m, &g, |p| p.score);
    eprintln!("{name}: max abs error vs transformers: single {single:e}, batched {batched:e}");
    assert!(single <= TOL, "{name} single: {single}");
    assert!(batched <= TOL, "{name} batched: {batched}");
    m
}

#[test]
fn xlm_roberta_matches_transformers() {
    let m = check_family("tests/data/tiny-xlmr", "xlmr", Family::XlmRoberta);
    assert_eq!(m.info().pooling, Pooling::ClsPooler);
    assert_eq!(m.info().max_length, 128);
}

#[test]
fn modernbert_matches_transformers_with_mean_and_cls_pooling() {
    let m = check_family(
        "tests/data/tiny-modernbert",
        "modernbert",
        Family::ModernBert,
    );
    assert_eq!(m.info().pooling, Pooling::Mean);
    let g = golden("modernbert");
    let cls = load(
        "tests/data/tiny-modernbert",
        &LoadOptions {
            pooling: Some(Pooling::Cls),
            ..LoadOptions::default()
        },
    );
    let err = single_error(&cls, &g, |p| p.cls_score.unwrap());
    eprintln!("modernbert cls pooling: max abs error {err:e}");
    assert!(err <= TOL, "cls: {err}");
}

#[test]
fn modernbert_reads_the_hub_style_config_too() {
    // Hub configs predate `layer_types` / `rope_parameters`.
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(
            Path::new("tests/data/tiny-modernbert").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string("tests/data/tiny-modernbert/config.json").unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    let o = cfg.as_object_mut().unwrap();
    o.remove("layer_types");
    o.remove("rope_parameters");
    o.insert("global_rope_theta".into(), 160000.0.into());
    o.insert("local_rope_theta".into(), 10000.0.into());
    o.insert("global_attn_every_n_layers".into(), 3.into());
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let m = load(dir.path().to_str().unwrap(), &LoadOptions::default());
    let err = single_error(&m, &golden("modernbert"), |p| p.score);
    assert!(err <= TOL, "{err}");
}

#[test]
fn qwen3_reranker_matches_the_model_card() {
    let m = check_family("tests/data/tiny-qwen3", "qwen3", Family::Qwen3Reranker);
    assert_eq!(m.info().pooling, Pooling::LastToken);
    // The activation is the model card's probability softmax([no, yes])[yes].
    let g = golden("qwen3");
    let p = &g.pairs[0];
    let s = m
        .score(&p.query, &[p.item.as_str()], &ScoreOptions::default())
        .unwrap()[0];
    assert!((s.activation - p.probability.unwrap()).abs() < 1e-5);
    let prompt = m.prompt().unwrap();
    assert!(prompt
        .format("q", "d")
        .starts_with("<Instruct>: Given a web search query"));
}

fn copy_folder(from: &str, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn load_err(dir: &Path) -> String {
    CrossEncoder::load(dir.to_str().unwrap(), &LoadOptions::default())
        .err()
        .expect("load fails")
        .to_string()
}

#[test]
fn layer_count_disagreeing_with_the_weights_is_an_error() {
    for (src, key, real, prefix) in [
        (
            "tests/data/tiny-ce",
            "num_hidden_layers",
            2,
            "bert.encoder.layer.",
        ),
        (
            "tests/data/tiny-xlmr",
            "num_hidden_layers",
            2,
            "roberta.encoder.layer.",
        ),
        (
            "tests/data/tiny-modernbert",
            "num_hidden_layers",
            4,
            "model.layers.",
        ),
        (
            "tests/data/tiny-qwen3",
            "num_hidden_layers",
            3,
            "model.layers.",
        ),
    ] {
        for claimed in [real - 1, real + 2] {
            let dir = tempfile::tempdir().unwrap();
            copy_folder(src, dir.path());
            let path = dir.path().join("config.json");
            let mut cfg: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            cfg[key] = claimed.into();
            if let Some(t) = cfg.get_mut("layer_types") {
                *t = serde_json::Value::Array(
                    (0..claimed)
                        .map(|i| {
                            if i % 3 == 0 {
                                "full_attention"
                            } else {
                                "sliding_attention"
                            }
                            .into()
                        })
                        .collect(),
                );
            }
            std::fs::write(&path, cfg.to_string()).unwrap();
            let err = load_err(dir.path());
            assert!(
                err.contains("config.json")
                    && err.contains(&format!("num_hidden_layers is {claimed}"))
                    && err.contains(&format!("holds {real} layers"))
                    && err.contains("model.safetensors")
                    && err.contains(prefix),
                "{src}: {err}"
            );
        }
    }
}

#[test]
fn unsupported_architectures_are_named_with_the_supported_list() {
    let dir = tempfile::tempdir().unwrap();
    copy_folder("tests/data/tiny-xlmr", dir.path());
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "XLMRobertaForSequenceClassification",
            "DebertaV2ForSequenceClassification",
        ),
    )
    .unwrap();
    let err = load_err(dir.path());
    for needle in [
        "config.json",
        "\"DebertaV2ForSequenceClassification\"",
        "BertForSequenceClassification",
        "XLMRobertaForSequenceClassification",
        "ModernBertForSequenceClassification",
        "Qwen3ForCausalLM",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
}
