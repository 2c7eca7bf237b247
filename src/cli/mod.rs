//! The headless commands. `relex` alone opens the explorer.

mod bench;
mod eval;
mod index_cmd;
mod progress;
mod score;
mod search;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

pub use progress::Progress;

use crate::items::{self, Format};

/// Relevance explorer for cross-encoder models. With no command, opens the desktop app
/// on the embedded demo.
#[derive(Parser, Debug)]
#[command(name = "relex", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Score one query against every item with the cross-encoder and print the ranking.
    Score(score::ScoreArgs),
    /// Search one query under a budget of CE calls (anncur, adacur, tfidf, random, exact).
    Search(search::SearchArgs),
    /// Build, import or inspect an ANNCUR index.
    #[command(subcommand)]
    Index(index_cmd::IndexCommand),
    /// Evaluate the methods' Top-k recall against exact search.
    Eval(eval::EvalArgs),
    /// Check item and query files.
    #[command(subcommand)]
    Items(ItemsCommand),
    /// Measure the cross-encoder's pairs per second on given pair sets.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand, Debug)]
pub enum ItemsCommand {
    /// Print the format, counts and first errors of an item or query file. Exit status:
    /// 0 every row is valid, 3 some rows are invalid (listed), 4 the file is unreadable.
    Check {
        file: PathBuf,
        #[arg(long, value_parser = score::parse_format)]
        format: Option<Format>,
    },
}

/// Model selection shared by every command that runs the cross-encoder.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model folder (config.json, tokenizer.json or vocab.txt, model.safetensors or
    /// pytorch_model.bin), a reference-code .ckpt checkpoint, or a hub id such as
    /// cross-encoder/ms-marco-MiniLM-L-6-v2. Default: the embedded WordNet cross-encoder.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Maximum pair length in tokens (default: the model's limit, capped at 512).
    /// At least 4: a pair needs its special tokens and a token of each text.
    #[arg(long, value_parser = max_length)]
    pub max_length: Option<usize>,
    /// For models with several outputs, which label is the score (default: the last).
    #[arg(long)]
    pub label: Option<usize>,
    /// Tokenizer (tokenizer.json or vocab.txt) for checkpoints that ship without one.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Where to run the model: cpu, cuda, cuda:N or auto (the first GPU if there is one).
    /// GPUs need a build with the `cuda` feature (scripts/build_cuda.sh).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: crate::model::DeviceSpec,
    /// Number format on a GPU: f16 (default), bf16 or f32. The CPU always computes in f32.
    #[arg(long, default_value = "f16", value_parser = parse_precision)]
    pub precision: crate::model::Precision,
    /// How title and text are joined for the model: `{title}` and `{text}` placeholders
    /// (default: the model's own template, else "{title} [SEP] {text}"). Part of the
    /// model's fingerprint: an index built under another template is refused.
    #[arg(long)]
    pub item_template: Option<String>,
}

/// A count that must be at least 1 (anchor items, rounds): 0 is refused by every
/// command alike, not clamped by some and rejected by others.
pub(crate) fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

fn max_length(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v < 4 => Err(format!("{v} is too short: a pair needs at least 4 tokens")),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

pub fn parse_device(s: &str) -> Result<crate::model::DeviceSpec, String> {
    s.parse()
}

fn parse_precision(s: &str) -> Result<crate::model::Precision, String> {
    s.parse()
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<crate::model::CrossEncoder> {
        self.load_on(self.device)
    }

    /// Loads the model on `device` instead of `--device` (one copy per GPU of `--devices`).
    pub fn load_on(
        &self,
        device: crate::model::DeviceSpec,
    ) -> anyhow::Result<crate::model::CrossEncoder> {
        let spec = self
            .model
            .clone()
            .unwrap_or_else(|| crate::assets::default_model_dir().display().to_string());
        let opts = crate::model::LoadOptions {
            max_length: self.max_length,
            label: self.label,
            tokenizer: self.tokenizer.clone(),
            pooling: None,
            device,
            precision: self.precision,
            item_template: self.item_template.clone(),
        };
        Ok(crate::model::CrossEncoder::load(&spec, &opts)?)
    }
}

/// An item file and how to read it.
#[derive(clap::Args, Debug, Clone)]
pub struct ItemArgs {
    /// Item file: .txt (one item a line), .jsonl/.ndjson, .json, .csv or .tsv; `-` reads
    /// standard input (with --item-format).
    #[arg(long, short = 'i')]
    pub items: PathBuf,
    /// Read the item file as this format instead of guessing from its extension.
    #[arg(long, value_parser = score::parse_format)]
    pub item_format: Option<Format>,
    /// Load the valid rows of a file with bad rows, and report what was skipped.
    #[arg(long)]
    pub skip_invalid: bool,
}

impl ItemArgs {
    pub fn load(&self) -> anyhow::Result<items::ItemList> {
        let opts = items::LoadOptions {
            format: self.item_format,
            skip_invalid: self.skip_invalid,
        };
        let list = if self.items.as_os_str() == "-" {
            // A pipe has no extension to tell the format by.
            let format = self.item_format.ok_or_else(|| {
                anyhow::anyhow!("reading items from standard input (-i -) needs --item-format")
            })?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                .context("reading items from standard input")?;
            items::parse_items(&bytes, format, Path::new("<stdin>"), &opts)?
        } else {
            items::load_items(&self.items, &opts)?
        };
        if list.items.is_empty() {
            anyhow::bail!("{}: no items", self.items.display());
        }
        if list.report.skipped > 0 {
            eprintln!(
                "warning: {}: skipped {} invalid rows ({})",
                self.items.display(),
                list.report.skipped,
                list.report
                    .skipped_by_reason
                    .iter()
                    .map(|(r, n)| format!("{n}× {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(list)
    }
}

/// Fails early, naming the path, when `path` cannot be written: checked before long
/// work starts so that an hour of scoring is not lost to a typo in an output path.
pub fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if path.is_dir() {
        anyhow::bail!(
            "{}: is a directory; expected a file to write",
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "{}: cannot write here: the folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    } else {
        std::fs::File::create_new(path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        // Only a probe: the real output replaces it when the work is done.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// An error and its causes on one line, each said once: library errors already quote
/// their OS cause (`path: No such file or directory`), which anyhow's chain would repeat.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// What to type next, for the library errors whose remedy is a flag of this CLI (the
/// library words its errors for every caller; the app has buttons instead).
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    use crate::index::IndexError;
    match e.chain().find_map(|c| c.downcast_ref::<IndexError>())? {
        IndexError::AlreadyExists { .. } => {
            Some("pass --resume to continue it, or choose another --out folder")
        }
        IndexError::Incomplete { .. } | IndexError::Stopped { .. } => {
            Some("run the same `relex index build` again with --resume")
        }
        _ => None,
    }
}

/// Parses the command line and runs it; errors are printed once, here.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => crate::ui::run_app(),
        Some(Command::Score(args)) => score::run(&args),
        Some(Command::Search(args)) => search::run(&args),
        Some(Command::Index(cmd)) => index_cmd::run(&cmd),
        Some(Command::Eval(args)) => eval::run(&args),
        Some(Command::Items(ItemsCommand::Check { file, format })) => {
            let (report, verdict) = items::check_report(&file, format);
            print!("{report}");
            return ExitCode::from(verdict.exit_code());
        }
        Some(Command::Bench(args)) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_index_hints_at_resume() {
        for e in [
            crate::index::IndexError::Incomplete {
                path: "idx".into(),
                done: 1,
                total: 2,
            },
            crate::index::IndexError::AlreadyExists { path: "idx".into() },
        ] {
            let e = anyhow::Error::new(e).context("loading the index");
            let hint = hint(&e).expect("a hint");
            assert!(hint.contains("--resume"), "{hint}");
        }
        assert!(hint(&anyhow::anyhow!("something else")).is_none());
    }

    #[test]
    fn an_os_error_quoted_by_its_wrapper_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let items = crate::items::load_items(
            std::path::Path::new("/nonexistent/relex/items.jsonl"),
            &crate::items::LoadOptions::default(),
        )
        .unwrap_err();
        let line = error_chain(&anyhow::Error::new(items));
        assert_eq!(line.matches("os error").count(), 1, "{line}");
        assert!(line.contains("/nonexistent/relex/items.jsonl"), "{line}");
        // A context that does not quote its cause keeps it.
        let e = anyhow::Error::new(io).context("reading x.npy");
        assert_eq!(error_chain(&e), "reading x.npy: No such file or directory");
    }
}
