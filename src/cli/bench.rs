//! `relex bench`: pairs per second of the cross-encoder on given pair sets, for
//! comparison with PyTorch by `scripts/bench_vs_pytorch.py` in the same run.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::ModelArgs;
use crate::model::ScoreOptions;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// JSON object: case name → list of [query, item] pairs.
    #[arg(long)]
    pub pairs: PathBuf,
    /// Timed repetitions per case (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Serialize)]
struct CaseResult {
    pairs: usize,
    mean_tokens: f64,
    pairs_per_second: f64,
    tokenize_seconds: f64,
    best_seconds: f64,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let text = std::fs::read_to_string(&args.pairs)
        .with_context(|| format!("reading {}", args.pairs.display()))?;
    let cases: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: expected {{case: [[query, item], ...]}}",
                args.pairs.display()
            )
        })?;
    let mut results = BTreeMap::new();
    for (name, pairs) in &cases {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(q, i)| (q.as_str(), i.as_str()))
            .collect();
        // Warm-up: one small batch, so allocation and thread start-up stay out of the timing.
        let warm = model.encode_pairs(&refs[..refs.len().min(32)])?;
        model.score_encoded(&warm, &ScoreOptions::default(), &mut |_, _| {
            ControlFlow::Continue(())
        })?;
        let mut best = f64::INFINITY;
        let mut tokenize_seconds = 0.0;
        let mut mean_tokens = 0.0;
        for _ in 0..args.repeats.max(1) {
            // Timed end to end (tokenization included), as the PyTorch side is.
            let start = Instant::now();
            let encoded = model.encode_pairs(&refs)?;
            tokenize_seconds = start.elapsed().as_secs_f64();
            model.score_encoded(&encoded, &ScoreOptions::default(), &mut |_, _| {
                ControlFlow::Continue(())
            })?;
            best = best.min(start.elapsed().as_secs_f64());
            mean_tokens = encoded.iter().map(|p| p.token_count() as f64).sum::<f64>()
                / encoded.len().max(1) as f64;
        }
        results.insert(
            name.clone(),
            CaseResult {
                pairs: pairs.len(),
                mean_tokens,
                pairs_per_second: pairs.len() as f64 / best,
                tokenize_seconds,
                best_seconds: best,
            },
        );
    }
    let mut out = std::io::stdout().lock();
    if args.format == "json" {
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<10} {:>7} {:>11} {:>10}",
            "case", "pairs", "tokens/pair", "pairs/s"
        )?;
        for (name, r) in &results {
            writeln!(
                out,
                "{:<10} {:>7} {:>11.0} {:>10.1}",
                name, r.pairs, r.mean_tokens, r.pairs_per_second
            )?;
        }
    }
    Ok(())
}
