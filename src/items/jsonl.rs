//! JSON Lines (`.jsonl`, `.ndjson`): one object per line, including the BEIR
//! corpus form `{"_id", "title", "text"}`.
//!
//! This is the format of big corpora, so it is the one that must load a
//! million rows in seconds: lines are independent, which lets chunks of the
//! file be parsed on all cores (see `collect::parse_lines`).

use super::collect::{parse_lines, Collector, Ctx, LineOutcome};
use super::error::{ErrorKind, ItemsError, RowError};
use super::record::{object_parts, syntax_error, Entry, Origin};
use super::Row;

pub(crate) fn parse<R: Row>(body: &[u8], ctx: &mut Ctx) -> Result<Collector<R>, ItemsError> {
    parse_lines(body, ctx, |line, info| {
        let start = line.len() - line.trim_start().len();
        if start == line.len() {
            return LineOutcome::Blank;
        }
        let origin = Origin {
            line: info.line,
            column: 1,
        };
        match serde_json::from_str::<Entry>(line) {
            Ok(Entry::Object(o)) => match object_parts(o, R::IS_QUERY, line.as_bytes(), origin) {
                Ok(p) => LineOutcome::Row(R::from_parts(p)),
                Err(e) => LineOutcome::Error(e),
            },
            Ok(Entry::Str(_)) => LineOutcome::Error(not_object(info.line, start, "string")),
            Ok(Entry::Other(t)) => LineOutcome::Error(not_object(info.line, start, t)),
            Err(e) => match line[start..].chars().next() {
                // serde_json would say "expected ident" about a line of prose.
                Some(c) if c != '{' && !info.unterminated => LineOutcome::Error(RowError::new(
                    info.line,
                    Some(start + 1),
                    ErrorKind::InvalidJson,
                    format!("invalid JSON: expected an object starting with '{{', found '{c}'"),
                )),
                _ => LineOutcome::Error(syntax_error(&e, origin, info.unterminated)),
            },
        }
    })
}

fn not_object(line: usize, start: usize, found: &str) -> RowError {
    RowError::new(
        line,
        Some(start + 1),
        ErrorKind::WrongType,
        format!("expected a JSON object with \"id\" and \"text\", found {found}"),
    )
}
