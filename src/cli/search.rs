//! `relex search`: one query under a budget of CE calls, with any method.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::score::OutputFormat;
use super::{ItemArgs, ModelArgs};
use crate::approx::{
    self, AnchorStrategy, CeScorer, Method, SearchInputs, SearchParams, TfIdfIndex,
};
use crate::cancel::CancelToken;
use crate::index::{self, ItemsStamp, ModelStamp};
use crate::items;
use crate::model::PairModel;

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
    #[arg(long, default_value = "anncur")]
    pub method: Method,
    /// CE calls allowed for this query, anchor items included.
    #[arg(long, default_value_t = 100)]
    pub budget: usize,
    /// Anchor items k_i (anncur).
    #[arg(long, default_value_t = 50)]
    pub anchors: usize,
    /// How anchor items are chosen: l2greedy (measured best on the demo), random,
    /// topscoring, kmeans++ or kmeans.
    #[arg(long, default_value = "l2greedy")]
    pub anchor_strategy: AnchorStrategy,
    #[arg(long, short = 'k', default_value_t = 10)]
    pub top: usize,
    #[arg(long, default_value_t = 0)]
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
    let texts = crate::items::ce_texts(&list.items, &model.info().item_template);
    let n = texts.len();
    let index = match a.method {
        Method::Anncur | Method::Adacur | Method::Axn => {
            let dir = a
                .index
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("--method {} needs --index DIR", a.method))?;
            let stamp = ItemsStamp {
                source: a.items.items.display().to_string(),
                count: n,
                fingerprint: items::fingerprint(&list.items),
            };
            Some(index::load(dir, &ModelStamp::of(model.info()), &stamp)?)
        }
        _ => None,
    };
    let tfidf = match a.method {
        Method::Tfidf | Method::Axn => Some(TfIdfIndex::build(&crate::items::ce_texts(
            &list.items,
            crate::items::PLAIN_TEXT_TEMPLATE,
        ))?),
        _ => None,
    };
    // AXN reads a sparse sample of the dense index (see approx::axn::index_from_dense).
    let axn = match (&index, a.method) {
        (Some(idx), Method::Axn) => {
            let texts: Vec<String> = idx.anchors.iter().map(|q| q.text.clone()).collect();
            Some(approx::axn::index_from_dense(
                idx.cur.r(),
                Some(&texts),
                tfidf.as_ref(),
                approx::axn::default_per_row(n),
                &approx::axn::AxnFactorParams::default(),
            )?)
        }
        _ => None,
    };
    let inputs = SearchInputs {
        n_items: n,
        index: index.as_ref().map(|i| &i.cur),
        tfidf: tfidf.as_ref(),
        query_text: Some(&a.query),
        axn: axn.as_ref(),
        ..SearchInputs::default()
    };
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
    let query = model.prepare(&a.query)?;
    let cancel = CancelToken::new();
    let mut known = vec![None; n];
    let mut scorer = CeScorer::new(&model, &texts, &query, &cancel, &mut known);
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
            id: &list.items[x.item].id,
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
                let it = &list.items[x.item];
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
