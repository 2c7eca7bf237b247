//! Reading and validating item lists and query sets.
//!
//! People bring the files they already have (plain text, JSON Lines, JSON,
//! CSV/TSV, BEIR corpora), so this module accepts all of them, reports bad
//! rows precisely (`file:line:column: what was expected`) and stays fast on
//! million-row lists by parsing line-aligned chunks in parallel. The CLI, the
//! GUI worker and the index all load through here, so the behaviour (ids,
//! blank lines, duplicates, skipping) is the same everywhere.
//!
//! Conventions shared by all formats:
//! - a UTF-8 byte order mark is ignored, CRLF line ends are accepted;
//! - an empty `title` is the same as no title;
//! - lines and columns in errors are 1-based, columns count bytes;
//! - ids must be unique; numbers are accepted as ids and kept as their text;
//! - where a format has no ids (txt, headerless CSV, strings in a JSON array)
//!   the id is the 1-based line number (array position for JSON);
//! - a CSV/TSV first row counts as a header when it names a `text` column
//!   (`query` also counts for query files).

mod beir;
mod collect;
mod delimited;
mod error;
mod json;
mod jsonl;
mod record;
mod txt;
mod write;

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::AtomicBool;

pub use error::{ErrorKind, ItemsError};
pub use write::write_items;

use collect::Ctx;

/// The default cross-encoder template: title and text joined by the BERT
/// separator, so the model sees the title as context for the passage.
pub const DEFAULT_TEMPLATE: &str = "{title} [SEP] {text}";

/// Title and text joined by a space: what lexical methods (TF-IDF) and pseudo-queries
/// read, where a model's separator token would only be noise.
pub const PLAIN_TEXT_TEMPLATE: &str = "{title} {text}";

/// Every item's text as a cross-encoder sees it under `template` (see [`Item::ce_text`]).
pub fn ce_texts(items: &[Item], template: &str) -> Vec<String> {
    items.iter().map(|it| it.ce_text(template)).collect()
}

/// How an item without a title is written by default: its text alone.
pub const UNTITLED_TEMPLATE: &str = "{text}";

/// How many individual errors a report keeps; counts cover the rest.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// One candidate document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    pub id: String,
    pub title: Option<String>,
    pub text: String,
}

impl Item {
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Item {
            id: id.into(),
            title: None,
            text: text.into(),
        }
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        let t = title.into();
        self.title = if t.is_empty() { None } else { Some(t) };
        self
    }

    /// The text the cross-encoder scores, built from `template` with
    /// `{title}` and `{text}` placeholders.
    ///
    /// Without a title the result is just the text: the template's literal
    /// parts exist to separate title from text, so keeping them would feed
    /// the model a dangling separator it never saw in training.
    pub fn ce_text(&self, template: &str) -> String {
        self.ce_text_or(template, UNTITLED_TEMPLATE)
    }

    /// [`Item::ce_text`], writing an item without a title with `untitled` (`{text}`
    /// placeholder) instead of its text alone: for models that need a marker in every item.
    pub fn ce_text_or(&self, template: &str, untitled: &str) -> String {
        match self.title.as_deref() {
            Some(title) if !title.is_empty() => fill_template(template, title, &self.text),
            _ if untitled == UNTITLED_TEMPLATE => self.text.clone(),
            _ => fill_template(untitled, "", &self.text),
        }
    }
}

fn fill_template(template: &str, title: &str, text: &str) -> String {
    let mut out = String::with_capacity(template.len() + title.len() + text.len());
    let mut rest = template;
    let mut saw_text = false;
    while let Some(pos) = rest.find('{') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(r) = tail.strip_prefix("{title}") {
            out.push_str(title);
            rest = r;
        } else if let Some(r) = tail.strip_prefix("{text}") {
            out.push_str(text);
            saw_text = true;
            rest = r;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if !saw_text {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(text);
    }
    out
}

/// One query, with the ids of its relevant items when known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Query {
    pub id: String,
    pub text: String,
    pub gold: Vec<String>,
}

/// Supported file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Txt,
    Jsonl,
    Json,
    Csv,
    Tsv,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Txt,
        Format::Jsonl,
        Format::Json,
        Format::Csv,
        Format::Tsv,
    ];

    /// Picks the format from the file extension (case insensitive).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        ext.parse().ok()
    }

    /// The canonical extension, also the name accepted by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Jsonl => "jsonl",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "txt" | "text" => Ok(Format::Txt),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "tsv" | "tab" => Ok(Format::Tsv),
            other => Err(format!(
                "unknown format \"{other}\" (expected one of: txt, jsonl, json, csv, tsv)"
            )),
        }
    }
}

/// How to load a file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overrides the format implied by the extension.
    pub format: Option<Format>,
    /// Load the valid rows and count the bad ones instead of stopping at the
    /// first problem.
    pub skip_invalid: bool,
}

/// What happened while loading; kept next to the data so the UI can show it.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub format: Option<Format>,
    pub rows_loaded: usize,
    pub blank_lines: usize,
    pub skipped: usize,
    /// Skipped rows per reason: row problems in order of first appearance,
    /// then duplicate ids.
    pub skipped_by_reason: Vec<(String, usize)>,
    /// The first [`MAX_REPORTED_ERRORS`] problems, in file order.
    pub first_errors: Vec<ItemsError>,
    /// Informational remarks that are not errors (e.g. BEIR split filtering).
    pub notes: Vec<String>,
}

/// A loaded item list.
#[derive(Debug)]
pub struct ItemList {
    pub path: PathBuf,
    pub items: Vec<Item>,
    pub report: LoadReport,
}

/// A loaded query set.
#[derive(Debug)]
pub struct QuerySet {
    pub path: PathBuf,
    pub queries: Vec<Query>,
    pub report: LoadReport,
}

/// The fields a row can carry, before they become an [`Item`] or [`Query`].
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub id: String,
    pub title: Option<String>,
    pub text: String,
    pub gold: Vec<String>,
}

/// Lets the format parsers build items and queries with one code path.
pub(crate) trait Row: Sized + Send + Sync {
    /// Whether the row type uses `title` (items) or `gold`/`query` (queries);
    /// fields a row type does not use are not validated.
    const IS_QUERY: bool;
    fn from_parts(parts: Parts) -> Self;
    fn id(&self) -> &str;
    /// Whether the record has something to score: every format rejects (or, with
    /// `skip_invalid`, skips) a record whose text is empty or whitespace only.
    fn has_text(&self) -> bool;
}

impl Row for Item {
    const IS_QUERY: bool = false;
    fn from_parts(p: Parts) -> Self {
        Item {
            id: p.id,
            title: p.title.filter(|t| !t.is_empty()),
            text: p.text,
        }
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn has_text(&self) -> bool {
        !self.text.trim().is_empty() || self.title.as_deref().is_some_and(|t| !t.trim().is_empty())
    }
}

impl Row for Query {
    const IS_QUERY: bool = true;
    fn from_parts(p: Parts) -> Self {
        Query {
            id: p.id,
            text: p.text,
            gold: p.gold,
        }
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn has_text(&self) -> bool {
        !self.text.trim().is_empty()
    }
}

fn resolve_format(path: &Path, opts: &LoadOptions) -> Result<Format, ItemsError> {
    opts.format
        .or_else(|| Format::from_path(path))
        .ok_or_else(|| ItemsError::UnknownFormat {
            path: path.to_path_buf(),
        })
}

/// Loads an item list; the format comes from `opts.format` or the extension.
pub fn load_items(path: &Path, opts: &LoadOptions) -> Result<ItemList, ItemsError> {
    load_items_with_progress(path, opts, &mut |_, _| {}, &AtomicBool::new(false))
}

/// Like [`load_items`], reporting `(bytes_done, bytes_total)` and stopping
/// with [`ItemsError::Cancelled`] once `cancel` is set (checked per chunk).
pub fn load_items_with_progress(
    path: &Path,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<ItemList, ItemsError> {
    let format = resolve_format(path, opts)?;
    let bytes = collect::read_file(path, progress, cancel)?;
    let (items, report) = parse_rows::<Item>(&bytes, format, path, opts, progress, cancel)?;
    Ok(ItemList {
        path: path.to_path_buf(),
        items,
        report,
    })
}

/// Loads a query set; `gold` ids come from a `gold` field or column.
pub fn load_queries(path: &Path, opts: &LoadOptions) -> Result<QuerySet, ItemsError> {
    load_queries_with_progress(path, opts, &mut |_, _| {}, &AtomicBool::new(false))
}

/// Like [`load_queries`] with progress and cancellation.
pub fn load_queries_with_progress(
    path: &Path,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<QuerySet, ItemsError> {
    let format = resolve_format(path, opts)?;
    let bytes = collect::read_file(path, progress, cancel)?;
    let (queries, report) = parse_rows::<Query>(&bytes, format, path, opts, progress, cancel)?;
    Ok(QuerySet {
        path: path.to_path_buf(),
        queries,
        report,
    })
}

/// Loads BEIR `queries.jsonl` together with a `qrels/*.tsv` file; queries
/// get every corpus id with score > 0 as gold. Only queries named in the
/// qrels are kept (BEIR query files hold all splits); the report says how
/// many were left out.
pub fn load_beir_queries(
    queries: &Path,
    qrels: &Path,
    opts: &LoadOptions,
) -> Result<QuerySet, ItemsError> {
    beir::load_beir_queries(queries, qrels, opts)
}

/// Parses an in-memory item file; `origin` is only used in messages.
pub fn parse_items(
    bytes: &[u8],
    format: Format,
    origin: &Path,
    opts: &LoadOptions,
) -> Result<ItemList, ItemsError> {
    let (items, report) = parse_rows::<Item>(
        bytes,
        format,
        origin,
        opts,
        &mut |_, _| {},
        &AtomicBool::new(false),
    )?;
    Ok(ItemList {
        path: origin.to_path_buf(),
        items,
        report,
    })
}

/// Parses an in-memory query file; `origin` is only used in messages.
pub fn parse_queries(
    bytes: &[u8],
    format: Format,
    origin: &Path,
    opts: &LoadOptions,
) -> Result<QuerySet, ItemsError> {
    let (queries, report) = parse_rows::<Query>(
        bytes,
        format,
        origin,
        opts,
        &mut |_, _| {},
        &AtomicBool::new(false),
    )?;
    Ok(QuerySet {
        path: origin.to_path_buf(),
        queries,
        report,
    })
}

fn parse_rows<R: Row>(
    bytes: &[u8],
    format: Format,
    path: &Path,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<(Vec<R>, LoadReport), ItemsError> {
    let body = collect::strip_bom(bytes, path)?;
    let total = bytes.len() as u64;
    let mut ctx = Ctx {
        path,
        skip_invalid: opts.skip_invalid,
        progress,
        cancel,
        total,
        // The BOM is not part of any line; offsets past it still count it so
        // that progress reaches the file size.
        offset: (bytes.len() - body.len()) as u64,
    };
    let collector = match format {
        Format::Txt => txt::parse::<R>(body, &mut ctx)?,
        Format::Jsonl => jsonl::parse::<R>(body, &mut ctx)?,
        Format::Json => json::parse::<R>(body, &mut ctx)?,
        Format::Csv => delimited::parse::<R>(body, b',', &mut ctx)?,
        Format::Tsv => delimited::parse::<R>(body, b'\t', &mut ctx)?,
    };
    (ctx.progress)(total, total);
    let (rows, mut report) = collector.finish(path, opts.skip_invalid)?;
    report.format = Some(format);
    Ok((rows, report))
}

/// A stable 128-bit fingerprint (hex) of ids, titles and texts in order.
///
/// Used to tie caches (embeddings, indexes) to the exact list they were built
/// from; every field is length-prefixed so that moving bytes between fields
/// changes the result.
pub fn fingerprint(items: &[Item]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"relex-items-v1");
    h.update((items.len() as u64).to_le_bytes());
    for it in items {
        h.update((it.id.len() as u64).to_le_bytes());
        h.update(it.id.as_bytes());
        match it.title.as_deref() {
            Some(t) if !t.is_empty() => {
                h.update([1u8]);
                h.update((t.len() as u64).to_le_bytes());
                h.update(t.as_bytes());
            }
            _ => h.update([0u8]),
        }
        h.update((it.text.len() as u64).to_le_bytes());
        h.update(it.text.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The text printed by `relex items check FILE`: format, counts, blank lines
/// and the first problems. Loads with `skip_invalid` so that one run shows
/// every kind of problem in the file.
/// The outcome of `relex items check`, which its exit status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    /// Every row loaded.
    Ok,
    /// The file loads, but some rows were invalid (they are listed).
    ProblemsFound,
    /// The file cannot be read or holds no valid row.
    Unreadable,
}

impl CheckVerdict {
    /// The process exit status: 0 OK, 3 problems found, 4 unreadable (1 stays for other
    /// errors and 2 for usage errors, as everywhere in the CLI).
    pub fn exit_code(self) -> u8 {
        match self {
            CheckVerdict::Ok => 0,
            CheckVerdict::ProblemsFound => 3,
            CheckVerdict::Unreadable => 4,
        }
    }
}

/// A human-readable summary of a file (format, counts, first problems) and its verdict.
pub fn check_report(path: &Path, format: Option<Format>) -> (String, CheckVerdict) {
    let opts = LoadOptions {
        format,
        skip_invalid: true,
    };
    let mut out = String::new();
    let _ = writeln!(out, "file:        {}", path.display());
    match load_items(path, &opts) {
        Ok(list) => {
            let r = &list.report;
            let fmt_name = r.format.map(Format::name).unwrap_or("?");
            let titled = list.items.iter().filter(|i| i.title.is_some()).count();
            let _ = writeln!(out, "format:      {fmt_name}");
            let _ = writeln!(out, "items:       {}", r.rows_loaded);
            let _ = writeln!(out, "with title:  {titled}");
            let _ = writeln!(out, "blank lines: {}", r.blank_lines);
            let _ = writeln!(out, "skipped:     {}", r.skipped);
            for (reason, n) in &r.skipped_by_reason {
                let _ = writeln!(out, "  {reason}: {n}");
            }
            for note in &r.notes {
                let _ = writeln!(out, "note: {note}");
            }
            if !r.first_errors.is_empty() {
                let _ = writeln!(out, "first problems:");
                for e in &r.first_errors {
                    let _ = writeln!(out, "  {e}");
                }
                if r.skipped > r.first_errors.len() {
                    let _ = writeln!(out, "  ... and {} more", r.skipped - r.first_errors.len());
                }
            }
            let _ = writeln!(out, "fingerprint: {}", fingerprint(&list.items));
            let verdict = if r.skipped == 0 {
                CheckVerdict::Ok
            } else {
                CheckVerdict::ProblemsFound
            };
            let label = match verdict {
                CheckVerdict::Ok => "OK",
                _ => "PROBLEMS FOUND",
            };
            let _ = writeln!(out, "result:      {label}");
            (out, verdict)
        }
        Err(e) => {
            let _ = writeln!(out, "error:       {e}");
            let _ = writeln!(out, "result:      UNREADABLE");
            (out, CheckVerdict::Unreadable)
        }
    }
}

#[cfg(test)]
mod tests;
