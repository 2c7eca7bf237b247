//! relex: a relevance explorer for cross-encoder models.
//!
//! Rooms: [`model`] (the cross-encoder), [`items`] (item and query files), [`approx`]
//! (CUR/ANNCUR, ADACUR, baselines, metrics), [`index`] (index files), [`engine`] (the
//! background worker), [`ui`] (egui panels) and [`cli`] (the headless commands).

// Every `unsafe` block states why it is sound (clippy enforces it in CI).
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod approx;
pub mod assets;
pub mod cancel;
pub mod cli;
pub mod engine;
pub mod files;
pub mod index;
pub mod items;
pub mod model;
pub mod ui;
