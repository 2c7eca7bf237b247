//! `relex`: with no subcommand, the desktop explorer; with one, headless batch work.

fn main() -> std::process::ExitCode {
    relex::cli::main()
}
