//! Errors for item and query loading.
//!
//! Users bring their own files, so every problem has to be reported the way a
//! compiler reports one: `path:line:column: what was expected`. The same types
//! also feed the `skip_invalid` tally, which is why row-level problems carry a
//! [`ErrorKind`] that can be counted.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a row was rejected; used to count skipped rows per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The line or element is not valid JSON.
    InvalidJson,
    /// The file ends in the middle of a value.
    Truncated,
    /// A field has the wrong JSON type (e.g. a number where text belongs).
    WrongType,
    /// A required field (`id`, `text`) is absent.
    MissingField,
    /// A field is present twice or in two spellings (`id` and `_id`).
    DuplicateField,
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// Two rows share an id.
    DuplicateId,
    /// A CSV/TSV row has the wrong number of fields.
    FieldCount,
    /// A value is syntactically fine but not acceptable (empty id, bad score).
    InvalidValue,
    /// A qrels row names a query that the query file does not contain.
    UnknownQuery,
    /// A record with an id has no text (empty or only whitespace) to score.
    EmptyText,
    /// A quoted CSV/TSV field is never closed, so the rest of the file would be one field.
    UnterminatedQuote,
}

impl ErrorKind {
    /// Short label used in reports and in `LoadReport::skipped_by_reason`.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid JSON",
            ErrorKind::Truncated => "truncated",
            ErrorKind::WrongType => "wrong type",
            ErrorKind::MissingField => "missing field",
            ErrorKind::DuplicateField => "duplicate field",
            ErrorKind::InvalidUtf8 => "invalid UTF-8",
            ErrorKind::DuplicateId => "duplicate id",
            ErrorKind::FieldCount => "wrong number of fields",
            ErrorKind::InvalidValue => "invalid value",
            ErrorKind::UnknownQuery => "unknown query id",
            ErrorKind::EmptyText => "empty text",
            ErrorKind::UnterminatedQuote => "unterminated quote",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Everything that can go wrong while reading or writing items and queries.
///
/// Lines and columns are 1-based; columns count bytes within the line.
#[derive(Debug, thiserror::Error)]
pub enum ItemsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}{}: {message}", path.display(), Col(*column))]
    Parse {
        path: PathBuf,
        line: usize,
        column: Option<usize>,
        kind: ErrorKind,
        message: String,
    },
    #[error("{}: no items found: the file is empty or holds only blank lines", path.display())]
    Empty { path: PathBuf },
    #[error("{}:{line}: duplicate id \"{id}\" (first used on line {first_line})", path.display())]
    DuplicateId {
        path: PathBuf,
        id: String,
        first_line: usize,
        line: usize,
    },
    #[error("{}: no valid rows ({skipped} skipped); first problem: {first}", path.display())]
    NoValidRows {
        path: PathBuf,
        skipped: usize,
        first: Box<ItemsError>,
    },
    #[error(
        "{}: cannot tell the format from the file name; use one of: txt, jsonl, json, csv, tsv",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    #[error("{}: cannot write: {message}", path.display())]
    Write { path: PathBuf, message: String },
    #[error("loading was cancelled")]
    Cancelled,
}

struct Col(Option<usize>);

impl fmt::Display for Col {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, ":{c}"),
            None => Ok(()),
        }
    }
}

impl ItemsError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ItemsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The line the problem is on, when it belongs to one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ItemsError::Parse { line, .. } | ItemsError::DuplicateId { line, .. } => Some(*line),
            ItemsError::NoValidRows { first, .. } => first.line(),
            _ => None,
        }
    }

    /// The counting category of a row-level problem.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ItemsError::Parse { kind, .. } => Some(*kind),
            ItemsError::DuplicateId { .. } => Some(ErrorKind::DuplicateId),
            _ => None,
        }
    }
}

/// A row-level problem before it is tied to a file; parse workers produce
/// these so that the path is only cloned for the few errors that are kept.
#[derive(Debug, Clone)]
pub(crate) struct RowError {
    pub line: usize,
    pub column: Option<usize>,
    pub kind: ErrorKind,
    pub message: String,
}

impl RowError {
    pub(crate) fn new(
        line: usize,
        column: Option<usize>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        RowError {
            line,
            column,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn into_error(self, path: &Path) -> ItemsError {
        ItemsError::Parse {
            path: path.to_path_buf(),
            line: self.line,
            column: self.column,
            kind: self.kind,
            message: self.message,
        }
    }
}

/// Explains an invalid UTF-8 sequence at byte offset `at` of `bytes`.
pub(crate) fn utf8_message(bytes: &[u8], at: usize) -> String {
    match bytes.get(at) {
        Some(b) => format!("invalid UTF-8 (byte 0x{b:02X}); expected UTF-8 text"),
        None => "invalid UTF-8 (sequence cut off at end of line); expected UTF-8 text".into(),
    }
}
