//! `relex score --model <folder>` end to end for each tiny model family: the binary
//! loads the folder, and its scores are the library's (which family_parity.rs checks
//! against transformers).

use std::process::Command;

use relex::model::{CrossEncoder, LoadOptions, ScoreOptions};

const ITEMS: [&str; 5] = [
    "a cross-encoder scores a query and a document jointly",
    "sourdough bread needs a starter",
    "the river bank was muddy",
    "a bank lends money",
    "rockets launch into orbit",
];

#[test]
fn score_runs_every_family_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.jsonl");
    let lines: Vec<String> = ITEMS
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{{\"id\": \"d{i}\", \"text\": \"{t}\"}}"))
        .collect();
    std::fs::write(&items, lines.join("\n")).unwrap();
    for folder in [
        "tests/data/tiny-xlmr",
        "tests/data/tiny-modernbert",
        "tests/data/tiny-qwen3",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_relex"))
            .args([
                "score",
                "--model",
                folder,
                "-i",
                items.to_str().unwrap(),
                "-q",
                "river bank",
                "--format",
                "json",
            ])
            .output()
            .expect("relex runs");
        assert!(
            out.status.success(),
            "{folder}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.len(), ITEMS.len(), "{folder}");
        let model = CrossEncoder::load(folder, &LoadOptions::default()).unwrap();
        let want = model
            .score("river bank", &ITEMS, &ScoreOptions::default())
            .unwrap();
        for r in &rows {
            let i: usize = r["id"].as_str().unwrap()[1..].parse().unwrap();
            let got = r["score"].as_f64().unwrap() as f32;
            assert!(
                (got - want[i].logit).abs() < 1e-5,
                "{folder} d{i}: {got} vs {}",
                want[i].logit
            );
        }
        let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "{folder}: {scores:?}"
        );
    }
}
