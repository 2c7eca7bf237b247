//! The worker thread's loop: owns the model, items and index, runs one job at a time.

mod explore;

use super::world::{search_error, World};

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use super::protocol::{
    DemoQuery, EngineError, Event, IndexSummary, ItemsSnapshot, JobId, JobOutcome, Request,
    SearchRequest,
};
use super::CeScorer;
use super::{Envelope, ExactCache, ModelLoader};
use crate::approx::{self, ApproxError, Method, SearchResult};
use crate::cancel::CancelToken;
use crate::index::{self, AnchorQuery, StoreDtype};
use crate::items;
use crate::model::{ModelError, PairModel, PairScore, ScoreOptions};

/// Bound of the exact-score cache, in pair scores (~40 bytes each: ~80 MB).
const CACHE_SCORES: usize = 2_000_000;

/// How a job that did not fail ended.
enum Ended {
    Completed,
    Cancelled,
}

type JobResult = Result<Ended, EngineError>;

struct Worker {
    tx: Sender<Event>,
    wake: Box<dyn Fn() + Send>,
    loader: ModelLoader,
    /// The device models are loaded on (the last `LoadModel` names it).
    device: crate::model::DeviceSpec,
    /// The model, items and index, and the search inputs built from them.
    world: World,
    cache: ExactCache,
    /// The last approximate search (for per-item plots).
    last_search: Option<Arc<SearchResult>>,
}

pub(super) fn run(
    rx: Receiver<Envelope>,
    tx: Sender<Event>,
    loader: ModelLoader,
    wake: Box<dyn Fn() + Send>,
) {
    let mut w = Worker {
        tx,
        wake,
        loader,
        device: crate::model::DeviceSpec::default(),
        world: World::default(),
        cache: ExactCache::new(CACHE_SCORES),
        last_search: None,
    };
    while let Ok(Envelope {
        job,
        cancel,
        request,
    }) = rx.recv()
    {
        let Some(kind) = request.kind() else {
            if let Request::ItemConvergence { item } = request {
                if let Err(error) = w.item_convergence(item) {
                    w.send(Event::RequestFailed { error });
                }
            }
            continue;
        };
        // A job cancelled before it started is not run, but still finished.
        let outcome = if cancel.is_cancelled() {
            JobOutcome::Cancelled
        } else {
            // A panicking job must not take the worker (and every later job) with it.
            match std::panic::catch_unwind(AssertUnwindSafe(|| w.handle(job, &cancel, request))) {
                Ok(Ok(Ended::Completed)) => JobOutcome::Completed,
                Ok(Ok(Ended::Cancelled)) => JobOutcome::Cancelled,
                Ok(Err(e)) => JobOutcome::Failed(e),
                Err(payload) => {
                    JobOutcome::Failed(EngineError::Panicked(super::panic_message(&*payload)))
                }
            }
        };
        w.send(Event::JobFinished { job, kind, outcome });
    }
}

fn model_error(e: ModelError) -> EngineError {
    EngineError::Model(e.to_string())
}

impl Worker {
    fn send(&self, event: Event) {
        let _ = self.tx.send(event);
        (self.wake)();
    }

    fn handle(&mut self, job: JobId, cancel: &CancelToken, request: Request) -> JobResult {
        match request {
            Request::LoadModel { spec, device } => {
                self.device = device;
                self.load_model(&spec)
            }
            Request::LoadItems { path } => self.load_items(job, cancel, &path),
            Request::LoadIndex { dir } => self.load_index(&dir),
            Request::LoadDemo => self.load_demo(job, cancel),
            Request::Search(req) => self.search(job, cancel, req),
            Request::BuildIndex {
                anchor_queries,
                k_q,
                out,
                sparse,
            } => self.build_index(job, cancel, anchor_queries.as_deref(), k_q, &out, sparse),
            Request::Compare(req) => self.compare(job, cancel, req),
            Request::Explain(req) => self.explain(job, cancel, req),
            Request::QuerySet(req) => self.query_set(job, cancel, req),
            Request::ItemConvergence { .. } => Ok(Ended::Completed),
        }
    }

    fn load_model(&mut self, spec: &str) -> JobResult {
        let model = (self.loader)(spec, self.device).map_err(model_error)?;
        let info = model.info().clone();
        self.world.set_model(model);
        // An index belongs to one model: keep it only if it still matches.
        self.recheck_index();
        self.send(Event::ModelLoaded(Box::new(info)));
        // On the demo items, a shipped model brings its own demo index.
        let on_demo = self.world.items.as_ref().is_some_and(|i| {
            i.path.canonicalize().ok()
                == crate::assets::demo_dir()
                    .join("items.jsonl")
                    .canonicalize()
                    .ok()
        });
        if self.world.index.is_none() && on_demo {
            let dir = crate::assets::demo_index_dir(Path::new(spec));
            if dir.join("manifest.json").exists() {
                // A mismatch is not this job's failure: the model did load.
                if let Err(e) = self.load_index(&dir) {
                    self.send(Event::IndexUnloaded {
                        reason: format!("the demo index for this model does not match: {e}"),
                    });
                }
            }
        }
        Ok(Ended::Completed)
    }

    fn load_items(&mut self, job: JobId, cancel: &CancelToken, path: &Path) -> JobResult {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let tx = self.tx.clone();
        let mut last = Instant::now();
        let wake = &self.wake;
        let loaded = items::load_items_with_progress(
            path,
            &items::LoadOptions::default(),
            &mut |done, total| {
                if cancel.is_cancelled() {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                if last.elapsed().as_millis() > 50 {
                    last = Instant::now();
                    let _ = tx.send(Event::Progress {
                        job,
                        label: "loading items".into(),
                        done: done as usize,
                        total: total as usize,
                    });
                    wake();
                }
            },
            &stop,
        );
        let list = match loaded {
            Ok(list) => list,
            Err(items::ItemsError::Cancelled) => return Ok(Ended::Cancelled),
            Err(e) => return Err(EngineError::Items(e.to_string())),
        };
        let fingerprint = items::fingerprint(&list.items);
        let snapshot = Arc::new(ItemsSnapshot {
            path: list.path,
            items: list.items,
            report: list.report,
            fingerprint,
        });
        self.world.set_items(snapshot.clone());
        self.last_search = None;
        self.recheck_index();
        self.send(Event::ItemsLoaded(snapshot));
        Ok(Ended::Completed)
    }

    /// Drops the index when the model or items it was built for are no longer loaded.
    fn recheck_index(&mut self) {
        if let Some(reason) = self.world.recheck_index() {
            self.send(Event::IndexUnloaded { reason });
        }
    }

    fn load_index(&mut self, dir: &Path) -> JobResult {
        let loaded = self.world.load_index(dir)?;
        let summary = summary_of(dir, &loaded.manifest);
        self.send(Event::IndexLoaded(summary));
        Ok(Ended::Completed)
    }

    fn load_demo(&mut self, job: JobId, cancel: &CancelToken) -> JobResult {
        let model_dir = crate::assets::default_model_dir();
        self.load_model(&model_dir.display().to_string())?;
        let demo = crate::assets::demo_dir();
        if let Ended::Cancelled = self.load_items(job, cancel, &demo.join("items.jsonl"))? {
            return Ok(Ended::Cancelled);
        }
        let index_dir = crate::assets::demo_index_dir(&model_dir);
        if index_dir.join("manifest.json").exists() {
            self.load_index(&index_dir)?;
        }
        let queries = demo.join("test_queries.jsonl");
        if queries.exists() {
            let set = items::load_queries(&queries, &items::LoadOptions::default())
                .map_err(|e| EngineError::Items(e.to_string()))?;
            let list = set
                .queries
                .into_iter()
                .map(|q| DemoQuery {
                    id: q.id,
                    text: q.text,
                    gold: q.gold,
                })
                .collect();
            self.send(Event::DemoQueries(list));
        }
        Ok(Ended::Completed)
    }

    fn search(&mut self, job: JobId, cancel: &CancelToken, req: SearchRequest) -> JobResult {
        let items = self.world.items.clone().ok_or(EngineError::NoItems)?;
        let n = items.items.len();
        if n == 0 {
            return Err(EngineError::Items("the item list is empty".into()));
        }
        self.world.prepare(req.method)?;
        let model = self.world.model.as_deref().ok_or(EngineError::NoModel)?;
        let model_fp = model.info().fingerprint.clone();
        let query = model.prepare(&req.query).map_err(model_error)?;
        // The query's cache row is moved out for the job and moved back at its end,
        // whatever happens: the scores computed are kept even when the job stops.
        let mut row = self
            .cache
            .take(&model_fp, &items.fingerprint, &req.query)
            .filter(|r| r.len() == n)
            .unwrap_or_else(|| vec![None; n]);
        let outcome = self.search_with_row(job, cancel, &req, model, &query, &mut row);
        self.cache
            .put(&model_fp, &items.fingerprint, &req.query, row);
        let (ended, result) = outcome?;
        if !result.anchor_items.is_empty() {
            self.last_search = Some(result);
        }
        Ok(ended)
    }

    fn search_with_row(
        &self,
        job: JobId,
        cancel: &CancelToken,
        req: &SearchRequest,
        model: &dyn PairModel,
        query: &crate::model::PreparedQuery,
        row: &mut [Option<PairScore>],
    ) -> Result<(Ended, Arc<SearchResult>), EngineError> {
        let start = Instant::now();
        let n = row.len();
        let inputs = self.world.search_inputs(&req.query, n);
        let params = req.params();
        let result = if req.method == Method::Exact {
            // Exact search is the verification pass below, streamed.
            SearchResult::default()
        } else {
            let mut scorer = CeScorer::new(model, &self.world.texts, query, cancel, row);
            match approx::search(&inputs, &params, &mut scorer) {
                Ok(r) => r,
                Err(ApproxError::Cancelled) => {
                    return Ok((Ended::Cancelled, Arc::new(SearchResult::default())))
                }
                Err(e) => return Err(search_error(e)),
            }
        };
        let result = Arc::new(result);
        // Every score known now, computed by this search or remembered from an earlier
        // one: sent once here, never again in the verification stream.
        let scored: Vec<(usize, PairScore)> = row
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        self.send(Event::Approximate {
            job,
            query: req.query.clone(),
            result: result.clone(),
            scored,
            seconds: start.elapsed().as_secs_f64(),
        });
        let ended = if !(req.verify_exact || req.method == Method::Exact) {
            Ended::Completed
        } else if !self.verify_exact(job, cancel, model, query, row)? {
            Ended::Cancelled
        } else {
            self.send_recall_curves(job, req, row);
            Ended::Completed
        };
        Ok((ended, result))
    }

    /// Scores every item not yet known, streaming batches. Returns false if cancelled.
    fn verify_exact(
        &self,
        job: JobId,
        cancel: &CancelToken,
        model: &dyn PairModel,
        query: &crate::model::PreparedQuery,
        row: &mut [Option<PairScore>],
    ) -> Result<bool, EngineError> {
        let n = row.len();
        let todo: Vec<usize> = (0..n).filter(|&i| row[i].is_none()).collect();
        if todo.is_empty() {
            return Ok(true);
        }
        let mut done = n - todo.len();
        let texts: Vec<&str> = todo.iter().map(|&i| self.world.texts[i].as_str()).collect();
        let start = Instant::now();
        let res = model.score_prepared(query, &texts, &ScoreOptions::default(), &mut |batch, p| {
            let mapped: Vec<(usize, PairScore)> =
                batch.iter().map(|&(k, s)| (todo[k], s)).collect();
            for &(i, s) in &mapped {
                row[i] = Some(s);
            }
            done += batch.len();
            self.send(Event::Exact {
                job,
                scores: mapped,
                done,
                total: n,
                pairs_per_second: p.done as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
            if cancel.is_cancelled() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match res {
            Ok(()) => Ok(true),
            Err(ModelError::Cancelled) => Ok(false),
            Err(e) => Err(model_error(e)),
        }
    }

    /// Recall@k against CE calls for every method on this query, now that all exact
    /// scores are known.
    fn send_recall_curves(&self, job: JobId, req: &SearchRequest, row: &[Option<PairScore>]) {
        let exact: Vec<f32> = row
            .iter()
            .map(|s| s.map_or(f32::NEG_INFINITY, |s| s.logit))
            .collect();
        let (k, curves) = self.recall_curves(&req.query, &req.params(), &exact);
        self.send(Event::RecallCurves { job, k, curves });
    }

    fn item_convergence(&mut self, item: usize) -> Result<(), EngineError> {
        let (Some(idx), Some(result)) = (
            self.world.index.as_ref().and_then(|i| i.dense()),
            &self.last_search,
        ) else {
            return Ok(());
        };
        if result.anchor_items.is_empty() {
            return Ok(());
        }
        let step = (result.anchor_items.len() / 20).max(1);
        let points = idx
            .item_convergence(&result.anchor_items, &result.anchor_scores, item, step)
            .map_err(search_error)?;
        self.send(Event::ItemConvergence { item, points });
        Ok(())
    }

    fn build_index(
        &mut self,
        job: JobId,
        cancel: &CancelToken,
        anchor_queries: Option<&Path>,
        k_q: usize,
        out: &Path,
        sparse: bool,
    ) -> JobResult {
        let items = self.world.items.clone().ok_or(EngineError::NoItems)?;
        let anchors = anchor_list(anchor_queries, &items, k_q)?;
        let plan = if sparse {
            Some(self.world.sparse_plan(&anchors)?)
        } else {
            None
        };
        let model = self.world.model.as_deref().ok_or(EngineError::NoModel)?;
        let (_, items_stamp) = self.world.stamps().ok_or(EngineError::NoItems)?;
        let build_job = index::BuildJob {
            texts: &self.world.texts,
            items: &items_stamp,
            anchors: &anchors,
            dtype: StoreDtype::F16,
            item_template: &model.info().item_template,
        };
        let mut spec = build_job.spec(model, 0..anchors.len(), None);
        spec.sparse = plan;
        let tx = self.tx.clone();
        let wake = &self.wake;
        let built = index::build(spec, out, true, &mut |p| {
            let _ = tx.send(Event::Progress {
                job,
                label: format!("index row {}/{}", p.rows_done + 1, p.k_q),
                done: p.rows_done * p.n_items + p.pairs_done,
                total: p.k_q * p.n_items,
            });
            wake();
            if cancel.is_cancelled() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let manifest = match built {
            Ok(m) => m,
            // The finished rows are on disk; building again resumes after them.
            Err(_) if cancel.is_cancelled() => return Ok(Ended::Cancelled),
            Err(e) => return Err(EngineError::Index(e.to_string())),
        };
        let summary = summary_of(out, &manifest);
        self.load_index(out)?;
        self.send(Event::IndexBuilt(summary));
        Ok(Ended::Completed)
    }
}

fn summary_of(dir: &Path, m: &index::Manifest) -> IndexSummary {
    IndexSummary {
        dir: dir.to_path_buf(),
        k_q: m.k_q,
        n_items: m.n_items,
        pseudo_queries: m.pseudo_queries,
        sparse_per_row: m.sparse.as_ref().map(|s| s.per_row),
    }
}

/// Anchor queries from a file, or `k_q` item texts sampled as pseudo-queries.
fn anchor_list(
    path: Option<&Path>,
    items: &ItemsSnapshot,
    k_q: usize,
) -> Result<Vec<AnchorQuery>, EngineError> {
    match path {
        Some(p) => index::anchor_queries_from_file(p, Some(k_q))
            .map_err(|e| EngineError::Index(e.to_string())),
        None => Ok(index::pseudo_queries(&items.items, k_q)),
    }
}
