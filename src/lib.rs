//! relex: a relevance explorer for cross-encoder models.
//!
//! Rooms: [`model`] (the cross-encoder), [`items`] (item and query files), [`approx`]
//! (CUR/ANNCUR, ADACUR, baselines, metrics), [`index`] (index files), [`engine`] (the
//! background worker), [`ui`] (egui panels) and [`cli`] (the headless commands).

pub mod approx;
pub mod assets;
pub mod cli;
pub mod engine;
pub mod index;
pub mod items;
pub mod model;
pub mod ui;
