//! The engine's job policy with a fake model: every job finishes exactly once, newer
//! searches and loads supersede older work, cancellation stops a running job, a panic
//! in a job is survived, and a dead worker is reported instead of hanging the caller.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::approx::Method;
use crate::model::DeviceSpec;
use crate::model::{
    Activation, BatchSink, InputMode, ModelInfo, PairScore, Pooling, PreparedQuery, ScoreOptions,
    ScoreProgress, Truncation,
};

/// Scores an item by the number of characters it shares with the query, a few items at
/// a time with a pause between batches, and panics on the query "boom".
struct FakeModel {
    info: ModelInfo,
    pause: Duration,
    calls: Arc<AtomicUsize>,
}

fn fake_info() -> ModelInfo {
    ModelInfo {
        name: "fake".into(),
        family: crate::model::Family::Bert,
        source: "memory".into(),
        pooling: Pooling::Cls,
        input_mode: InputMode::Pair,
        activation: Activation::Identity,
        num_labels: 1,
        label: 0,
        max_length: 64,
        hidden_size: 1,
        layers: 1,
        parameters: 0,
        fingerprint: "fake-fingerprint".into(),
        item_template: "{title} {text}".into(),
        untitled_item_template: crate::items::UNTITLED_TEMPLATE.into(),
        mention_markers: None,
        device: "cpu".into(),
    }
}

impl PairModel for FakeModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn prepare(&self, query: &str) -> Result<PreparedQuery, ModelError> {
        Ok(PreparedQuery::plain(query))
    }

    fn score_prepared(
        &self,
        query: &PreparedQuery,
        items: &[&str],
        _opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        if query.text() == "boom" {
            panic!("the fake model was asked to fail");
        }
        let mut done = 0;
        for chunk in (0..items.len()).collect::<Vec<_>>().chunks(4) {
            std::thread::sleep(self.pause);
            self.calls.fetch_add(chunk.len(), Ordering::SeqCst);
            let batch: Vec<(usize, PairScore)> = chunk
                .iter()
                .map(|&i| {
                    let shared = items[i]
                        .chars()
                        .filter(|c| query.text().contains(*c))
                        .count();
                    (
                        i,
                        PairScore {
                            logit: shared as f32,
                            activation: shared as f64,
                            tokens: items[i].len(),
                            truncation: Truncation::default(),
                        },
                    )
                })
                .collect();
            done += batch.len();
            let progress = ScoreProgress {
                done,
                total: items.len(),
            };
            if on_batch(&batch, progress) == ControlFlow::Break(()) {
                return Err(ModelError::Cancelled);
            }
        }
        Ok(())
    }
}

fn loader(pause: Duration, calls: Arc<AtomicUsize>) -> ModelLoader {
    Box::new(move |spec, _device| {
        if spec == "missing" {
            return Err(ModelError::Input {
                message: "no such model: missing".into(),
            });
        }
        Ok(Box::new(FakeModel {
            info: fake_info(),
            pause,
            calls: calls.clone(),
        }) as Box<dyn PairModel>)
    })
}

struct World {
    _dir: tempfile::TempDir,
    items: std::path::PathBuf,
    other_items: std::path::PathBuf,
    dir: std::path::PathBuf,
}

fn world(n: usize) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, salt: &str| {
        let p = dir.path().join(name);
        let text: String = (0..n)
            .map(|i| {
                format!(
                    "{{\"id\":\"i{i}\",\"text\":\"item {salt} {i} {}\"}}\n",
                    "xyz".repeat(i % 5)
                )
            })
            .collect();
        std::fs::write(&p, text).expect("write items");
        p
    };
    World {
        items: write("items.jsonl", "a"),
        other_items: write("other.jsonl", "b"),
        dir: dir.path().to_path_buf(),
        _dir: dir,
    }
}

fn engine(pause_ms: u64) -> (EngineHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let e = EngineHandle::spawn_with(
        loader(Duration::from_millis(pause_ms), calls.clone()),
        Box::new(|| {}),
    );
    (e, calls)
}

/// Collects events until every job in `jobs` has finished; panics after 30 s.
fn run_until_finished(e: &mut EngineHandle, jobs: &[JobId]) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    let finished = |events: &[Event]| {
        jobs.iter().all(|j| {
            events
                .iter()
                .any(|ev| matches!(ev, Event::JobFinished { job, .. } if job == j))
        })
    };
    while !finished(&events) {
        assert!(
            Instant::now() < deadline,
            "jobs {jobs:?} did not finish: {events:#?}"
        );
        if let Some(ev) = e.recv_timeout(Duration::from_millis(100)) {
            events.push(ev);
        }
    }
    events
}

fn outcome(events: &[Event], job: JobId) -> JobOutcome {
    let mut found: Vec<&JobOutcome> = events
        .iter()
        .filter_map(|ev| match ev {
            Event::JobFinished {
                job: j, outcome, ..
            } if *j == job => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "job {job} finished {} times", found.len());
    found.remove(0).clone()
}

fn search(query: &str, method: Method, verify_exact: bool) -> Request {
    Request::Search(SearchRequest {
        query: query.into(),
        method,
        budget: 20,
        k_i: 10,
        top_k: 5,
        seed: 0,
        verify_exact,
    })
}

fn loaded(e: &mut EngineHandle, w: &World) {
    let a = e
        .submit(Request::LoadModel {
            spec: "fake".into(),
            device: DeviceSpec::Cpu,
        })
        .unwrap();
    let b = e
        .submit(Request::LoadItems {
            path: w.items.clone(),
        })
        .unwrap();
    let ev = run_until_finished(e, &[a, b]);
    assert_eq!(outcome(&ev, a), JobOutcome::Completed);
    assert_eq!(outcome(&ev, b), JobOutcome::Completed);
}

#[test]
fn a_newer_search_supersedes_a_pending_one_and_both_finish_once() {
    let w = world(400);
    let (mut e, _) = engine(5);
    loaded(&mut e, &w);
    let first = e.submit(search("item a", Method::Random, true)).unwrap();
    let second = e.submit(search("item b", Method::Random, true)).unwrap();
    assert!(second > first);
    let ev = run_until_finished(&mut e, &[first, second]);
    assert_eq!(outcome(&ev, first), JobOutcome::Cancelled);
    assert_eq!(outcome(&ev, second), JobOutcome::Completed);
    // The superseded search produced no exact stream; the live one streamed all items.
    let exact_of = |job: JobId| {
        ev.iter()
            .filter_map(|x| match x {
                Event::Exact { job: j, scores, .. } if *j == job => Some(scores.len()),
                _ => None,
            })
            .sum::<usize>()
    };
    let approx_of = |job: JobId| {
        ev.iter()
            .find_map(|x| match x {
                Event::Approximate { job: j, scored, .. } if *j == job => Some(scored.len()),
                _ => None,
            })
            .unwrap_or(0)
    };
    assert_eq!(
        approx_of(second) + exact_of(second),
        400,
        "each score sent exactly once"
    );
    assert!(exact_of(first) < 400);
    assert!(!e.is_busy());
}

#[test]
fn cancel_stops_a_running_search_at_its_next_batch() {
    let w = world(2000);
    let (mut e, calls) = engine(10);
    loaded(&mut e, &w);
    let job = e.submit(search("item", Method::Exact, true)).unwrap();
    // Wait for the first streamed batch, then cancel.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no exact batch arrived");
        if let Some(Event::Exact { .. }) = e.recv_timeout(Duration::from_millis(100)) {
            break;
        }
    }
    e.cancel();
    let ev = run_until_finished(&mut e, &[job]);
    assert_eq!(outcome(&ev, job), JobOutcome::Cancelled);
    let scored = calls.load(Ordering::SeqCst);
    assert!(
        scored < 2000,
        "stopped early: {scored} of 2000 pairs scored"
    );
}

#[test]
fn a_load_supersedes_pending_searches_but_not_other_loads() {
    let w = world(300);
    let (mut e, _) = engine(5);
    loaded(&mut e, &w);
    let s = e.submit(search("item", Method::Exact, true)).unwrap();
    let load = e
        .submit(Request::LoadItems {
            path: w.other_items.clone(),
        })
        .unwrap();
    let model = e
        .submit(Request::LoadModel {
            spec: "fake".into(),
            device: DeviceSpec::Cpu,
        })
        .unwrap();
    let ev = run_until_finished(&mut e, &[s, load, model]);
    assert_eq!(outcome(&ev, s), JobOutcome::Cancelled);
    assert_eq!(outcome(&ev, load), JobOutcome::Completed);
    assert_eq!(outcome(&ev, model), JobOutcome::Completed);
}

#[test]
fn failures_are_typed_and_name_what_is_missing() {
    let w = world(50);
    let (mut e, _) = engine(0);
    // (A load supersedes pending searches, so the failed load goes first.)
    let bad_model = e
        .submit(Request::LoadModel {
            spec: "missing".into(),
            device: DeviceSpec::Cpu,
        })
        .unwrap();
    let no_items = e.submit(search("x", Method::Random, false)).unwrap();
    let ev = run_until_finished(&mut e, &[no_items, bad_model]);
    assert_eq!(
        outcome(&ev, no_items),
        JobOutcome::Failed(EngineError::NoItems)
    );
    match outcome(&ev, bad_model) {
        JobOutcome::Failed(EngineError::Model(m)) => assert!(m.contains("missing"), "{m}"),
        other => panic!("expected a model error, got {other:?}"),
    }
    loaded(&mut e, &w);
    let needs_index = e.submit(search("x", Method::Anncur, false)).unwrap();
    let ev = run_until_finished(&mut e, &[needs_index]);
    assert_eq!(
        outcome(&ev, needs_index),
        JobOutcome::Failed(EngineError::NeedsIndex {
            method: Method::Anncur
        })
    );
}

#[test]
fn a_panicking_job_fails_and_the_worker_runs_on() {
    let w = world(40);
    let (mut e, _) = engine(0);
    loaded(&mut e, &w);
    let boom = e.submit(search("boom", Method::Random, false)).unwrap();
    let ev = run_until_finished(&mut e, &[boom]);
    match outcome(&ev, boom) {
        JobOutcome::Failed(EngineError::Panicked(m)) => assert!(m.contains("asked to fail"), "{m}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    let next = e.submit(search("item", Method::Random, false)).unwrap();
    let ev = run_until_finished(&mut e, &[next]);
    assert_eq!(outcome(&ev, next), JobOutcome::Completed);
}

#[test]
fn a_dead_worker_is_reported_once_and_nothing_stays_busy() {
    let w = world(40);
    let calls = Arc::new(AtomicUsize::new(0));
    // The wake callback runs outside any job: a panic there ends the worker thread.
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    let mut e = EngineHandle::spawn_with(
        loader(Duration::ZERO, calls),
        Box::new(move || {
            if counter.fetch_add(1, Ordering::SeqCst) >= 2 {
                panic!("wake failed");
            }
        }),
    );
    e.submit(Request::LoadModel {
        spec: "fake".into(),
        device: DeviceSpec::Cpu,
    });
    e.submit(Request::LoadItems {
        path: w.items.clone(),
    });
    e.submit(search("item", Method::Random, false));
    let deadline = Instant::now() + Duration::from_secs(30);
    let reason = loop {
        assert!(
            Instant::now() < deadline,
            "the engine's end was never reported"
        );
        match e.poll() {
            Some(Event::EngineStopped { reason }) => break reason,
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert!(reason.contains("wake failed"), "{reason}");
    assert!(e.is_stopped());
    assert!(!e.is_busy(), "no job waits on a dead worker");
    assert!(e.poll().is_none(), "reported once");
    // Submitting after the end neither blocks nor panics.
    e.submit(search("item", Method::Random, false));
    assert!(e.poll().is_none());
}

#[test]
fn an_index_that_stops_matching_is_unloaded_with_an_event() {
    let w = world(60);
    let (mut e, _) = engine(0);
    loaded(&mut e, &w);
    let out = w.dir.join("index");
    let build = e
        .submit(Request::BuildIndex {
            anchor_queries: None,
            k_q: 8,
            out: out.clone(),
            sparse: false,
        })
        .unwrap();
    let ev = run_until_finished(&mut e, &[build]);
    assert_eq!(outcome(&ev, build), JobOutcome::Completed);
    assert!(ev
        .iter()
        .any(|x| matches!(x, Event::IndexBuilt(s) if s.k_q == 8 && s.n_items == 60)));
    let anncur = e.submit(search("item", Method::Anncur, false)).unwrap();
    let ev = run_until_finished(&mut e, &[anncur]);
    assert_eq!(outcome(&ev, anncur), JobOutcome::Completed);
    let other = e
        .submit(Request::LoadItems {
            path: w.other_items.clone(),
        })
        .unwrap();
    let ev = run_until_finished(&mut e, &[other]);
    let reason = ev
        .iter()
        .find_map(|x| match x {
            Event::IndexUnloaded { reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("an IndexUnloaded event");
    assert!(reason.contains("item"), "{reason}");
    let anncur = e.submit(search("item", Method::Anncur, false)).unwrap();
    let ev = run_until_finished(&mut e, &[anncur]);
    assert_eq!(
        outcome(&ev, anncur),
        JobOutcome::Failed(EngineError::NeedsIndex {
            method: Method::Anncur
        })
    );
}

// The explorer's jobs (comparison, explanation, query sets).
mod explore;

/// The engine builds a sparse index on request; AXN searches it, ANNCUR is refused with
/// a message that says the index is sparse.
#[test]
fn a_sparse_index_built_by_the_engine_serves_axn_only() {
    let w = world(300);
    let (mut e, _) = engine(0);
    loaded(&mut e, &w);
    let build = e
        .submit(Request::BuildIndex {
            anchor_queries: None,
            k_q: 6,
            out: w.dir.join("sparse"),
            sparse: true,
        })
        .unwrap();
    let ev = run_until_finished(&mut e, &[build]);
    assert_eq!(outcome(&ev, build), JobOutcome::Completed);
    let axn = e.submit(search("item", Method::Axn, false)).unwrap();
    let ev = run_until_finished(&mut e, &[axn]);
    assert_eq!(outcome(&ev, axn), JobOutcome::Completed);
    let anncur = e.submit(search("item", Method::Anncur, false)).unwrap();
    let ev = run_until_finished(&mut e, &[anncur]);
    match outcome(&ev, anncur) {
        JobOutcome::Failed(err) => assert!(err.to_string().contains("sparse"), "{err}"),
        other => panic!("ANNCUR on a sparse index: {other:?}"),
    }
}
