//! Relevance judgments and session snapshots: plain data with their JSON form, TREC
//! qrels export, the exact CE's agreement with the judgments, and the diff of two
//! snapshots. No egui, no model: the app fills these from its session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::approx::Method;

/// A person's verdict on one (query, item) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Judgment {
    Relevant,
    #[serde(rename = "not")]
    NotRelevant,
    /// Looked at and left undecided (not exported as a qrel).
    Skip,
}

impl Judgment {
    pub fn label(self) -> &'static str {
        match self {
            Judgment::Relevant => "relevant",
            Judgment::NotRelevant => "not relevant",
            Judgment::Skip => "skipped",
        }
    }
}

/// Judgments of every query judged in a session: query text → item id → judgment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Judgments {
    pub by_query: BTreeMap<String, BTreeMap<String, Judgment>>,
    /// Query ids (a demo or query-set query's own id) by query text, for the qrels.
    #[serde(default)]
    pub query_ids: BTreeMap<String, String>,
}

impl Judgments {
    /// Records a judgment; judging a pair again replaces the earlier verdict.
    pub fn set(&mut self, query: &str, query_id: Option<&str>, item: &str, j: Judgment) {
        self.by_query
            .entry(query.to_string())
            .or_default()
            .insert(item.to_string(), j);
        if let Some(id) = query_id {
            self.query_ids.insert(query.to_string(), id.to_string());
        }
    }

    pub fn get(&self, query: &str, item: &str) -> Option<Judgment> {
        self.by_query.get(query)?.get(item).copied()
    }

    /// Judgments of one query (empty when none).
    pub fn of(&self, query: &str) -> impl Iterator<Item = (&String, &Judgment)> {
        self.by_query.get(query).into_iter().flatten()
    }

    pub fn count(&self) -> usize {
        self.by_query.values().map(BTreeMap::len).sum()
    }

    /// The query's id in qrels: its own id when known, else `q<n>` by position.
    fn qrels_id(&self, query: &str, position: usize) -> String {
        self.query_ids
            .get(query)
            .cloned()
            .unwrap_or_else(|| format!("q{}", position + 1))
    }

    /// TREC qrels (`qid 0 docid rel`, rel 1 or 0), one line per relevant or
    /// not-relevant judgment; skips are left out. Returns the text and its line count.
    pub fn to_qrels(&self) -> (String, usize) {
        let mut out = String::new();
        let mut lines = 0;
        for (pos, (query, items)) in self.by_query.iter().enumerate() {
            let qid = self.qrels_id(query, pos);
            for (item, j) in items {
                let rel = match j {
                    Judgment::Relevant => 1,
                    Judgment::NotRelevant => 0,
                    Judgment::Skip => continue,
                };
                out.push_str(&format!("{qid} 0 {item} {rel}\n"));
                lines += 1;
            }
        }
        (out, lines)
    }
}

/// How often the exact CE agrees with a person: an item is relevant to the CE when it
/// is in the exact top-k.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Agreement {
    /// Relevant and not-relevant judgments whose item has an exact rank.
    pub judged: usize,
    pub agree: usize,
}

impl Agreement {
    pub fn rate(&self) -> Option<f64> {
        (self.judged > 0).then(|| self.agree as f64 / self.judged as f64)
    }
}

/// Agreement of one query's judgments with the exact ranking (`exact_rank`: item id →
/// 1-based exact rank, for the items whose exact score is known).
pub fn agreement<'a>(
    judgments: impl IntoIterator<Item = (&'a String, &'a Judgment)>,
    exact_rank: &HashMap<&str, usize>,
    top_k: usize,
) -> Agreement {
    let mut a = Agreement::default();
    for (item, j) in judgments {
        let relevant = match j {
            Judgment::Relevant => true,
            Judgment::NotRelevant => false,
            Judgment::Skip => continue,
        };
        let Some(&rank) = exact_rank.get(item.as_str()) else {
            continue;
        };
        a.judged += 1;
        if (rank <= top_k) == relevant {
            a.agree += 1;
        }
    }
    a
}

/// The search settings a snapshot was taken with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSettings {
    pub method: Method,
    pub budget: usize,
    pub k_i: usize,
    pub top_k: usize,
}

/// One row of a saved ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub rank: usize,
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    pub exact: Option<f32>,
    pub approx: Option<f32>,
}

/// Everything needed to come back to a query: settings, rankings, judgments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `relex-snapshot/1`.
    pub format: String,
    pub query: String,
    #[serde(default)]
    pub query_id: Option<String>,
    pub settings: SnapshotSettings,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub items: Option<String>,
    /// The exact ranking's top rows (by exact score, approximate where unknown).
    pub ranking: Vec<SnapshotRow>,
    /// The method's own top-k (item ids, best first).
    #[serde(default)]
    pub method_ranking: Vec<String>,
    #[serde(default)]
    pub judgments: Judgments,
}

pub const SNAPSHOT_FORMAT: &str = "relex-snapshot/1";

/// A snapshot file that cannot be used, with the place at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: not a relex snapshot (format {found:?}, expected {SNAPSHOT_FORMAT:?})")]
    Format { path: String, found: String },
}

impl Snapshot {
    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, maps with string keys): serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a snapshot; `path` names the file in errors (with line and column).
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SnapshotError> {
        let shown = path.display().to_string();
        let s: Snapshot = serde_json::from_str(text).map_err(|e| SnapshotError::Json {
            path: shown.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if s.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format {
                path: shown,
                found: s.format,
            });
        }
        Ok(s)
    }

    pub fn read(path: &Path) -> Result<Self, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json(&text, path)
    }

    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        std::fs::write(path, self.to_json()).map_err(|e| SnapshotError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// An item whose rank differs between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct RankMove {
    pub id: String,
    /// Rank in the first snapshot's ranking, `None` when absent there.
    pub before: Option<usize>,
    pub after: Option<usize>,
}

/// A judgment that differs between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgmentChange {
    pub query: String,
    pub item: String,
    pub before: Option<Judgment>,
    pub after: Option<Judgment>,
}

/// What changed from snapshot `a` to snapshot `b`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotDiff {
    /// Settings and query that differ, as "what: a → b".
    pub settings: Vec<String>,
    /// Ranking rows whose rank changed, entered or left (by rank in `b`, then `a`).
    pub moves: Vec<RankMove>,
    /// Method top-k entries that entered or left.
    pub method_entered: Vec<String>,
    pub method_left: Vec<String>,
    pub judgments: Vec<JudgmentChange>,
}

impl SnapshotDiff {
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
            && self.moves.is_empty()
            && self.method_entered.is_empty()
            && self.method_left.is_empty()
            && self.judgments.is_empty()
    }
}

/// The differences between two snapshots.
pub fn diff(a: &Snapshot, b: &Snapshot) -> SnapshotDiff {
    let mut d = SnapshotDiff::default();
    let mut setting = |what: &str, x: String, y: String| {
        if x != y {
            d.settings.push(format!("{what}: {x} -> {y}"));
        }
    };
    setting("query", a.query.clone(), b.query.clone());
    setting(
        "method",
        a.settings.method.to_string(),
        b.settings.method.to_string(),
    );
    setting(
        "budget",
        a.settings.budget.to_string(),
        b.settings.budget.to_string(),
    );
    setting(
        "k_i",
        a.settings.k_i.to_string(),
        b.settings.k_i.to_string(),
    );
    setting(
        "top-k",
        a.settings.top_k.to_string(),
        b.settings.top_k.to_string(),
    );
    setting(
        "model",
        a.model.clone().unwrap_or_default(),
        b.model.clone().unwrap_or_default(),
    );
    let rank_a: HashMap<&str, usize> = a.ranking.iter().map(|r| (r.id.as_str(), r.rank)).collect();
    let rank_b: HashMap<&str, usize> = b.ranking.iter().map(|r| (r.id.as_str(), r.rank)).collect();
    for r in &b.ranking {
        let before = rank_a.get(r.id.as_str()).copied();
        if before != Some(r.rank) {
            d.moves.push(RankMove {
                id: r.id.clone(),
                before,
                after: Some(r.rank),
            });
        }
    }
    for r in &a.ranking {
        if !rank_b.contains_key(r.id.as_str()) {
            d.moves.push(RankMove {
                id: r.id.clone(),
                before: Some(r.rank),
                after: None,
            });
        }
    }
    let ma: HashSet<&String> = a.method_ranking.iter().collect();
    let mb: HashSet<&String> = b.method_ranking.iter().collect();
    d.method_entered = b
        .method_ranking
        .iter()
        .filter(|x| !ma.contains(x))
        .cloned()
        .collect();
    d.method_left = a
        .method_ranking
        .iter()
        .filter(|x| !mb.contains(x))
        .cloned()
        .collect();
    let queries: std::collections::BTreeSet<&String> = a
        .judgments
        .by_query
        .keys()
        .chain(b.judgments.by_query.keys())
        .collect();
    for q in queries {
        let (ja, jb) = (a.judgments.by_query.get(q), b.judgments.by_query.get(q));
        let items: std::collections::BTreeSet<&String> = ja
            .into_iter()
            .flat_map(|m| m.keys())
            .chain(jb.into_iter().flat_map(|m| m.keys()))
            .collect();
        for item in items {
            let before = ja.and_then(|m| m.get(item)).copied();
            let after = jb.and_then(|m| m.get(item)).copied();
            if before != after {
                d.judgments.push(JudgmentChange {
                    query: q.clone(),
                    item: item.clone(),
                    before,
                    after,
                });
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(query: &str, ids: &[&str]) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            query: query.into(),
            query_id: None,
            settings: SnapshotSettings {
                method: Method::Anncur,
                budget: 100,
                k_i: 50,
                top_k: 3,
            },
            model: Some("m".into()),
            items: None,
            ranking: ids
                .iter()
                .enumerate()
                .map(|(i, id)| SnapshotRow {
                    rank: i + 1,
                    id: id.to_string(),
                    title: None,
                    exact: Some(1.0 - i as f32),
                    approx: None,
                })
                .collect(),
            method_ranking: ids.iter().take(2).map(|s| s.to_string()).collect(),
            judgments: Judgments::default(),
        }
    }

    #[test]
    fn snapshots_round_trip_and_bad_json_names_the_line() {
        let mut s = snap("the [bank]", &["a", "b", "c"]);
        s.judgments
            .set("the [bank]", Some("t7"), "a", Judgment::Relevant);
        s.judgments
            .set("the [bank]", None, "b", Judgment::NotRelevant);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        s.write(&path).unwrap();
        assert_eq!(Snapshot::read(&path).unwrap(), s);
        let text = "{\n  \"format\": \"relex-snapshot/1\",\n  \"query\": 3\n}";
        let err = Snapshot::from_json(text, Path::new("bad.json")).unwrap_err();
        assert!(err.to_string().starts_with("bad.json:3:"), "{err}");
        let other = s.to_json().replace(SNAPSHOT_FORMAT, "something/2");
        let err = Snapshot::from_json(&other, Path::new("o.json")).unwrap_err();
        assert!(err.to_string().contains("not a relex snapshot"), "{err}");
        assert!(Snapshot::read(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string()
            .contains("missing.json"));
    }

    #[test]
    fn qrels_list_judged_pairs_with_query_ids() {
        let mut j = Judgments::default();
        j.set("b query", None, "d1", Judgment::Relevant);
        j.set("a query", Some("test-7"), "d2", Judgment::NotRelevant);
        j.set("a query", None, "d3", Judgment::Skip);
        j.set("b query", None, "d4", Judgment::Skip);
        j.set("b query", None, "d4", Judgment::Relevant);
        let (text, lines) = j.to_qrels();
        assert_eq!(lines, 3);
        assert_eq!(text, "test-7 0 d2 0\nq2 0 d1 1\nq2 0 d4 1\n");
        assert_eq!(j.count(), 4);
    }

    #[test]
    fn agreement_counts_top_k_membership() {
        let mut j = Judgments::default();
        j.set("q", None, "top", Judgment::Relevant);
        j.set("q", None, "low", Judgment::Relevant);
        j.set("q", None, "low2", Judgment::NotRelevant);
        j.set("q", None, "skip", Judgment::Skip);
        j.set("q", None, "unknown", Judgment::Relevant);
        let ranks: HashMap<&str, usize> =
            [("top", 1), ("low", 40), ("low2", 50), ("skip", 2)].into();
        let a = agreement(j.of("q"), &ranks, 10);
        assert_eq!(
            a,
            Agreement {
                judged: 3,
                agree: 2
            }
        );
        assert!((a.rate().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(agreement(j.of("other"), &ranks, 10).rate(), None);
    }

    #[test]
    fn diff_lists_settings_moves_and_judgments() {
        let mut a = snap("q", &["a", "b", "c"]);
        let mut b = snap("q", &["b", "a", "d"]);
        b.settings.budget = 200;
        a.judgments.set("q", None, "a", Judgment::Relevant);
        b.judgments.set("q", None, "a", Judgment::NotRelevant);
        b.judgments.set("q", None, "d", Judgment::Relevant);
        let d = diff(&a, &b);
        assert_eq!(d.settings, vec!["budget: 100 -> 200".to_string()]);
        let moves: Vec<(&str, Option<usize>, Option<usize>)> = d
            .moves
            .iter()
            .map(|m| (m.id.as_str(), m.before, m.after))
            .collect();
        assert_eq!(
            moves,
            vec![
                ("b", Some(2), Some(1)),
                ("a", Some(1), Some(2)),
                ("d", None, Some(3)),
                ("c", Some(3), None)
            ]
        );
        assert!(d.method_entered.is_empty() && d.method_left.is_empty());
        assert_eq!(d.judgments.len(), 2);
        assert_eq!(d.judgments[0].before, Some(Judgment::Relevant));
        assert_eq!(d.judgments[0].after, Some(Judgment::NotRelevant));
        assert_eq!(d.judgments[1].item, "d");
        assert!(diff(&a, &a).is_empty());
    }
}
