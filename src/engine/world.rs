//! The loaded world: a model, an item list, an index, and the search inputs built from
//! them (the model's item texts, TF-IDF over the plain texts, AXN's item embeddings).
//! The engine's worker owns one for the app; `relex search` builds one for a single
//! query. Both then ask it for [`SearchInputs`], so a method sees the same inputs in
//! the app and on the command line.

use std::path::Path;
use std::sync::Arc;

use super::protocol::{EngineError, ItemsSnapshot};
use crate::approx::{self, ApproxError, Method, SearchInputs, TfIdfIndex};
use crate::index::{self, ItemsStamp, LoadedIndex, ModelStamp};
use crate::items;
use crate::model::PairModel;

#[derive(Default)]
pub struct World {
    pub model: Option<Box<dyn PairModel>>,
    pub items: Option<Arc<ItemsSnapshot>>,
    /// Item texts as the model sees them (the model's template applied).
    pub texts: Vec<String>,
    pub index: Option<LoadedIndex>,
    tfidf: Option<TfIdfIndex>,
    /// AXN's embeddings for the loaded index (made on the first AXN search).
    axn: Option<approx::axn::AxnIndex>,
}

pub(crate) fn search_error(e: ApproxError) -> EngineError {
    EngineError::Search(e.to_string())
}

impl World {
    /// A new model; the texts follow its template. The caller rechecks the index.
    pub fn set_model(&mut self, model: Box<dyn PairModel>) {
        self.model = Some(model);
        self.refresh_texts();
    }

    /// A new item list: everything built over the old one goes.
    pub fn set_items(&mut self, items: Arc<ItemsSnapshot>) {
        self.items = Some(items);
        self.tfidf = None;
        self.axn = None;
        self.refresh_texts();
    }

    fn refresh_texts(&mut self) {
        if let (Some(model), Some(items)) = (&self.model, &self.items) {
            self.texts = model.info().item_texts(&items.items);
        }
    }

    /// The loaded model and items, or which of them is missing.
    pub fn model_and_items(&self) -> Result<(&dyn PairModel, &ItemsSnapshot), EngineError> {
        let model = self.model.as_deref().ok_or(EngineError::NoModel)?;
        let items = self.items.as_deref().ok_or(EngineError::NoItems)?;
        Ok((model, items))
    }

    /// What an index must have been built for: the loaded model and items.
    pub fn stamps(&self) -> Option<(ModelStamp, ItemsStamp)> {
        let (model, items) = (self.model.as_ref()?, self.items.as_ref()?);
        Some((
            ModelStamp::of(model.info()),
            ItemsStamp {
                source: items.path.display().to_string(),
                count: items.items.len(),
                fingerprint: items.fingerprint.clone(),
            },
        ))
    }

    /// Loads the index in `dir`, checked against the loaded model and items.
    pub fn load_index(&mut self, dir: &Path) -> Result<&LoadedIndex, EngineError> {
        let (m, i) = self.stamps().ok_or(EngineError::IndexNeedsModelAndItems)?;
        let loaded = index::load(dir, &m, &i).map_err(|e| EngineError::Index(e.to_string()))?;
        self.axn = None;
        Ok(self.index.insert(loaded))
    }

    /// Drops the index when the model or items it was built for are no longer loaded;
    /// returns why, when it did.
    pub fn recheck_index(&mut self) -> Option<String> {
        let idx = self.index.as_ref()?;
        let (m, i) = self.stamps()?;
        let err = idx.manifest.check_matches(&idx.dir, &m, &i).err()?;
        self.index = None;
        self.axn = None;
        Some(err.to_string())
    }

    /// Builds what `method` needs beyond the model and items (TF-IDF, AXN's
    /// embeddings), or says what is missing.
    pub fn prepare(&mut self, method: Method) -> Result<(), EngineError> {
        match &self.index {
            None if method.needs_index() => return Err(EngineError::NeedsIndex { method }),
            // A sparse index serves AXN alone.
            Some(idx) if method.needs_index() && method != Method::Axn && idx.dense().is_none() => {
                return Err(EngineError::Index(
                    index::IndexError::Sparse {
                        path: idx.dir.clone(),
                    }
                    .to_string(),
                ))
            }
            _ => {}
        }
        // ADACUR seeds its first round with TF-IDF's best items (approx::defaults).
        if matches!(method, Method::Tfidf | Method::Axn | Method::Adacur) {
            self.ensure_tfidf()?;
        }
        if method == Method::Axn {
            self.ensure_axn()?;
        }
        Ok(())
    }

    /// TF-IDF always, AXN's embeddings when an index is loaded: what every method needs.
    pub fn prepare_all(&mut self) -> Result<(), EngineError> {
        self.ensure_tfidf()?;
        if self.index.is_some() {
            self.ensure_axn()?;
        }
        Ok(())
    }

    fn ensure_tfidf(&mut self) -> Result<(), EngineError> {
        if self.tfidf.is_none() {
            let items = self.items.as_ref().ok_or(EngineError::NoItems)?;
            let texts = items::ce_texts(&items.items, items::PLAIN_TEXT_TEMPLATE);
            self.tfidf = Some(TfIdfIndex::build(&texts).map_err(search_error)?);
        }
        Ok(())
    }

    /// AXN's item embeddings over the loaded index, as a sparse build would have
    /// produced them (see `approx::axn::index_from_dense`), made once per index.
    fn ensure_axn(&mut self) -> Result<(), EngineError> {
        let idx = self.index.as_ref().ok_or(EngineError::NeedsIndex {
            method: Method::Axn,
        })?;
        // A sparse index brings its own embeddings; a dense one simulates them.
        let Some(cur) = idx.dense() else {
            return Ok(());
        };
        if self.axn.is_none() {
            let texts: Vec<String> = idx.anchors.iter().map(|a| a.text.clone()).collect();
            let built = approx::axn::index_from_dense(
                cur.r(),
                Some(&texts),
                self.tfidf.as_ref(),
                approx::axn::default_per_row(cur.n_items()),
                &approx::axn::AxnFactorParams::default(),
            )
            .map_err(search_error)?;
            self.axn = Some(built);
        }
        Ok(())
    }

    /// A sparse build's plan over the loaded items for these anchor queries (TF-IDF's
    /// best items and random ones, 5 % of the catalogue per query).
    pub fn sparse_plan(
        &mut self,
        anchors: &[index::AnchorQuery],
    ) -> Result<index::SparsePlan, EngineError> {
        self.ensure_tfidf()?;
        let (_, items) = self.model_and_items()?;
        let texts: Vec<String> = anchors.iter().map(|a| a.text.clone()).collect();
        let n = items.items.len();
        let tfidf = self.tfidf.as_ref().ok_or(EngineError::NoItems)?;
        Ok(index::SparsePlan::new(
            &texts,
            tfidf,
            n,
            approx::axn::default_per_row(n),
        ))
    }

    /// What `approx::search` may use for `query`: the loaded index, TF-IDF and AXN.
    pub fn search_inputs<'a>(&'a self, query: &'a str, n_items: usize) -> SearchInputs<'a> {
        SearchInputs {
            n_items,
            index: self.index.as_ref().and_then(|i| i.dense()),
            tfidf: self.tfidf.as_ref(),
            query_text: Some(query),
            axn: match self.index.as_ref().map(|i| &i.data) {
                Some(index::IndexData::Sparse(axn)) => Some(axn),
                _ => self.axn.as_ref(),
            },
            ..SearchInputs::default()
        }
    }
}
