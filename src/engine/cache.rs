//! Exact scores of past queries, so revisiting a query is instant. Keyed by model,
//! item list and query text; bounded by the number of stored scores (memory), least
//! recently used first out.

use std::collections::VecDeque;

use crate::model::PairScore;

type Key = (String, String, String);

pub struct ExactCache {
    entries: VecDeque<(Key, Vec<Option<PairScore>>)>,
    max_scores: usize,
}

impl ExactCache {
    /// `max_scores` bounds the total number of stored pair scores (~40 bytes each).
    pub fn new(max_scores: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            max_scores,
        }
    }

    fn key(model: &str, items: &str, query: &str) -> Key {
        (model.to_string(), items.to_string(), query.to_string())
    }

    /// The scores known for this query (moved to most-recent).
    pub fn get(
        &mut self,
        model: &str,
        items: &str,
        query: &str,
    ) -> Option<&Vec<Option<PairScore>>> {
        let key = Self::key(model, items, query);
        let pos = self.entries.iter().position(|(k, _)| *k == key)?;
        let entry = self.entries.remove(pos)?;
        self.entries.push_back(entry);
        self.entries.back().map(|(_, v)| v)
    }

    /// Removes and returns the query's row, for a job to work on without copies; the
    /// job gives it back with [`ExactCache::put`].
    pub fn take(
        &mut self,
        model: &str,
        items: &str,
        query: &str,
    ) -> Option<Vec<Option<PairScore>>> {
        let key = Self::key(model, items, query);
        let pos = self.entries.iter().position(|(k, _)| *k == key)?;
        self.entries.remove(pos).map(|(_, v)| v)
    }

    /// Stores the query's row as the most recent entry (replacing any other).
    pub fn put(&mut self, model: &str, items: &str, query: &str, row: Vec<Option<PairScore>>) {
        let key = Self::key(model, items, query);
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push_back((key, row));
        self.evict();
    }

    fn evict(&mut self) {
        while self.total() > self.max_scores && self.entries.len() > 1 {
            self.entries.pop_front();
        }
    }

    /// Merges `scores` into the query's entry, creating it with `n_items` slots.
    pub fn insert(
        &mut self,
        model: &str,
        items: &str,
        query: &str,
        n_items: usize,
        scores: &[(usize, PairScore)],
    ) {
        let key = Self::key(model, items, query);
        let mut entry = match self.entries.iter().position(|(k, _)| *k == key) {
            Some(pos) => self.entries.remove(pos).map(|(_, v)| v).unwrap_or_default(),
            None => vec![None; n_items],
        };
        for &(i, s) in scores {
            if let Some(slot) = entry.get_mut(i) {
                *slot = Some(s);
            }
        }
        self.entries.push_back((key, entry));
        self.evict();
    }

    fn total(&self) -> usize {
        self.entries.iter().map(|(_, v)| v.len()).sum()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Truncation;

    fn s(x: f32) -> PairScore {
        PairScore {
            logit: x,
            activation: 0.0,
            tokens: 3,
            truncation: Truncation::default(),
        }
    }

    #[test]
    fn merges_and_evicts_least_recent() {
        let mut c = ExactCache::new(10);
        c.insert("m", "i", "q1", 4, &[(0, s(1.0))]);
        c.insert("m", "i", "q1", 4, &[(3, s(2.0))]);
        let e = c.get("m", "i", "q1").unwrap();
        assert_eq!(e[0].unwrap().logit, 1.0);
        assert_eq!(e[3].unwrap().logit, 2.0);
        c.insert("m", "i", "q2", 4, &[]);
        c.get("m", "i", "q1"); // q1 is now most recent
        c.insert("m", "i", "q3", 4, &[]); // 12 > 10: evicts q2
        assert!(c.get("m", "i", "q2").is_none());
        assert!(c.get("m", "i", "q1").is_some());
        assert!(c.get("other-model", "i", "q1").is_none());
    }

    #[test]
    fn take_and_put_move_a_row_without_copies() {
        let mut c = ExactCache::new(10);
        c.insert("m", "i", "q", 3, &[(1, s(5.0))]);
        let mut row = c.take("m", "i", "q").unwrap();
        assert!(
            c.get("m", "i", "q").is_none(),
            "taken out while the job runs"
        );
        row[2] = Some(s(7.0));
        c.put("m", "i", "q", row);
        let back = c.get("m", "i", "q").unwrap();
        assert_eq!(back[1].unwrap().logit, 5.0);
        assert_eq!(back[2].unwrap().logit, 7.0);
        assert_eq!(c.len(), 1);
    }
}
