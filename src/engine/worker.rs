//! The worker thread's loop: owns the model, items and index, runs one job at a time.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use super::scorer::CeScorer;
use super::{
    DemoQuery, Event, ExactCache, IndexSummary, ItemsSnapshot, JobId, RecallCurve, Request,
    SearchRequest,
};
use crate::approx::{
    adacur_search, anncur_search, exact_search, metrics, random_search, tfidf_search, AdacurParams,
    AnchorStrategy, AnncurParams, MatrixRowScorer, Method, SearchResult, TfIdfIndex,
};
use crate::index::{self, AnchorQuery, ItemsStamp, LoadedIndex, ModelStamp, StoreDtype};
use crate::items;
use crate::model::{CrossEncoder, LoadOptions, ModelError, PairScore, ScoreOptions};

/// Bound of the exact-score cache, in pair scores (~40 bytes each: ~80 MB).
const CACHE_SCORES: usize = 2_000_000;

struct Worker {
    tx: Sender<Event>,
    generation: Arc<AtomicU64>,
    wake: Box<dyn Fn() + Send>,
    model: Option<CrossEncoder>,
    items: Option<Arc<ItemsSnapshot>>,
    /// Item texts as the model sees them (the model's template applied).
    texts: Vec<String>,
    index: Option<LoadedIndex>,
    tfidf: Option<TfIdfIndex>,
    cache: ExactCache,
    /// The last approximate search (for per-item plots).
    last_search: Option<(String, SearchResult)>,
}

pub(super) fn run(
    rx: Receiver<(JobId, Request)>,
    tx: Sender<Event>,
    generation: Arc<AtomicU64>,
    wake: Box<dyn Fn() + Send>,
) {
    let mut w = Worker {
        tx,
        generation,
        wake,
        model: None,
        items: None,
        texts: Vec::new(),
        index: None,
        tfidf: None,
        cache: ExactCache::new(CACHE_SCORES),
        last_search: None,
    };
    while let Ok((job, request)) = rx.recv() {
        if matches!(request, Request::Shutdown) {
            break;
        }
        // A job already superseded before it started is skipped.
        let is_job = !matches!(request, Request::ItemConvergence { .. });
        if is_job && w.superseded(job) {
            continue;
        }
        let result = w.handle(job, request);
        if let Err(message) = result {
            w.send(Event::Error {
                job: Some(job),
                message,
            });
        }
    }
}

type JobResult = Result<(), String>;

impl Worker {
    fn send(&self, event: Event) {
        let _ = self.tx.send(event);
        (self.wake)();
    }

    fn superseded(&self, job: JobId) -> bool {
        self.generation.load(Ordering::SeqCst) != job
    }

    fn handle(&mut self, job: JobId, request: Request) -> JobResult {
        match request {
            Request::LoadModel { spec } => self.load_model(&spec),
            Request::LoadItems { path } => self.load_items(job, &path),
            Request::LoadIndex { dir } => self.load_index(&dir),
            Request::LoadDemo => self.load_demo(job),
            Request::Search(req) => self.search(job, req),
            Request::ItemConvergence { item } => self.item_convergence(item),
            Request::BuildIndex {
                anchor_queries,
                k_q,
                out,
            } => self.build_index(job, anchor_queries.as_deref(), k_q, &out),
            Request::Shutdown => Ok(()),
        }
    }

    fn load_model(&mut self, spec: &str) -> JobResult {
        let model = CrossEncoder::load(spec, &LoadOptions::default()).map_err(|e| e.to_string())?;
        let info = model.info().clone();
        self.model = Some(model);
        self.refresh_texts();
        // An index belongs to one model: keep it only if it still matches.
        self.recheck_index();
        self.send(Event::ModelLoaded(Box::new(info)));
        Ok(())
    }

    fn load_items(&mut self, job: JobId, path: &Path) -> JobResult {
        let generation = self.generation.clone();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let tx = self.tx.clone();
        let mut last = Instant::now();
        let wake = &self.wake;
        let list = items::load_items_with_progress(
            path,
            &items::LoadOptions::default(),
            &mut |done, total| {
                if generation.load(Ordering::SeqCst) != job {
                    cancel.store(true, Ordering::SeqCst);
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
            &cancel,
        )
        .map_err(|e| e.to_string())?;
        let fingerprint = items::fingerprint(&list.items);
        let snapshot = Arc::new(ItemsSnapshot {
            path: list.path,
            items: list.items,
            report: list.report,
            fingerprint,
        });
        self.items = Some(snapshot.clone());
        self.tfidf = None;
        self.last_search = None;
        self.refresh_texts();
        self.recheck_index();
        self.send(Event::ItemsLoaded(snapshot));
        Ok(())
    }

    fn refresh_texts(&mut self) {
        if let (Some(model), Some(items)) = (&self.model, &self.items) {
            let template = model.info().item_template.clone();
            self.texts = items.items.iter().map(|it| it.ce_text(&template)).collect();
        }
    }

    fn stamps(&self) -> Option<(ModelStamp, ItemsStamp)> {
        let (model, items) = (self.model.as_ref()?, self.items.as_ref()?);
        Some((
            ModelStamp {
                name: model.info().name.clone(),
                fingerprint: model.info().fingerprint.clone(),
            },
            ItemsStamp {
                source: items.path.display().to_string(),
                count: items.items.len(),
                fingerprint: items.fingerprint.clone(),
            },
        ))
    }

    /// Drops the index when the model or items it was built for are no longer loaded.
    fn recheck_index(&mut self) {
        let Some(idx) = &self.index else { return };
        let Some((m, i)) = self.stamps() else { return };
        if let Err(e) = idx.manifest.check_matches(&idx.dir, &m, &i) {
            self.index = None;
            self.send(Event::Error {
                job: None,
                message: format!("index unloaded: {e}"),
            });
        }
    }

    fn load_index(&mut self, dir: &Path) -> JobResult {
        let (m, i) = self
            .stamps()
            .ok_or("load a model and an item list before an index")?;
        let loaded = index::load(dir, &m, &i).map_err(|e| e.to_string())?;
        let summary = IndexSummary {
            dir: dir.to_path_buf(),
            k_q: loaded.manifest.k_q,
            n_items: loaded.manifest.n_items,
            pseudo_queries: loaded.manifest.pseudo_queries,
        };
        self.index = Some(loaded);
        self.send(Event::IndexLoaded(summary));
        Ok(())
    }

    fn load_demo(&mut self, job: JobId) -> JobResult {
        let model_dir = crate::assets::default_model_dir();
        self.load_model(&model_dir.display().to_string())?;
        let demo = crate::assets::demo_dir();
        self.load_items(job, &demo.join("items.jsonl"))?;
        let index_dir = demo.join("index");
        if index_dir.join("manifest.json").exists() {
            self.load_index(&index_dir)?;
        }
        let queries = demo.join("test_queries.jsonl");
        if queries.exists() {
            let set = items::load_queries(&queries, &items::LoadOptions::default())
                .map_err(|e| e.to_string())?;
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
        Ok(())
    }

    fn search(&mut self, job: JobId, req: SearchRequest) -> JobResult {
        let model = self.model.as_ref().ok_or("no model loaded")?;
        let items = self.items.clone().ok_or("no items loaded")?;
        let n = items.items.len();
        if n == 0 {
            return Err("the item list is empty".into());
        }
        let key_model = model.info().fingerprint.clone();
        let known: Option<Vec<Option<PairScore>>> = self
            .cache
            .get(&key_model, &items.fingerprint, &req.query)
            .cloned();
        let start = Instant::now();
        let top_k = req.top_k.max(1);
        let mut scorer = CeScorer {
            model,
            texts: &self.texts,
            query: &req.query,
            generation: &self.generation,
            job,
            known: known.as_deref(),
            scored: Vec::new(),
        };
        let needs_index = || {
            self.index.as_ref().map(|i| &i.cur).ok_or_else(|| {
                format!(
                    "{} needs an index: build or load one first",
                    req.method.name()
                )
            })
        };
        let result = match req.method {
            Method::Exact => Ok(SearchResult::default()),
            Method::Anncur => anncur_search(
                needs_index()?,
                &mut scorer,
                &AnncurParams {
                    k_i: req.k_i.min(req.budget),
                    budget: req.budget,
                    top_k,
                    strategy: AnchorStrategy::Random,
                    seed: req.seed,
                },
            ),
            Method::Adacur => adacur_search(
                needs_index()?,
                &mut scorer,
                &AdacurParams {
                    budget: req.budget,
                    top_k,
                    seed: req.seed,
                    ..AdacurParams::default()
                },
            ),
            Method::Tfidf => {
                if self.tfidf.is_none() {
                    let texts: Vec<String> = items
                        .items
                        .iter()
                        .map(|it| it.ce_text("{title} {text}"))
                        .collect();
                    self.tfidf = Some(TfIdfIndex::build(&texts).map_err(|e| e.to_string())?);
                }
                let tfidf = self.tfidf.as_ref().ok_or("TF-IDF index missing")?;
                tfidf_search(tfidf, &req.query, &mut scorer, req.budget.min(n), top_k)
            }
            Method::Random => random_search(n, &mut scorer, req.budget.min(n), top_k, req.seed),
        };
        if scorer.cancelled() {
            self.cache_scores(&req.query, &scorer.scored);
            self.send(Event::JobFinished {
                job,
                cancelled: true,
            });
            return Ok(());
        }
        let result = result.map_err(|e| e.to_string())?;
        let scored = std::mem::take(&mut scorer.scored);
        drop(scorer);
        self.cache_scores(&req.query, &scored);
        self.send(Event::Approximate {
            job,
            query: req.query.clone(),
            result: Box::new(result.clone()),
            scored,
            seconds: start.elapsed().as_secs_f64(),
        });
        self.last_search = Some((req.query.clone(), result));
        if req.verify_exact || req.method == Method::Exact {
            let complete = self.verify_exact(job, &req.query)?;
            if complete {
                self.send_recall_curves(job, &req);
            }
            self.send(Event::JobFinished {
                job,
                cancelled: !complete,
            });
        } else {
            self.send(Event::JobFinished {
                job,
                cancelled: false,
            });
        }
        Ok(())
    }

    fn cache_scores(&mut self, query: &str, scored: &[(usize, PairScore)]) {
        if let (Some(model), Some(items)) = (&self.model, &self.items) {
            let fp = model.info().fingerprint.clone();
            self.cache
                .insert(&fp, &items.fingerprint, query, items.items.len(), scored);
        }
    }

    /// Scores every item not yet known, streaming batches. Returns false if cancelled.
    fn verify_exact(&mut self, job: JobId, query: &str) -> Result<bool, String> {
        let model = self.model.as_ref().ok_or("no model loaded")?;
        let items = self.items.clone().ok_or("no items loaded")?;
        let n = items.items.len();
        let fp = model.info().fingerprint.clone();
        let known = self
            .cache
            .get(&fp, &items.fingerprint, query)
            .cloned()
            .unwrap_or_else(|| vec![None; n]);
        let already: Vec<(usize, PairScore)> = known
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        let todo: Vec<usize> = (0..n).filter(|&i| known[i].is_none()).collect();
        let mut done = already.len();
        self.send(Event::Exact {
            job,
            scores: already,
            done,
            total: n,
            pairs_per_second: 0.0,
        });
        if todo.is_empty() {
            return Ok(true);
        }
        let texts: Vec<&str> = todo.iter().map(|&i| self.texts[i].as_str()).collect();
        let pairs = model.encode(query, &texts).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut fresh: Vec<(usize, PairScore)> = Vec::with_capacity(todo.len());
        let generation = self.generation.clone();
        let tx = self.tx.clone();
        let wake = &self.wake;
        let res = model.score_encoded(&pairs, &ScoreOptions::default(), &mut |batch, p| {
            let mapped: Vec<(usize, PairScore)> =
                batch.iter().map(|&(k, s)| (todo[k], s)).collect();
            fresh.extend_from_slice(&mapped);
            done += batch.len();
            let _ = tx.send(Event::Exact {
                job,
                scores: mapped,
                done,
                total: n,
                pairs_per_second: p.done as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
            wake();
            if generation.load(Ordering::SeqCst) != job {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        self.cache_scores(query, &fresh);
        match res {
            Ok(()) => Ok(true),
            Err(ModelError::Cancelled) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Recall@k against CE calls for every method on this query, now that all exact
    /// scores are known (each point re-runs the method on the exact row: no CE calls).
    fn send_recall_curves(&mut self, job: JobId, req: &SearchRequest) {
        let (Some(model), Some(items)) = (&self.model, &self.items) else {
            return;
        };
        let fp = model.info().fingerprint.clone();
        let Some(row) = self.cache.get(&fp, &items.fingerprint, &req.query) else {
            return;
        };
        let exact: Vec<f32> = row
            .iter()
            .map(|s| s.map_or(f32::NEG_INFINITY, |s| s.logit))
            .collect();
        let n = exact.len();
        let k = req.top_k.clamp(1, 100).min(n);
        let budgets: Vec<usize> = [10, 20, 50, 100, 200, 300, 500, 1000, 2000]
            .into_iter()
            .filter(|&b| b <= n)
            .collect();
        let mut curves = Vec::new();
        let run = |method: Method, budget: usize| -> Option<SearchResult> {
            let mut sc = MatrixRowScorer::from_slice(&exact);
            match method {
                Method::Anncur => {
                    let idx = &self.index.as_ref()?.cur;
                    let k_i = req.k_i.min(budget / 2).max(1).min(idx.k_q());
                    anncur_search(
                        idx,
                        &mut sc,
                        &AnncurParams {
                            k_i,
                            budget,
                            top_k: k,
                            strategy: AnchorStrategy::Random,
                            seed: req.seed,
                        },
                    )
                    .ok()
                }
                Method::Adacur => adacur_search(
                    &self.index.as_ref()?.cur,
                    &mut sc,
                    &AdacurParams {
                        budget,
                        top_k: k,
                        seed: req.seed,
                        ..AdacurParams::default()
                    },
                )
                .ok(),
                Method::Tfidf => {
                    tfidf_search(self.tfidf.as_ref()?, &req.query, &mut sc, budget, k).ok()
                }
                Method::Random => random_search(n, &mut sc, budget, k, req.seed).ok(),
                Method::Exact => exact_search(n, &mut sc, k).ok(),
            }
        };
        for method in [
            Method::Anncur,
            Method::Adacur,
            Method::Tfidf,
            Method::Random,
        ] {
            let points: Vec<(usize, f64)> = budgets
                .iter()
                .filter_map(|&b| {
                    let r = run(method, b)?;
                    let returned: Vec<usize> = r.ranking.iter().map(|x| x.item).collect();
                    Some((r.ce_calls, metrics::top_k_recall(&returned, &exact, k)))
                })
                .collect();
            if !points.is_empty() {
                curves.push(RecallCurve { method, points });
            }
        }
        self.send(Event::RecallCurves { job, k, curves });
    }

    fn item_convergence(&mut self, item: usize) -> JobResult {
        let (Some(idx), Some((_, result))) = (&self.index, &self.last_search) else {
            return Ok(());
        };
        if result.anchor_items.is_empty() {
            return Ok(());
        }
        let step = (result.anchor_items.len() / 20).max(1);
        let points = idx
            .cur
            .item_convergence(&result.anchor_items, &result.anchor_scores, item, step)
            .map_err(|e| e.to_string())?;
        self.send(Event::ItemConvergence { item, points });
        Ok(())
    }

    fn build_index(
        &mut self,
        job: JobId,
        anchor_queries: Option<&Path>,
        k_q: usize,
        out: &Path,
    ) -> JobResult {
        let model = self.model.as_ref().ok_or("no model loaded")?;
        let items = self.items.clone().ok_or("no items loaded")?;
        let anchors = anchor_list(anchor_queries, &items, k_q)?;
        let (_, items_stamp) = self.stamps().ok_or("no items loaded")?;
        let spec = index::BuildSpec {
            model,
            texts: &self.texts,
            items: items_stamp,
            anchors,
            dtype: StoreDtype::F16,
            item_template: model.info().item_template.clone(),
        };
        let generation = self.generation.clone();
        let tx = self.tx.clone();
        let wake = &self.wake;
        let manifest = index::build(spec, out, true, &mut |p| {
            let _ = tx.send(Event::Progress {
                job,
                label: format!("index row {}/{}", p.rows_done + 1, p.k_q),
                done: p.rows_done * p.n_items + p.pairs_done,
                total: p.k_q * p.n_items,
            });
            wake();
            if generation.load(Ordering::SeqCst) != job {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(|e| e.to_string())?;
        let summary = IndexSummary {
            dir: out.to_path_buf(),
            k_q: manifest.k_q,
            n_items: manifest.n_items,
            pseudo_queries: manifest.pseudo_queries,
        };
        self.load_index(out)?;
        self.send(Event::IndexBuilt(summary));
        self.send(Event::JobFinished {
            job,
            cancelled: false,
        });
        Ok(())
    }
}

/// Anchor queries from a file, or `k_q` item texts sampled as pseudo-queries.
fn anchor_list(
    path: Option<&Path>,
    items: &ItemsSnapshot,
    k_q: usize,
) -> Result<Vec<AnchorQuery>, String> {
    match path {
        Some(p) => index::anchor_queries_from_file(p, Some(k_q)).map_err(|e| e.to_string()),
        None => Ok(index::pseudo_queries(&items.items, k_q)),
    }
}
