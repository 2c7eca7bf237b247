//! Batched scoring: pairs sorted by length, padded per batch (dynamic padding) under a
//! token budget, scored batch by batch with progress, streaming and cancellation.

use std::ops::ControlFlow;

use rayon::prelude::*;
use serde::Serialize;

use super::encoder::Encoder;
use super::heads::ScoreHead;
use super::{CrossEncoder, ModelError, Runner};
use crate::model::families::bert::{batch_tensors, OutputRows};
use crate::model::families::bert_device::{DeviceBert, HostBatch};
use crate::model::input::pair::{EncodedPair, Truncation};

/// One scored pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairScore {
    /// The raw logit: the ranked quantity.
    pub logit: f32,
    /// The model's activation of the logit (e.g. sigmoid), in f64, for display.
    pub activation: f64,
    /// Tokens the model attended to.
    pub tokens: usize,
    pub truncation: Truncation,
}

/// Batching knobs. The defaults keep a batch's padded size near 8k tokens, where the
/// GEMMs are large enough to run at full speed and the attention scores stay in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreOptions {
    /// Upper bound on batch_size × longest pair in the batch.
    pub max_batch_tokens: usize,
    /// Upper bound on pairs per batch.
    pub max_batch_size: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            max_batch_tokens: 8192,
            max_batch_size: 128,
        }
    }
}

impl ScoreOptions {
    /// A GPU's defaults: batches of up to 1,024 pairs and 64k padded tokens, large enough
    /// that cuBLAS runs at full width while a long batch's attention scores (B × heads ×
    /// L × L) stay well under a gigabyte.
    pub const GPU: ScoreOptions = ScoreOptions {
        max_batch_tokens: 65536,
        max_batch_size: 1024,
    };
}

/// Receives each finished batch as `(input index, score)` pairs with the progress;
/// returning `Break` cancels the scoring.
pub type BatchSink<'a> = dyn FnMut(&[(usize, PairScore)], ScoreProgress) -> ControlFlow<()> + 'a;

/// Reported after each batch.
#[derive(Debug, Clone, Copy)]
pub struct ScoreProgress {
    pub done: usize,
    pub total: usize,
}

/// The two halves of a host (CPU) model, borrowed for one scoring call: taken apart
/// once in [`CrossEncoder::score_encoded`], so the batch functions never meet a device
/// model.
#[derive(Clone, Copy)]
struct Host<'a> {
    encoder: &'a dyn Encoder,
    head: &'a dyn ScoreHead,
}

impl CrossEncoder {
    /// Tokenizes `query` against every item (items in parallel), with the query's
    /// mention brackets turned into markers first.
    pub fn encode(&self, query: &str, items: &[&str]) -> Result<Vec<EncodedPair>, ModelError> {
        let prepared = super::PairModel::prepare(self, query)?;
        self.encode_prepared(&prepared, items)
    }

    /// Tokenizes independent (query, item) pairs, in parallel.
    pub fn encode_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<EncodedPair>, ModelError> {
        pairs
            .par_iter()
            .map(|(q, item)| Ok(self.encode(q, &[item])?.remove(0)))
            .collect()
    }

    /// Scores `query` against `items`, returning one score per item in input order.
    pub fn score(
        &self,
        query: &str,
        items: &[&str],
        opts: &ScoreOptions,
    ) -> Result<Vec<PairScore>, ModelError> {
        let pairs = self.encode(query, items)?;
        let mut out = vec![None; pairs.len()];
        self.score_encoded(&pairs, opts, &mut |batch, _| {
            for &(i, s) in batch {
                out[i] = Some(s);
            }
            ControlFlow::Continue(())
        })?;
        out.into_iter()
            .map(|s| {
                s.ok_or_else(|| ModelError::Input {
                    message: "internal: a pair was not scored".into(),
                })
            })
            .collect()
    }

    /// Scores independent (query, item) pairs; `on_batch` gets indices into `pairs`. On a
    /// GPU the pairs are tokenised in chunks on the CPU's cores while the previous chunk
    /// runs on the device, so tokenisation hides behind compute; on the CPU (where both
    /// would compete for the same cores) they are tokenised first, then scored.
    pub fn score_pairs(
        &self,
        pairs: &[(&str, &str)],
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        if matches!(self.runner, Runner::Host { .. }) {
            let encoded = self.encode_pairs(pairs)?;
            return self.score_encoded(&encoded, opts, on_batch);
        }
        // Chunks start small, so the GPU starts early, and double up to a size that sorts
        // enough pairs by length to fill full GPU batches of every length.
        const FIRST_CHUNK: usize = 1024;
        const LARGEST_CHUNK: usize = 16384;
        let total = pairs.len();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            scope.spawn(move || {
                let (mut offset, mut size) = (0, FIRST_CHUNK);
                while offset < total {
                    let end = (offset + size).min(total);
                    let encoded = self.encode_pairs(&pairs[offset..end]).map(|e| (offset, e));
                    let failed = encoded.is_err();
                    // A closed channel means the scorer stopped (error or cancel).
                    if tx.send(encoded).is_err() || failed {
                        break;
                    }
                    offset = end;
                    size = (size * 2).min(LARGEST_CHUNK);
                }
            });
            let mut done = 0;
            for chunk in rx {
                let (offset, encoded) = chunk?;
                self.score_encoded(&encoded, opts, &mut |batch, _| {
                    let shifted: Vec<(usize, PairScore)> =
                        batch.iter().map(|&(i, s)| (i + offset, s)).collect();
                    done += batch.len();
                    on_batch(&shifted, ScoreProgress { done, total })
                })?;
            }
            Ok(())
        })
    }

    /// Scores encoded pairs batch by batch, longest first. After each batch `on_batch`
    /// receives `(input index, score)` pairs and the progress; returning `Break` stops
    /// with `ModelError::Cancelled` (already delivered batches stay delivered).
    pub fn score_encoded(
        &self,
        pairs: &[EncodedPair],
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let host = match &self.runner {
            Runner::Device(model) => return self.score_on_device(model, pairs, opts, on_batch),
            Runner::Host { encoder, head } => Host {
                encoder: encoder.as_ref(),
                head: head.as_ref(),
            },
        };
        let batches = plan_batches(pairs, opts);
        let threads = rayon::current_num_threads();
        if threads == 1 || batches.len() == 1 {
            let mut done = 0;
            for batch in batches {
                let scores = self.score_batch(host, pairs, &batch)?;
                deliver(on_batch, &batch, scores, &mut done, pairs.len())?;
            }
            return Ok(());
        }
        self.score_batches_in_parallel(host, pairs, &batches, threads, on_batch)
    }

    /// Several batches at once, each on its share of the cores (one core each when there
    /// are at least as many batches as cores). On 16 cores this scales further than
    /// splitting every matmul of one batch over all of them, whose hand-offs left long
    /// pairs slower than PyTorch. Batches are delivered as they finish, on the calling
    /// thread; a `Break` stops the batches not yet started.
    fn score_batches_in_parallel(
        &self,
        host: Host<'_>,
        pairs: &[EncodedPair],
        batches: &[Vec<usize>],
        threads: usize,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let per_batch = (threads / batches.len().min(threads)).max(1);
        let stop = AtomicBool::new(false);
        let total = pairs.len();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            let stop = &stop;
            scope.spawn(move || {
                batches.par_iter().for_each_with(tx, |tx, batch| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let scores = crate::model::kernels::cpu::with_gemm_threads(per_batch, || {
                        self.score_batch(host, pairs, batch)
                    });
                    // A closed channel means the caller stopped.
                    let _ = tx.send((batch, scores));
                });
            });
            let mut done = 0;
            for (batch, scores) in rx {
                let outcome =
                    scores.and_then(|scores| deliver(on_batch, batch, scores, &mut done, total));
                if outcome.is_err() {
                    stop.store(true, Ordering::Relaxed);
                    return outcome;
                }
            }
            Ok(())
        })
    }

    /// The GPU loop: batch n+1 is padded, uploaded and queued while the device still runs
    /// batch n, and batch n's logits are read only then, so the device never waits for
    /// the host between batches.
    fn score_on_device(
        &self,
        model: &DeviceBert,
        pairs: &[EncodedPair],
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        // The CPU-sized defaults would starve a GPU; explicit options are kept.
        let opts = if *opts == ScoreOptions::default() {
            &ScoreOptions::GPU
        } else {
            opts
        };
        let total = pairs.len();
        let mut done = 0;
        let mut in_flight: Option<(Vec<usize>, candle_core::Tensor)> = None;
        let mut deliver = |indices: Vec<usize>, logits: candle_core::Tensor, done: &mut usize| {
            let logits = logits.to_vec1::<f32>()?;
            let scores = indices
                .iter()
                .zip(logits)
                .map(|(&i, logit)| self.pair_score(&pairs[i], logit));
            deliver(on_batch, &indices, scores, done, total)
        };
        for batch in plan_batches(pairs, opts) {
            // Lengths in multiples of 8 let cuBLAS use its aligned tensor-core kernels for
            // the attention matmuls (whose leading dimension is the length); the extra
            // positions are padding, masked like any other.
            let host = self.host_batch(pairs, &batch, 8);
            let logits = model.launch(&host)?;
            if let Some((indices, pending)) = in_flight.replace((batch, logits)) {
                deliver(indices, pending, &mut done)?;
            }
        }
        if let Some((indices, pending)) = in_flight {
            deliver(indices, pending, &mut done)?;
        }
        Ok(())
    }

    /// The pairs at `indices` as one right-padded batch, its length a multiple of `align`.
    fn host_batch(&self, pairs: &[EncodedPair], indices: &[usize], align: usize) -> HostBatch {
        let b = indices.len();
        let l = indices
            .iter()
            .map(|&i| padded_len(&pairs[i]))
            .max()
            .unwrap_or(0)
            .max(1)
            .next_multiple_of(align);
        let pad = self.tokens.pad_id();
        let mut batch = HostBatch {
            ids: Vec::with_capacity(b * l),
            type_ids: Vec::with_capacity(b * l),
            mask: Vec::with_capacity(b * l),
            b,
            l,
        };
        for &i in indices {
            let p = &pairs[i];
            let n = padded_len(p);
            batch.ids.extend_from_slice(&p.ids[..n]);
            batch.ids.extend(std::iter::repeat_n(pad, l - n));
            batch.type_ids.extend_from_slice(&p.type_ids[..n]);
            batch.type_ids.extend(std::iter::repeat_n(0, l - n));
            batch.mask.extend_from_slice(&p.attention[..n]);
            batch.mask.extend(std::iter::repeat_n(0, l - n));
        }
        batch
    }

    fn pair_score(&self, pair: &EncodedPair, logit: f32) -> PairScore {
        PairScore {
            logit,
            activation: self.info.activation.apply(logit),
            tokens: pair.token_count(),
            truncation: pair.truncation,
        }
    }

    /// One forward pass over the pairs at `indices`, padded to the longest of them.
    fn score_batch(
        &self,
        Host { encoder, head }: Host<'_>,
        pairs: &[EncodedPair],
        indices: &[usize],
    ) -> Result<Vec<PairScore>, ModelError> {
        let batch = self.host_batch(pairs, indices, 1);
        let (b, l) = (batch.b, batch.l);
        let mask = batch.mask.iter().map(|&a| a as f32).collect();
        let (ids_t, types_t, mask_t) =
            batch_tensors(batch.ids.clone(), batch.type_ids, mask, b, l)?;
        let id_rows: Vec<&[u32]> = batch.ids.chunks(l).collect();
        let rows = head.rows();
        let hidden = encoder.forward(&ids_t, &types_t, &mask_t, rows)?;
        let logits = head.scores(&hidden, &id_rows)?;
        debug_assert!(rows == OutputRows::All || hidden.dims().len() == 2);
        Ok(indices
            .iter()
            .zip(logits)
            .map(|(&i, logit)| self.pair_score(&pairs[i], logit))
            .collect())
    }
}

/// Hands one finished batch to `on_batch` as `(input index, score)` pairs with the
/// progress (`done` counts the pairs delivered so far); `Break` becomes `Cancelled`.
fn deliver(
    on_batch: &mut BatchSink<'_>,
    batch: &[usize],
    scores: impl IntoIterator<Item = PairScore>,
    done: &mut usize,
    total: usize,
) -> Result<(), ModelError> {
    *done += batch.len();
    let delivered: Vec<(usize, PairScore)> = batch.iter().copied().zip(scores).collect();
    match on_batch(&delivered, ScoreProgress { done: *done, total }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(ModelError::Cancelled),
    }
}

/// Length that must be fed: trailing pads (zeshel packing) are dropped, since nothing
/// after the last attended token can change the attended tokens' outputs.
fn padded_len(p: &EncodedPair) -> usize {
    p.attention
        .iter()
        .rposition(|&a| a == 1)
        .map_or(0, |i| i + 1)
}

/// Groups pair indices into batches: sorted by length (longest first, so the first batch
/// shows the worst-case memory at once), each batch bounded by the token budget.
pub fn plan_batches(pairs: &[EncodedPair], opts: &ScoreOptions) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(padded_len(&pairs[i])));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_len = 0;
    for i in order {
        let len = padded_len(&pairs[i]).max(1);
        let longest = current_len.max(len);
        let fits = current.len() < opts.max_batch_size.max(1)
            && (current.len() + 1) * longest <= opts.max_batch_tokens.max(len);
        if !fits && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            current_len = 0;
        }
        current_len = current_len.max(len);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(len: usize) -> EncodedPair {
        EncodedPair {
            ids: vec![1; len],
            type_ids: vec![0; len],
            attention: vec![1; len],
            truncation: Truncation::default(),
        }
    }

    #[test]
    fn batches_respect_budget_and_cover_every_pair_once() {
        let pairs: Vec<EncodedPair> = [5, 300, 17, 17, 64, 1, 300, 90]
            .iter()
            .map(|&n| pair(n))
            .collect();
        let opts = ScoreOptions {
            max_batch_tokens: 400,
            max_batch_size: 3,
        };
        let batches = plan_batches(&pairs, &opts);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..pairs.len()).collect::<Vec<_>>());
        for b in &batches {
            let longest = b.iter().map(|&i| pairs[i].ids.len()).max().unwrap();
            assert!(b.len() <= 3);
            assert!(b.len() == 1 || b.len() * longest <= 400, "{b:?}");
        }
        // longest first
        assert_eq!(pairs[batches[0][0]].ids.len(), 300);
    }

    fn tiny_model() -> CrossEncoder {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny-ce");
        CrossEncoder::load(dir, &crate::model::LoadOptions::default()).expect("tiny model")
    }

    /// Many small batches: the side-by-side path on any machine with 2+ threads.
    fn many_pairs(model: &CrossEncoder) -> Vec<EncodedPair> {
        let items: Vec<String> = (0..40)
            .map(|i| format!("item {i} {}", "about rivers and banks ".repeat(i % 7)))
            .collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        model
            .encode("a query about a [bank]", &refs)
            .expect("encode")
    }

    const SMALL: ScoreOptions = ScoreOptions {
        max_batch_tokens: 4096,
        max_batch_size: 4,
    };

    fn collect(model: &CrossEncoder, pairs: &[EncodedPair]) -> Vec<f32> {
        let mut out = vec![f32::NAN; pairs.len()];
        model
            .score_encoded(pairs, &SMALL, &mut |batch, _| {
                for &(i, s) in batch {
                    out[i] = s.logit;
                }
                ControlFlow::Continue(())
            })
            .expect("scores");
        out
    }

    #[test]
    fn batches_side_by_side_score_as_one_at_a_time() {
        let model = tiny_model();
        let pairs = many_pairs(&model);
        let parallel = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool")
            .install(|| collect(&model, &pairs));
        let serial = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool")
            .install(|| collect(&model, &pairs));
        assert!(parallel.iter().all(|v| v.is_finite()));
        assert_eq!(parallel, serial);
    }

    /// No pairs, no batches: on several threads the batch split once divided by zero.
    #[test]
    fn no_pairs_score_nothing_on_any_thread_count() {
        let model = tiny_model();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let mut calls = 0;
            pool.install(|| {
                model.score_encoded(&[], &ScoreOptions::default(), &mut |_, _| {
                    calls += 1;
                    ControlFlow::Continue(())
                })
            })
            .expect("empty input scores");
            assert_eq!(calls, 0);
        }
    }

    #[test]
    fn a_break_stops_batches_side_by_side() {
        let model = tiny_model();
        let pairs = many_pairs(&model);
        let mut delivered = 0;
        let res = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool")
            .install(|| {
                model.score_encoded(&pairs, &SMALL, &mut |batch, p| {
                    delivered += batch.len();
                    assert_eq!(p.done, delivered);
                    ControlFlow::Break(())
                })
            });
        assert!(matches!(res, Err(ModelError::Cancelled)), "{res:?}");
        assert!(delivered > 0 && delivered < pairs.len(), "{delivered}");
    }

    #[test]
    fn trailing_pads_are_not_fed() {
        let mut p = pair(10);
        p.attention[6..].fill(0);
        p.attention[2] = 0;
        assert_eq!(padded_len(&p), 6);
    }
}
