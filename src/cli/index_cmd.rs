//! `relex index build|import|info`: make and inspect ANNCUR index folders.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{ItemArgs, ModelArgs, Progress};
use crate::approx::read_npy;
use crate::index::{self, AnchorQuery, ItemsStamp, StoreDtype};
use crate::items;

#[derive(clap::Subcommand, Debug)]
pub enum IndexCommand {
    /// Score k_q anchor queries against every item (k_q × N CE calls) and store R.
    Build(BuildArgs),
    /// Make an index from a score matrix computed elsewhere (e.g. on a GPU), checking
    /// its shape against the queries and items.
    Import(ImportArgs),
    /// Print an index's manifest.
    Info { dir: PathBuf },
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub items: ItemArgs,
    /// Anchor queries (any item/query format). Without it, k_q item texts are sampled
    /// as pseudo-queries and the index is marked as such.
    #[arg(long)]
    pub anchor_queries: Option<PathBuf>,
    /// Number of anchor queries (rows of R).
    #[arg(long, default_value_t = 100)]
    pub kq: usize,
    #[arg(long)]
    pub out: PathBuf,
    /// Storage precision of R.
    #[arg(long, default_value = "f16")]
    pub dtype: StoreDtype,
    /// Continue an interrupted build in --out (no finished row is recomputed).
    #[arg(long)]
    pub resume: bool,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub items: ItemArgs,
    #[arg(long)]
    pub anchor_queries: PathBuf,
    /// `.npy` matrix [k_q, N] of exact CE scores, rows in anchor-query order.
    #[arg(long)]
    pub scores: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "f16")]
    pub dtype: StoreDtype,
}

pub fn run(cmd: &IndexCommand) -> anyhow::Result<()> {
    match cmd {
        IndexCommand::Build(a) => build(a),
        IndexCommand::Import(a) => import(a),
        IndexCommand::Info { dir } => {
            let m = index::Manifest::read(dir)?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(())
        }
    }
}

/// The anchor queries of `path`, the first `k_q` of them when given; says so when the
/// file holds fewer than asked for.
fn load_anchor_queries(path: &Path, k_q: Option<usize>) -> anyhow::Result<Vec<AnchorQuery>> {
    let anchors = index::anchor_queries_from_file(path, k_q)?;
    if k_q.is_some_and(|k| anchors.len() < k) {
        eprintln!(
            "note: {} holds {} queries; using all of them (k_q = {})",
            path.display(),
            anchors.len(),
            anchors.len()
        );
    }
    Ok(anchors)
}

fn build(a: &BuildArgs) -> anyhow::Result<()> {
    let model = a.model.load()?;
    let list = a.items.load()?;
    let template = model.info().item_template.clone();
    let texts: Vec<String> = crate::items::ce_texts(&list.items, &template);
    let anchors = match &a.anchor_queries {
        Some(p) => load_anchor_queries(p, Some(a.kq))?,
        None => {
            let anchors = index::pseudo_queries(&list.items, a.kq);
            eprintln!(
                "note: no --anchor-queries; using {} sampled item texts as pseudo-queries",
                anchors.len()
            );
            anchors
        }
    };
    let stamp = ItemsStamp {
        source: a.items.items.display().to_string(),
        count: list.items.len(),
        fingerprint: items::fingerprint(&list.items),
    };
    let total = anchors.len() * texts.len();
    eprintln!(
        "building: {} anchor queries × {} items = {total} CE calls",
        anchors.len(),
        texts.len()
    );
    let mut progress = Progress::new("index");
    let spec = index::BuildSpec {
        model: &model,
        texts: &texts,
        items: stamp,
        anchors,
        dtype: a.dtype,
        item_template: template.clone(),
    };
    let manifest = index::build(spec, &a.out, a.resume, &mut |p| {
        progress.update(p.rows_done * p.n_items + p.pairs_done, p.k_q * p.n_items);
        ControlFlow::Continue(())
    })?;
    eprintln!(
        "index written to {} (k_q = {}, N = {})",
        a.out.display(),
        manifest.k_q,
        manifest.n_items
    );
    Ok(())
}

fn import(a: &ImportArgs) -> anyhow::Result<()> {
    let model = a.model.load()?;
    let list = a.items.load()?;
    let r = read_npy(&a.scores).with_context(|| format!("reading {}", a.scores.display()))?;
    let anchors = load_anchor_queries(&a.anchor_queries, None)?;
    if r.rows() != anchors.len() || r.cols() != list.items.len() {
        anyhow::bail!(
            "{}: matrix is {} × {}, but there are {} anchor queries and {} items",
            a.scores.display(),
            r.rows(),
            r.cols(),
            anchors.len(),
            list.items.len()
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let manifest = index::Manifest {
        format_version: index::FORMAT_VERSION,
        model: index::ModelStamp {
            name: model.info().name.clone(),
            fingerprint: model.info().fingerprint.clone(),
        },
        items: ItemsStamp {
            source: a.items.items.display().to_string(),
            count: list.items.len(),
            fingerprint: items::fingerprint(&list.items),
        },
        k_q: r.rows(),
        n_items: r.cols(),
        dtype: a.dtype,
        item_template: model.info().item_template.clone(),
        pseudo_queries: false,
        rows_done: r.rows(),
        complete: true,
    };
    index::write_anchor_queries(&a.out, &anchors)?;
    index::write_matrix(&a.out, &r, a.dtype)?;
    manifest.write(&a.out)?;
    eprintln!(
        "index written to {} (k_q = {}, N = {})",
        a.out.display(),
        r.rows(),
        r.cols()
    );
    Ok(())
}
