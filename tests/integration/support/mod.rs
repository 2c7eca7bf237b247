//! Helpers shared by the integration tests.

pub mod ui_harness;

/// Runs the `relex` binary with `args` and waits for it.
pub fn relex(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_relex"))
        .args(args)
        .output()
        .expect("relex runs")
}
