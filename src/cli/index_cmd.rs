//! `relex index build|import|info`: make and inspect ANNCUR index folders.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use std::sync::Mutex;

use anyhow::Context;

use super::{ItemArgs, ModelArgs, Progress};
use crate::approx::read_npy;
use crate::index::{self, AnchorQuery, BuildJob, ItemsStamp, StoreDtype};
use crate::items;
use crate::model::{DeviceSpec, PairModel};

#[derive(clap::Subcommand, Debug)]
pub enum IndexCommand {
    /// Score k_q anchor queries against every item (k_q × N CE calls) and store R.
    Build(BuildArgs),
    /// Make an index from a score matrix computed elsewhere (e.g. on a GPU), checking
    /// its shape against the queries and items.
    Import(ImportArgs),
    /// Print an index's manifest.
    Info { dir: PathBuf },
    /// Join the finished shards in DIR (shard-*-of-* folders made by `build --shard`)
    /// into the index in DIR, exactly as one unsharded build would have written it.
    Merge {
        dir: PathBuf,
        /// Replace a finished index already in DIR.
        #[arg(long)]
        force: bool,
    },
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
    #[arg(long, default_value_t = crate::approx::defaults::INDEX_ANCHOR_QUERIES)]
    pub kq: usize,
    #[arg(long)]
    pub out: PathBuf,
    /// Storage precision of R.
    #[arg(long, default_value = "f16")]
    pub dtype: StoreDtype,
    /// Continue an interrupted build in --out (no finished row is recomputed).
    #[arg(long)]
    pub resume: bool,
    /// Build only shard i of N (0-based, e.g. 2/8): a contiguous block of the anchor
    /// queries, into --out/shard-000i-of-000N/; `relex index merge --out` joins them.
    /// Without it, a Slurm array task (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or a
    /// Kubernetes Indexed Job (JOB_COMPLETION_INDEX with RELEX_SHARD_COUNT) picks its
    /// shard from the environment. Shards always resume: running one again is safe.
    #[arg(long)]
    pub shard: Option<index::ShardSpec>,
    /// Score on several devices of this machine at once (e.g. cuda:0,cuda:1): the anchor
    /// rows are split among them and merged at the end. Replaces --device.
    #[arg(long, value_parser = parse_devices, conflicts_with = "shard")]
    pub devices: Option<DeviceList>,
    /// A sparse (AXN) index: each anchor query is scored against only --per-row items
    /// (most retrieved by TF-IDF, the rest random), k_q × k_s CE calls instead of k_q × N;
    /// only the AXN method searches it.
    #[arg(long, conflicts_with_all = ["shard", "devices"])]
    pub sparse: bool,
    /// Items per anchor query of a sparse index (default: 5 % of the items, at least 200).
    #[arg(long, requires = "sparse", value_parser = super::at_least_one)]
    pub per_row: Option<usize>,
    /// A sparse index's first stage from your own retriever (BM25, a dual encoder)
    /// instead of TF-IDF: a TREC run file (`qid Q0 docid rank score tag`) naming the
    /// anchor queries' ids and the items' ids.
    #[arg(long, requires = "sparse")]
    pub candidates: Option<PathBuf>,
}

/// A comma-separated device list, as one clap value.
#[derive(Debug, Clone)]
pub struct DeviceList(Vec<DeviceSpec>);

fn parse_devices(s: &str) -> Result<DeviceList, String> {
    crate::model::device::parse_device_list(s).map(DeviceList)
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
    /// Replace an index already in --out (checked first; a failed import leaves it as it was).
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: &IndexCommand) -> anyhow::Result<()> {
    match cmd {
        IndexCommand::Build(a) => build(a),
        IndexCommand::Import(a) => import(a),
        IndexCommand::Merge { dir, force } => {
            let m = index::merge(dir, *force).map_err(|e| match e {
                index::IndexError::AlreadyExists { path } => anyhow::anyhow!(
                    "{}: an index already exists here; pass --force to replace it with the merged shards",
                    path.display()
                ),
                e => e.into(),
            })?;
            eprintln!(
                "merged into {} (k_q = {}, N = {})",
                dir.display(),
                m.k_q,
                m.n_items
            );
            Ok(())
        }
        IndexCommand::Info { dir } => {
            let m = index::Manifest::read(dir)?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(())
        }
    }
}

/// A sparse (AXN) build: the plan (TF-IDF's items and random ones per anchor query),
/// then the rows, then the factorisation.
fn build_sparse(
    a: &BuildArgs,
    model: &crate::model::CrossEncoder,
    items: &[crate::items::Item],
    job: &BuildJob<'_>,
) -> anyhow::Result<()> {
    let n = items.len();
    let per_row = a
        .per_row
        .unwrap_or_else(|| crate::approx::axn::default_per_row(n));
    let plan = match &a.candidates {
        Some(path) => {
            let anchor_ids: Vec<String> = job.anchors.iter().map(|q| q.id.clone()).collect();
            let item_ids: Vec<String> = items.iter().map(|it| it.id.clone()).collect();
            let (run, missing) = index::CandidateRun::read(path, &anchor_ids, &item_ids)?;
            if !missing.is_empty() {
                eprintln!(
                    "warning: {}: no candidates for {} of {} anchor queries (first: {}); they get random items only",
                    path.display(),
                    missing.len(),
                    anchor_ids.len(),
                    missing[0]
                );
            }
            index::SparsePlan::from_candidates(&run, n, per_row)
        }
        None => {
            let plain = crate::items::ce_texts(items, crate::items::PLAIN_TEXT_TEMPLATE);
            let tfidf = crate::approx::TfIdfIndex::build(&plain)?;
            let anchor_texts: Vec<String> = job.anchors.iter().map(|q| q.text.clone()).collect();
            index::SparsePlan::new(&anchor_texts, &tfidf, n, per_row)
        }
    };
    let k_q = job.anchors.len();
    eprintln!(
        "building a sparse index: {k_q} anchor queries × {} items = {} CE calls (a dense index: {})",
        plan.layout.per_row,
        plan.calls(),
        k_q * n
    );
    let mut spec = job.spec(model, 0..k_q, None);
    spec.sparse = Some(plan);
    let mut progress = Progress::new("sparse index");
    let manifest = index::build(spec, &a.out, a.resume, &mut |p| {
        progress.update(p.rows_done * p.n_items + p.pairs_done, p.k_q * p.n_items);
        ControlFlow::Continue(())
    })?;
    eprintln!(
        "sparse index written to {} (k_q = {}, k_s = {}, N = {})",
        a.out.display(),
        manifest.k_q,
        manifest.sparse.as_ref().map_or(0, |s| s.per_row),
        manifest.n_items
    );
    Ok(())
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
    let shard = match a.shard {
        Some(s) => Some(s),
        None if a.devices.is_some() => None,
        None => match index::ShardSpec::from_env(|k| std::env::var(k).ok())
            .map_err(anyhow::Error::msg)?
        {
            Some((s, by)) => {
                eprintln!("note: building shard {s} as assigned by the {by}");
                Some(s)
            }
            None => None,
        },
    };
    let devices = a
        .devices
        .clone()
        .map_or_else(|| vec![a.model.device], |d| d.0);
    let model = a.model.load_on(devices[0])?;
    let list = a.items.load()?;
    let template = model.info().item_template.clone();
    let texts: Vec<String> = model.info().item_texts(&list.items);
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
    let k_q = anchors.len();
    let job = BuildJob {
        texts: &texts,
        items: &stamp,
        anchors: &anchors,
        dtype: a.dtype,
        item_template: &template,
    };
    if a.sparse {
        if shard.is_some() {
            anyhow::bail!(
                "sparse builds run in one process for now: build without a shard (unset the scheduler's shard variables)"
            );
        }
        return build_sparse(a, &model, &list.items, &job);
    }
    if let Some(s) = shard {
        if s.count > k_q {
            anyhow::bail!(
                "{} shards for {k_q} anchor queries: some shards would be empty",
                s.count
            );
        }
        let rows = s.rows(k_q);
        let dir = s.dir(&a.out);
        eprintln!(
            "shard {s}: anchor rows {}..{} of {k_q} × {} items into {}",
            rows.start,
            rows.end,
            texts.len(),
            dir.display()
        );
        let mut progress = Progress::new("shard");
        job.build_shard(&model, s, &a.out, &mut |done, total| {
            progress.update(done, total);
            ControlFlow::Continue(())
        })?;
        eprintln!(
            "shard {s} finished; once every shard is, run `relex index merge {}`",
            a.out.display()
        );
        return Ok(());
    }
    eprintln!(
        "building: {k_q} anchor queries × {} items = {} CE calls",
        texts.len(),
        k_q * texts.len()
    );
    let manifest = if devices.len() > 1 {
        let mut models = vec![model];
        for &d in &devices[1..devices.len().min(k_q)] {
            models.push(a.model.load_on(d)?);
        }
        let refs: Vec<&dyn PairModel> = models.iter().map(|m| m as &dyn PairModel).collect();
        let progress = Mutex::new(Progress::new("index"));
        job.build_on_models(&refs, &a.out, a.resume, &|done, total| {
            if let Ok(mut p) = progress.lock() {
                p.update(done, total);
            }
            ControlFlow::Continue(())
        })?
    } else {
        let mut progress = Progress::new("index");
        index::build(job.spec(&model, 0..k_q, None), &a.out, a.resume, &mut |p| {
            progress.update(p.rows_done * p.n_items + p.pairs_done, p.k_q * p.n_items);
            ControlFlow::Continue(())
        })?
    };
    eprintln!(
        "index written to {} (k_q = {}, N = {}{})",
        a.out.display(),
        manifest.k_q,
        manifest.n_items,
        if devices.len() > 1 {
            format!(", {} devices", devices.len().min(k_q))
        } else {
            String::new()
        }
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
    // Every check before the folder is touched: a bad matrix leaves the index there as it was.
    let r_bytes = index::store::matrix_bytes(&a.scores, &r, a.dtype)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let _lock = index::IndexLock::acquire(&a.out, "index import")?;
    if index::Manifest::read(&a.out).is_ok() && !a.force {
        anyhow::bail!(
            "{}: an index already exists here; pass --force to replace it",
            a.out.display()
        );
    }
    let anchors_file = index::store::put(
        &a.out,
        "anchor_queries",
        "jsonl",
        &index::store::anchors_bytes(&anchors),
    )?;
    let r_file = index::store::put(&a.out, "R", "safetensors", &r_bytes)?;
    let manifest = index::Manifest {
        format_version: index::FORMAT_VERSION,
        model: index::ModelStamp::of(model.info()),
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
        shard: None,
        anchors_file: Some(anchors_file),
        r_file: Some(r_file),
        sparse: None,
    };
    manifest.commit(&a.out)?;
    eprintln!(
        "index written to {} (k_q = {}, N = {})",
        a.out.display(),
        r.rows(),
        r.cols()
    );
    Ok(())
}
