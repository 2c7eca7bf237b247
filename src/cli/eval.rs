//! `relex eval`: Top-k recall, approximation error and Spearman ρ of each method at each
//! budget, on a precomputed exact score matrix or on test queries scored by the model.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;

use super::{ItemArgs, ModelArgs, Progress};
use crate::approx::defaults;
use crate::approx::{
    evaluate, read_npy, write_csv, write_npy, AnchorStrategy, EvalConfig, Matrix, Method,
};
use crate::index::{self, ItemsStamp, ModelStamp};
use crate::items;
use crate::model::ScoreOptions;

/// How `relex eval` prints its rows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Exact score matrix (.npy, queries × items, f16/f32/f64). The first
    /// --anchor-rows rows are the anchor queries, the rest test queries.
    #[arg(long, conflicts_with = "index")]
    pub scores: Option<PathBuf>,
    /// Or: an index folder plus --test-queries; the test queries' exact scores are
    /// computed with the model (cached in the index folder) and appended below R.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Test queries (with --index).
    #[arg(long)]
    pub test_queries: Option<PathBuf>,
    /// Precomputed exact scores of the test queries (.npy, test queries × items), used
    /// with --index instead of running the model.
    #[arg(long, requires = "index")]
    pub test_scores: Option<PathBuf>,
    /// Number of anchor rows (with --scores).
    #[arg(long, default_value_t = 100)]
    pub anchor_rows: usize,
    /// Pick the anchor rows at random instead of taking the first ones.
    #[arg(long)]
    pub anchor_rows_random: bool,
    /// Anchor items k_i for ANNCUR.
    #[arg(long, default_value_t = defaults::K_I, value_parser = super::at_least_one)]
    pub anchors: usize,
    /// How anchor items are chosen: l2greedy (measured best on the demo), random,
    /// topscoring, kmeans++ or kmeans.
    #[arg(long, default_value_t = defaults::ANCHOR_STRATEGY)]
    pub anchor_strategy: AnchorStrategy,
    /// Methods, comma separated: anncur, adacur, axn, tfidf, random, exact.
    #[arg(long, value_delimiter = ',', default_value = "anncur,adacur,random")]
    pub method: Vec<Method>,
    #[arg(long, value_delimiter = ',', default_value = "50,100,200,500,1000")]
    pub budget: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub k: Vec<usize>,
    /// Anchor-item draws averaged over.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// ADACUR's number of rounds.
    #[arg(long, default_value_t = defaults::ADACUR_ROUNDS, value_parser = super::at_least_one)]
    pub adacur_rounds: usize,
    /// AXN's number of rounds.
    #[arg(long, default_value_t = defaults::AXN_ROUNDS, value_parser = super::at_least_one)]
    pub axn_rounds: usize,
    /// ADACUR's ridge strength, relative to the mean diagonal of its normal
    /// equations (0: the plain min-norm least-squares fit).
    #[arg(long, default_value_t = defaults::ADACUR_RIDGE)]
    pub adacur_ridge: f64,
    /// Share (0–1) of ADACUR's first round taken from TF-IDF's best items for the
    /// query (needs --items and --query-texts, or --index).
    #[arg(long, default_value_t = defaults::ADACUR_TFIDF_SEED)]
    pub adacur_tfidf_seed: f32,
    /// Item file (TF-IDF needs texts; with --index it is the indexed item list).
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Query files whose concatenation gives one text per matrix row (TF-IDF, --scores).
    #[arg(long, value_delimiter = ',')]
    pub query_texts: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = EvalFormat::Table)]
    pub format: EvalFormat,
    /// Also write the rows as CSV for plotting.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    let (matrix, anchor_rows, item_texts, query_texts) = match (&a.scores, &a.index) {
        (Some(path), _) => {
            let m = read_npy(path).with_context(|| format!("reading {}", path.display()))?;
            let item_texts = match &a.items {
                Some(p) => Some(plain_texts(p)?),
                None => None,
            };
            let mut qt = Vec::new();
            for p in &a.query_texts {
                let set = items::load_queries(p, &items::LoadOptions::default())?;
                qt.extend(set.queries.into_iter().map(|q| q.text));
            }
            (m, a.anchor_rows, item_texts, (!qt.is_empty()).then_some(qt))
        }
        (None, Some(dir)) => matrix_from_index(a, dir)?,
        (None, None) => {
            anyhow::bail!("pass --scores M.npy, or --index DIR with --test-queries FILE")
        }
    };
    if a.method.contains(&Method::Tfidf) && (item_texts.is_none() || query_texts.is_none()) {
        anyhow::bail!("the tfidf method needs texts: pass --items and --query-texts (one text per matrix row)");
    }
    let texts = match (&item_texts, &query_texts) {
        (Some(i), Some(q)) => {
            if q.len() != matrix.rows() || i.len() != matrix.cols() {
                anyhow::bail!(
                    "texts do not match the matrix: {} query texts for {} rows, {} items for {} columns",
                    q.len(),
                    matrix.rows(),
                    i.len(),
                    matrix.cols()
                );
            }
            Some((i.as_slice(), q.as_slice()))
        }
        _ => None,
    };
    let cfg = EvalConfig {
        anchor_rows,
        anchor_rows_random: a.anchor_rows_random,
        k_i: a.anchors,
        anchor_strategy: a.anchor_strategy,
        methods: a.method.clone(),
        budgets: a.budget.clone(),
        ks: a.k.clone(),
        seeds: a.seeds,
        texts,
        adacur_rounds: a.adacur_rounds,
        adacur_ridge: a.adacur_ridge,
        adacur_tfidf_seed: a.adacur_tfidf_seed,
        axn_rounds: a.axn_rounds,
        ..EvalConfig::default()
    };
    if let Some(p) = &a.csv {
        super::check_writable(p)?;
    }
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    let rows = evaluate(&matrix, &cfg)?;
    // The results reach stdout first: a CSV that cannot be written (a full disk) costs
    // the CSV, not the hours of evaluation behind it.
    print_rows(a, &rows, anchor_rows, &matrix)?;
    if let Some(p) = &a.csv {
        write_csv(&rows, p).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn print_rows(
    a: &EvalArgs,
    rows: &[crate::approx::EvalRow],
    anchor_rows: usize,
    matrix: &Matrix,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if a.format == EvalFormat::Json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} test queries × {} items; k_q = {anchor_rows}, k_i = {}, {} seeds",
        matrix.rows() - anchor_rows,
        matrix.cols(),
        a.anchors,
        a.seeds
    )?;
    let ks: Vec<String> = a.k.iter().map(|k| format!("recall@{k}")).collect();
    write!(out, "{:<8} {:>7}", "method", "budget")?;
    for k in &ks {
        write!(out, " {k:>10}")?;
    }
    writeln!(out, " {:>9} {:>9} {:>9}", "rel_err", "spearman", "ce_calls")?;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    for r in rows {
        write!(out, "{:<8} {:>7}", r.method.name(), r.budget)?;
        for k in &ks {
            write!(
                out,
                " {:>10.4}",
                r.recall.get(k).copied().unwrap_or(f64::NAN)
            )?;
        }
        writeln!(
            out,
            " {:>9} {:>9} {:>9.1}",
            opt(r.rel_error),
            opt(r.spearman),
            r.ce_calls
        )?;
    }
    Ok(())
}

fn plain_texts(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let list = items::load_items(path, &items::LoadOptions::default())?;
    Ok(list
        .items
        .iter()
        .map(|it| it.ce_text(crate::items::PLAIN_TEXT_TEMPLATE))
        .collect())
}

type Prepared = (Matrix, usize, Option<Vec<String>>, Option<Vec<String>>);

/// [R; exact scores of the test queries], computing (and caching) the latter.
fn matrix_from_index(a: &EvalArgs, dir: &std::path::Path) -> anyhow::Result<Prepared> {
    let test_path = a
        .test_queries
        .as_ref()
        .context("--index needs --test-queries FILE")?;
    let manifest = index::Manifest::read(dir)?;
    let items_path = a
        .items
        .clone()
        .unwrap_or_else(|| PathBuf::from(&manifest.items.source));
    let item_args = ItemArgs {
        items: items_path.clone(),
        item_format: None,
        skip_invalid: false,
    };
    let list = item_args.load()?;
    let model = a.model.load()?;
    let m = ModelStamp {
        name: model.info().name.clone(),
        fingerprint: model.info().fingerprint.clone(),
    };
    let i = ItemsStamp {
        source: items_path.display().to_string(),
        count: list.items.len(),
        fingerprint: items::fingerprint(&list.items),
    };
    let idx = index::load(dir, &m, &i)?;
    let tests = items::load_queries(test_path, &items::LoadOptions::default())?;
    // The model's fingerprint covers its templates (and any --item-template).
    let cache = exact_cache_path(dir, &m.fingerprint, &i.fingerprint, &tests.queries);
    let n = list.items.len();
    let exact = if let Some(p) = &a.test_scores {
        let m = read_npy(p).with_context(|| format!("reading {}", p.display()))?;
        if m.rows() != tests.queries.len() || m.cols() != n {
            anyhow::bail!(
                "{}: {} × {} scores, but there are {} test queries and {n} items",
                p.display(),
                m.rows(),
                m.cols(),
                tests.queries.len()
            );
        }
        m
    } else if let Some(m) = read_exact_cache(&cache, tests.queries.len(), n) {
        eprintln!("using cached exact scores {}", cache.display());
        m
    } else {
        let texts: Vec<String> = model.info().item_texts(&list.items);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let total = tests.queries.len() * n;
        let mut progress = Progress::new("exact scores");
        let mut data = Vec::with_capacity(total);
        for (qi, q) in tests.queries.iter().enumerate() {
            let pairs = model.encode(&q.text, &refs)?;
            let mut row = vec![0f32; n];
            model.score_encoded(&pairs, &ScoreOptions::default(), &mut |batch, p| {
                for &(j, s) in batch {
                    row[j] = s.logit;
                }
                progress.update(qi * n + p.done, total);
                ControlFlow::Continue(())
            })?;
            data.extend(row);
        }
        let m = Matrix::new(tests.queries.len(), n, data)?;
        // The cache only saves time: a folder that cannot take it costs a warning, not
        // the scores just computed.
        if let Err(e) = write_npy(&cache, &m, crate::approx::NpyDtype::F32) {
            eprintln!(
                "warning: could not cache the exact scores in {}: {e}",
                cache.display()
            );
        }
        m
    };
    let r = idx.require_dense()?.r();
    let mut all = r.data().to_vec();
    all.extend_from_slice(exact.data());
    let matrix = Matrix::new(r.rows() + exact.rows(), n, all)?;
    let item_texts = list
        .items
        .iter()
        .map(|it| it.ce_text(crate::items::PLAIN_TEXT_TEMPLATE))
        .collect();
    let mut query_texts: Vec<String> = idx.anchors.iter().map(|q| q.text.clone()).collect();
    query_texts.extend(tests.queries.iter().map(|q| q.text.clone()));
    Ok((matrix, r.rows(), Some(item_texts), Some(query_texts)))
}

/// Where the exact test scores of this model, these items and these
/// queries are cached in the index folder: the name hashes everything that changes them,
/// so another model, item list or query set never reads another's scores.
fn exact_cache_path(
    dir: &std::path::Path,
    model_fingerprint: &str,
    items_fingerprint: &str,
    queries: &[items::Query],
) -> PathBuf {
    let mut key = format!("relex-exact-cache/1\n{model_fingerprint}\n{items_fingerprint}\n");
    for q in queries {
        key.push_str(&serde_json::json!([q.id, q.text]).to_string());
        key.push('\n');
    }
    let hash = crate::files::sha256_hex(key.as_bytes());
    dir.join(format!("exact_{}.npy", &hash[..24]))
}

/// The cached scores, if the cache is there and whole; a damaged or mis-shaped one is
/// discarded with a warning (the scores are computed again).
fn read_exact_cache(path: &std::path::Path, rows: usize, cols: usize) -> Option<Matrix> {
    if !path.exists() {
        return None;
    }
    match read_npy(path) {
        Ok(m) if m.rows() == rows && m.cols() == cols && m.data().iter().all(|v| v.is_finite()) => {
            Some(m)
        }
        Ok(m) => {
            eprintln!(
                "warning: {}: cached scores are {} × {}, expected {rows} × {cols}; computing them again",
                path.display(),
                m.rows(),
                m.cols()
            );
            None
        }
        Err(e) => {
            eprintln!(
                "warning: {}: unreadable cache ({e}); computing the scores again",
                path.display()
            );
            None
        }
    }
}
