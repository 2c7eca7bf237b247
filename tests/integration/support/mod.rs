//! Helpers shared by the integration tests.

pub mod ui_harness;
