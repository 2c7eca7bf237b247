//! relex's integration tests, one binary: each module below was its own test binary, and
//! every binary linked the whole crate again (most of a clean test build's link time).

mod cli;
mod cli_families;
mod default_model_parity;
mod family_parity;
mod index_resume;
mod integrity;
mod model_parity;
mod support;
mod ui_app;
mod ui_explorer;
mod zeshel_parity;
