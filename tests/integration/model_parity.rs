//! Parity of relex's candle cross-encoder with transformers, on golden numbers recorded
//! by `tests/data/generators/make_parity_data.py` (tiny BERT, MiniLM vocabulary, f16 weights).

use std::path::Path;

use relex::model::{CrossEncoder, LoadOptions, ScoreOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    pairs: Vec<GoldenPair>,
    batch_first16_scores: Vec<f32>,
}

#[derive(Deserialize)]
struct GoldenPair {
    query: String,
    item: String,
    score: f32,
    input_ids: Vec<u32>,
    token_type_ids: Vec<u32>,
    truncated: bool,
}

fn golden() -> Golden {
    let text = std::fs::read_to_string("tests/data/tiny_ce_golden.json").expect("golden file");
    serde_json::from_str(&text).expect("golden json")
}

fn model() -> CrossEncoder {
    CrossEncoder::load("tests/data/tiny-ce", &LoadOptions::default()).expect("tiny model loads")
}

const TOL: f32 = 1e-4;

#[test]
fn tokenization_matches_transformers_id_for_id() {
    let g = golden();
    let m = model();
    for p in &g.pairs {
        let enc = m.encode(&p.query, &[p.item.as_str()]).unwrap().remove(0);
        assert_eq!(enc.ids, p.input_ids, "ids for {:?} / {:?}", p.query, p.item);
        assert_eq!(enc.type_ids, p.token_type_ids, "type ids for {:?}", p.query);
        assert_eq!(
            enc.truncation.any(),
            p.truncated,
            "truncation flag for {:?}",
            p.item
        );
        assert_eq!(enc.token_count(), p.input_ids.len());
    }
    assert!(
        g.pairs.iter().any(|p| p.truncated),
        "fixture covers truncation"
    );
}

#[test]
fn scores_match_one_pair_at_a_time() {
    let g = golden();
    let m = model();
    let opts = ScoreOptions {
        max_batch_size: 1,
        ..ScoreOptions::default()
    };
    let mut worst = 0f32;
    for p in &g.pairs {
        let s = m.score(&p.query, &[p.item.as_str()], &opts).unwrap()[0];
        worst = worst.max((s.logit - p.score).abs());
    }
    eprintln!("max abs error vs transformers: {worst:e}");
    assert!(worst <= TOL, "max abs error {worst}");
}

#[test]
fn scores_match_in_padded_batches() {
    let g = golden();
    let m = model();
    // Group by query so that each call is one padded batch of mixed lengths.
    let mut worst = 0f32;
    let mut queries: Vec<&str> = g.pairs.iter().map(|p| p.query.as_str()).collect();
    queries.dedup();
    for q in queries {
        let group: Vec<&GoldenPair> = g.pairs.iter().filter(|p| p.query == q).collect();
        let items: Vec<&str> = group.iter().map(|p| p.item.as_str()).collect();
        let scores = m.score(q, &items, &ScoreOptions::default()).unwrap();
        for (s, p) in scores.iter().zip(&group) {
            worst = worst.max((s.logit - p.score).abs());
        }
    }
    eprintln!("max abs error vs transformers: {worst:e}");
    assert!(worst <= TOL, "max abs error {worst}");
    // The first 16 pairs (several queries, very different lengths) as ONE padded batch
    // in relex, against transformers' scores for the same padded batch.
    let pairs: Vec<(&str, &str)> = g
        .pairs
        .iter()
        .take(16)
        .map(|p| (p.query.as_str(), p.item.as_str()))
        .collect();
    let encoded = m.encode_pairs(&pairs).unwrap();
    let lengths: Vec<usize> = encoded.iter().map(|e| e.token_count()).collect();
    assert!(
        lengths.iter().max() > lengths.iter().min(),
        "fixture mixes lengths: {lengths:?}"
    );
    let one_batch = ScoreOptions {
        max_batch_tokens: usize::MAX,
        max_batch_size: 16,
    };
    let mut batches = 0;
    let mut got = vec![f32::NAN; pairs.len()];
    m.score_encoded(&encoded, &one_batch, &mut |batch, _| {
        batches += 1;
        for &(i, s) in batch {
            got[i] = s.logit;
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(batches, 1, "the 16 pairs were scored as one padded batch");
    assert_eq!(g.batch_first16_scores.len(), 16);
    let worst_batch = got
        .iter()
        .zip(&g.batch_first16_scores)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("max abs error vs transformers' padded batch: {worst_batch:e}");
    assert!(worst_batch <= TOL, "max abs error {worst_batch}");
}

#[test]
fn truncation_is_reported_with_its_side() {
    let g = golden();
    let m = model();
    let long = g
        .pairs
        .iter()
        .find(|p| p.truncated && p.query.len() < 100)
        .unwrap();
    let s = m
        .score(&long.query, &[long.item.as_str()], &ScoreOptions::default())
        .unwrap()[0];
    assert!(s.truncation.item_tokens_cut > 0);
    assert_eq!(s.truncation.query_tokens_cut, 0);
    assert_eq!(s.tokens, 512);
    assert_eq!(s.truncation.side(), "item");
}

#[test]
fn activation_is_sigmoid_of_the_logit() {
    let m = model();
    let s = m.score("a", &["b"], &ScoreOptions::default()).unwrap()[0];
    let expect = 1.0 / (1.0 + (-(s.logit as f64)).exp());
    assert!((s.activation - expect).abs() < 1e-12);
}

#[test]
fn bad_model_folders_name_the_file_or_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for f in ["config.json", "vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(Path::new("tests/data/tiny-ce").join(f), d.join(f)).unwrap();
    }
    // no weights at all
    let err = CrossEncoder::load(d.to_str().unwrap(), &LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    // corrupt weights
    std::fs::write(d.join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = CrossEncoder::load(d.to_str().unwrap(), &LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("safetensors"),
        "{err}"
    );
    // a config with the wrong hidden size: the first tensor that disagrees is named
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(
        d.join("config.json"),
        cfg.replace("\"hidden_size\": 32", "\"hidden_size\": 48"),
    )
    .unwrap();
    std::fs::copy(
        "tests/data/tiny-ce/model.safetensors",
        d.join("model.safetensors"),
    )
    .unwrap();
    let err = CrossEncoder::load(d.to_str().unwrap(), &LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("embeddings.word_embeddings.weight") && err.contains("[30522, 32]"),
        "{err}"
    );
    // not BERT
    std::fs::write(d.join("config.json"), cfg.replace("\"bert\"", "\"gpt2\"")).unwrap();
    let err = CrossEncoder::load(d.to_str().unwrap(), &LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("config.json") && err.contains("gpt2"), "{err}");
}

#[derive(Deserialize)]
struct CasedGolden {
    cased_words: Vec<String>,
    first_unused: usize,
    tokenizer_config: serde_json::Value,
    pairs: Vec<CasedPair>,
}

#[derive(Deserialize)]
struct CasedPair {
    query: String,
    item: String,
    input_ids: Vec<u32>,
    score: f32,
}

/// A BERT folder with only a vocab.txt reads `do_lower_case` (and the accent rule that
/// follows it) from tokenizer_config.json, as transformers does: the folder of
/// `tests/data/generators/make_cased_vocab.py` (tiny-ce with cased words in its vocabulary
/// and `do_lower_case: false`) is rebuilt here and scored against transformers' numbers.
#[test]
fn cased_vocab_txt_folder_matches_transformers() {
    let text = std::fs::read_to_string("tests/data/tiny_ce_cased_golden.json").expect("golden");
    let g: CasedGolden = serde_json::from_str(&text).expect("golden json");
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new("tests/data/tiny-ce");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut vocab: Vec<String> = std::fs::read_to_string(src.join("vocab.txt"))
        .unwrap()
        .split('\n')
        .map(str::to_string)
        .collect();
    for (i, word) in g.cased_words.iter().enumerate() {
        let old = format!("[unused{}]", g.first_unused + i);
        let at = vocab.iter().position(|l| *l == old).expect("unused slot");
        vocab[at] = word.clone();
    }
    std::fs::write(dir.path().join("vocab.txt"), vocab.join("\n")).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        g.tokenizer_config.to_string(),
    )
    .unwrap();
    let m = CrossEncoder::load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    let mut cased_ids_differ = false;
    for p in &g.pairs {
        let enc = m.encode(&p.query, &[p.item.as_str()]).unwrap().remove(0);
        assert_eq!(enc.ids, p.input_ids, "ids for {:?} / {:?}", p.query, p.item);
        let lower = m
            .encode(&p.query.to_lowercase(), &[p.item.to_lowercase().as_str()])
            .unwrap()
            .remove(0);
        cased_ids_differ |= lower.ids != enc.ids;
        let s = m
            .score(&p.query, &[p.item.as_str()], &ScoreOptions::default())
            .unwrap()[0]
            .logit;
        assert!(
            (s - p.score).abs() <= TOL,
            "{:?} / {:?}: relex {s}, transformers {}",
            p.query,
            p.item,
            p.score
        );
    }
    assert!(cased_ids_differ, "the fixture exercises case");
}
