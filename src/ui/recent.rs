//! Recently used models, item lists, anchor-query files and indexes, kept across runs
//! with eframe's storage.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecentKind {
    Model,
    Items,
    AnchorQueries,
    Index,
}

impl RecentKind {
    pub fn label(self) -> &'static str {
        match self {
            RecentKind::Model => "model",
            RecentKind::Items => "items",
            RecentKind::AnchorQueries => "anchor queries",
            RecentKind::Index => "index",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentEntry {
    pub kind: RecentKind,
    /// A path, or a hub id for models.
    pub spec: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecentFiles {
    pub entries: Vec<RecentEntry>,
}

/// The storage key.
pub const STORAGE_KEY: &str = "relex.recent";
const KEEP: usize = 12;

impl RecentFiles {
    /// Moves (or adds) an entry to the front.
    pub fn touch(&mut self, kind: RecentKind, spec: impl Into<String>) {
        let spec = spec.into();
        if spec.is_empty() {
            return;
        }
        self.entries.retain(|e| !(e.kind == kind && e.spec == spec));
        self.entries.insert(0, RecentEntry { kind, spec });
        self.entries.truncate(KEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_dedups_and_bounds() {
        let mut r = RecentFiles::default();
        for i in 0..20 {
            r.touch(RecentKind::Items, format!("f{i}"));
        }
        r.touch(RecentKind::Items, "f19");
        r.touch(RecentKind::Model, "f19");
        assert_eq!(r.entries.len(), KEEP);
        assert_eq!(r.entries[0].kind, RecentKind::Model);
        assert_eq!(r.entries[1].spec, "f19");
        assert_eq!(r.entries.iter().filter(|e| e.spec == "f19").count(), 2);
    }
}
