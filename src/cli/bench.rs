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
    /// Also write each case's scores (logits, in input order) to this JSON file: the GPU
    /// parity records are made this way.
    #[arg(long)]
    pub scores_out: Option<PathBuf>,
    /// Largest batch, in pairs (default: 128 on the CPU, 1,024 on a GPU).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Largest batch, in padded tokens (default: 8,192 on the CPU, 65,536 on a GPU).
    #[arg(long)]
    pub batch_tokens: Option<usize>,
}

impl BenchArgs {
    /// The defaults unless overridden; a GPU replaces the CPU defaults by its own.
    fn score_options(&self, on_gpu: bool) -> ScoreOptions {
        let d = if on_gpu {
            ScoreOptions::GPU
        } else {
            ScoreOptions::default()
        };
        ScoreOptions {
            max_batch_size: self.batch_size.unwrap_or(d.max_batch_size),
            max_batch_tokens: self.batch_tokens.unwrap_or(d.max_batch_tokens),
        }
    }
}

#[derive(Serialize)]
struct CaseResult {
    pairs: usize,
    mean_tokens: f64,
    pairs_per_second: f64,
    tokenize_seconds: f64,
    /// Scoring pairs tokenised beforehand (the best repeat): the model's own rate,
    /// batching and transfers included.
    encoded_pairs_per_second: f64,
    best_seconds: f64,
}

/// The fastest of `repeats` (at least one) timed runs of `f`, in seconds.
fn best_seconds<E>(repeats: usize, mut f: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
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
    if let Some((name, _)) = cases.iter().find(|(_, pairs)| pairs.is_empty()) {
        anyhow::bail!(
            "{}: case `{name}` has no pairs (a rate needs at least one)",
            args.pairs.display()
        );
    }
    if let Some(p) = &args.scores_out {
        super::check_writable(p)?;
    }
    let mut results = BTreeMap::new();
    let mut all_scores: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
    for (name, pairs) in &cases {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(q, i)| (q.as_str(), i.as_str()))
            .collect();
        let opts = args.score_options(model.info().device != "cpu");
        // Warm-up: one batch of every length, so allocation, thread start-up and (on a
        // GPU) kernel loading and cuBLAS heuristics stay out of the timing.
        let warm_n = refs.len().min(opts.max_batch_size.max(32));
        model.score_pairs(
            &refs[..warm_n],
            &opts,
            &mut |_, _| ControlFlow::Continue(()),
        )?;
        // Tokenisation alone, reported beside the end-to-end figure.
        let start = Instant::now();
        let encoded = model.encode_pairs(&refs)?;
        let tokenize_seconds = start.elapsed().as_secs_f64();
        let mean_tokens = encoded.iter().map(|p| p.token_count() as f64).sum::<f64>()
            / encoded.len().max(1) as f64;
        let best_encoded = best_seconds(args.repeats, || {
            model.score_encoded(&encoded, &opts, &mut |_, _| ControlFlow::Continue(()))
        })?;
        drop(encoded);
        let mut scores = vec![f32::NAN; refs.len()];
        // Timed end to end (tokenization included), as the PyTorch side is.
        let best = best_seconds(args.repeats, || {
            model.score_pairs(&refs, &opts, &mut |batch, _| {
                for &(i, s) in batch {
                    scores[i] = s.logit;
                }
                ControlFlow::Continue(())
            })
        })?;
        all_scores.insert(name, scores);
        results.insert(
            name.clone(),
            CaseResult {
                pairs: pairs.len(),
                mean_tokens,
                pairs_per_second: pairs.len() as f64 / best,
                tokenize_seconds,
                encoded_pairs_per_second: pairs.len() as f64 / best_encoded,
                best_seconds: best,
            },
        );
    }
    if let Some(p) = &args.scores_out {
        let text = serde_json::to_string(&all_scores)?;
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.format == "json" {
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<10} {:>7} {:>11} {:>10} {:>14} {:>15}",
            "case", "pairs", "tokens/pair", "pairs/s", "tokenise only", "model only"
        )?;
        for (name, r) in &results {
            writeln!(
                out,
                "{:<10} {:>7} {:>11.0} {:>10.1} {:>14.1} {:>15.1}",
                name,
                r.pairs,
                r.mean_tokens,
                r.pairs_per_second,
                r.pairs as f64 / r.tokenize_seconds,
                r.encoded_pairs_per_second
            )?;
        }
    }
    Ok(())
}
