//! `relex score`: one query against every item, exact cross-encoder scores, ranked.

use std::io::Write;
use std::ops::ControlFlow;

use anyhow::Context;
use clap::ValueEnum;
use serde::Serialize;

use super::{ItemArgs, ModelArgs, Progress};
use crate::items::Format;
use crate::model::ScoreOptions;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub items: ItemArgs,
    /// The query. For models with mention markers, put the mention in [square brackets].
    #[arg(long, short = 'q')]
    pub query: String,
    /// Print only the best K items (default: all).
    #[arg(long, short = 'k')]
    pub top: Option<usize>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Upper bound on padded tokens per batch.
    #[arg(long, default_value_t = ScoreOptions::default().max_batch_tokens)]
    pub batch_tokens: usize,
}

pub(crate) fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct Row<'a> {
    rank: usize,
    id: &'a str,
    score: f32,
    activation: f64,
    tokens: usize,
    truncated: &'static str,
}

pub fn run(args: &ScoreArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let list = args.items.load()?;
    let texts: Vec<String> = model.info().item_texts(&list.items);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for w in crate::model::query_warnings(&args.query) {
        eprintln!("warning: {w}");
    }
    let pairs = model.encode(&args.query, &refs)?;
    let query_tokens = model
        .pair_encoder()
        .encode_query(&model.prepare_query(&args.query))?;
    if query_tokens.len() + 3 > model.info().max_length {
        eprintln!(
            "warning: the query alone has {} tokens, over the model's {}-token limit; it is truncated",
            query_tokens.len(),
            model.info().max_length
        );
    }
    let mut scores = vec![None; pairs.len()];
    let mut progress = Progress::new("scoring");
    let opts = ScoreOptions {
        max_batch_tokens: args.batch_tokens,
        ..ScoreOptions::default()
    };
    model.score_encoded(&pairs, &opts, &mut |batch, p| {
        for &(i, s) in batch {
            scores[i] = Some(s);
        }
        progress.update(p.done, p.total);
        ControlFlow::Continue(())
    })?;
    let mut ranked: Vec<(usize, crate::model::PairScore)> = scores
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.map(|s| (i, s)).context("a pair was not scored"))
        .collect::<anyhow::Result<_>>()?;
    ranked.sort_by(|a, b| b.1.logit.total_cmp(&a.1.logit).then(a.0.cmp(&b.0)));
    let truncated = ranked.iter().filter(|(_, s)| s.truncation.any()).count();
    if truncated > 0 {
        eprintln!(
            "note: {truncated} of {} pairs were truncated to {} tokens (see the `truncated` column)",
            ranked.len(),
            model.info().max_length
        );
    }
    ranked.truncate(args.top.unwrap_or(usize::MAX));
    let rows: Vec<Row> = ranked
        .iter()
        .enumerate()
        .map(|(r, (i, s))| Row {
            rank: r + 1,
            id: &list.items[*i].id,
            score: s.logit,
            activation: s.activation,
            tokens: s.tokens,
            truncated: s.truncation.side(),
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            for row in &rows {
                w.serialize(row)?;
            }
            w.flush()?;
        }
        OutputFormat::Table => {
            let act = model.info().activation;
            writeln!(
                out,
                "{:>5}  {:<16} {:>9} {:>9}  {:>6}  {:<9} text",
                "rank", "id", "score", act, "tokens", "truncated"
            )?;
            for (row, (i, _)) in rows.iter().zip(&ranked) {
                let item = &list.items[*i];
                writeln!(
                    out,
                    "{:>5}  {:<16} {:>9.4} {:>9.4}  {:>6}  {:<9} {}",
                    row.rank,
                    row.id,
                    row.score,
                    row.activation,
                    row.tokens,
                    row.truncated,
                    snippet(item.title.as_deref(), &item.text, 70)
                )?;
            }
        }
    }
    Ok(())
}

/// First `max` characters of "title: text", on one line.
pub(crate) fn snippet(title: Option<&str>, text: &str, max: usize) -> String {
    let full = match title {
        Some(t) if !t.is_empty() => format!("{t}: {text}"),
        _ => text.to_string(),
    };
    let one_line: String = full.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
