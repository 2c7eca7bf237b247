//! `relex search`: one query under a budget of CE calls, with any method.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::score::OutputFormat;
use super::{ItemArgs, ModelArgs};
use crate::approx::defaults;
use crate::approx::{self, AnchorStrategy, Method, SearchParams};
use crate::cancel::CancelToken;
use crate::engine::{CeScorer, ItemsSnapshot, World};
use crate::items;

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub items: ItemArgs,
    /// Index folder (needed by anncur and adacur).
    #[arg(long)]
    pub index: Option<PathBuf>,
    #[arg(long, short = 'q')]
    pub query: String,
    #[arg(long, default_value_t = defaults::METHOD)]
    pub method: Method,
    /// CE calls allowed for this query, anchor items included.
    #[arg(long, default_value_t = defaults::BUDGET)]
    pub budget: usize,
    /// Anchor items k_i (anncur).
    #[arg(long, default_value_t = defaults::K_I, value_parser = super::at_least_one)]
    pub anchors: usize,
    /// How anchor items are chosen: l2greedy (measured best on the demo), random,
    /// topscoring, kmeans++ or kmeans.
    #[arg(long, default_value_t = defaults::ANCHOR_STRATEGY)]
    pub anchor_strategy: AnchorStrategy,
    #[arg(long, short = 'k', default_value_t = defaults::TOP_K)]
    pub top: usize,
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Serialize)]
struct Row<'a> {
    rank: usize,
    id: &'a str,
    approx: Option<f32>,
    exact: Option<f32>,
}

#[derive(Serialize)]
struct Output<'a> {
    method: &'a str,
    ce_calls: usize,
    warnings: &'a [String],
    ranking: Vec<Row<'a>>,
}

pub fn run(a: &SearchArgs) -> anyhow::Result<()> {
    let model = a.model.load()?;
    let list = a.items.load()?;
    let fingerprint = items::fingerprint(&list.items);
    // The same world the app's engine searches in: one place builds the index, TF-IDF
    // and AXN inputs from the model and items.
    let mut world = World::default();
    world.set_model(Box::new(model));
    world.set_items(Arc::new(ItemsSnapshot {
        path: list.path,
        items: list.items,
        report: list.report,
        fingerprint,
    }));
    if a.method.needs_index() {
        let dir = a
            .index
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--method {} needs --index DIR", a.method))?;
        world.load_index(dir)?;
    }
    world.prepare(a.method)?;
    let n = world.texts.len();
    if a.top > n {
        eprintln!(
            "warning: -k {} is more than the {n} items: ranking all of them",
            a.top
        );
    }
    let inputs = world.search_inputs(&a.query, n);
    let params = SearchParams {
        method: a.method,
        budget: a.budget,
        k_i: a.anchors,
        top_k: a.top,
        anchor_strategy: a.anchor_strategy,
        seed: a.seed,
        ..SearchParams::default()
    };
    for w in crate::model::query_warnings(&a.query) {
        eprintln!("warning: {w}");
    }
    let (model, items) = world.model_and_items()?;
    let query = model.prepare(&a.query)?;
    let cancel = CancelToken::new();
    let mut known = vec![None; n];
    let mut scorer = CeScorer::new(model, &world.texts, &query, &cancel, &mut known);
    let result = approx::search(&inputs, &params, &mut scorer)?;
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let rows: Vec<Row> = result
        .ranking
        .iter()
        .enumerate()
        .map(|(r, x)| Row {
            rank: r + 1,
            id: &items.items[x.item].id,
            approx: x.approx,
            exact: x.exact,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &Output {
                    method: a.method.name(),
                    ce_calls: result.ce_calls,
                    warnings: &result.warnings,
                    ranking: rows,
                },
            )?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            for r in &rows {
                w.serialize(r)?;
            }
            w.flush()?;
        }
        OutputFormat::Table => {
            writeln!(
                out,
                "{} — {} CE calls for {} items",
                a.method, result.ce_calls, n
            )?;
            writeln!(
                out,
                "{:>5}  {:<16} {:>9} {:>9}  text",
                "rank", "id", "approx", "exact"
            )?;
            let fmt = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            for (row, x) in rows.iter().zip(&result.ranking) {
                let it = &items.items[x.item];
                writeln!(
                    out,
                    "{:>5}  {:<16} {:>9} {:>9}  {}",
                    row.rank,
                    row.id,
                    fmt(row.approx),
                    fmt(row.exact),
                    super::score::snippet(it.title.as_deref(), &it.text, 60)
                )?;
            }
        }
    }
    Ok(())
}
