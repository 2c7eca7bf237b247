//! A `.json` file: one array of objects (`{"id", "title", "text"}`) or of
//! plain strings (id = 1-based position).
//!
//! Handing the whole array to serde_json would lose track of where each
//! element starts, so a bad element could only be reported by a byte column
//! somewhere in a huge line, and one bad element would sink the whole file.
//! Instead a small scanner finds the element boundaries (and reports broken
//! structure itself), then elements are parsed in parallel like JSONL lines,
//! each with its own line:column origin.

use super::collect::{run_units, ChunkOut, Collector, Ctx, Unit, CHUNK_BYTES};
use super::error::{utf8_message, ErrorKind, ItemsError, RowError};
use super::record::{object_parts, skip_value, skip_ws, syntax_error, Entry, Origin};
use super::{Parts, Row};

#[derive(Debug, Clone, Copy)]
struct Elem {
    start: usize,
    end: usize,
    origin: Origin,
}

/// Turns byte offsets into line:column while scanning forward.
struct Lines<'a> {
    body: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl Lines<'_> {
    fn at(&mut self, p: usize) -> Origin {
        if p < self.pos {
            // Positions normally only grow; restart rather than slice backwards.
            self.pos = 0;
            self.line = 1;
            self.line_start = 0;
        }
        let seg = &self.body[self.pos..p];
        if let Some(last) = memchr::memrchr(b'\n', seg) {
            self.line += memchr::memchr_iter(b'\n', seg).count();
            self.line_start = self.pos + last + 1;
        }
        self.pos = p;
        Origin {
            line: self.line,
            column: p - self.line_start + 1,
        }
    }
}

fn describe(b: Option<&u8>) -> String {
    match b {
        None => "the end of the file".into(),
        Some(c) if c.is_ascii_graphic() => format!("'{}'", *c as char),
        Some(c) => format!("byte 0x{c:02X}"),
    }
}

/// Finds the elements of the top-level array; structural problems are fatal
/// because after them element boundaries are unknown.
fn scan(body: &[u8], path: &std::path::Path) -> Result<Vec<Elem>, ItemsError> {
    let mut lines = Lines {
        body,
        pos: 0,
        line: 1,
        line_start: 0,
    };
    let fatal = |o: Origin, kind: ErrorKind, msg: String| {
        RowError::new(o.line, Some(o.column), kind, msg).into_error(path)
    };
    let mut elems = Vec::new();
    let mut i = skip_ws(body, 0);
    if i == body.len() {
        return Ok(elems);
    }
    if body[i] != b'[' {
        let o = lines.at(i);
        let found = match body[i] {
            b'{' => "an object (for one object per line use a .jsonl file)".to_string(),
            _ => describe(body.get(i)),
        };
        return Err(fatal(
            o,
            ErrorKind::WrongType,
            format!("expected a JSON array of items ('['), found {found}"),
        ));
    }
    i = skip_ws(body, i + 1);
    if body.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            let o = lines.at(i);
            if i == body.len() {
                return Err(fatal(
                    o,
                    ErrorKind::Truncated,
                    "truncated: the file ends inside the array; expected an element or ']'".into(),
                ));
            }
            let end = match skip_value(body, i) {
                Some(e) if e > i => e,
                Some(_) => {
                    return Err(fatal(
                        o,
                        ErrorKind::InvalidJson,
                        format!("expected an array element, found {}", describe(body.get(i))),
                    ))
                }
                None => {
                    return Err(fatal(
                        o,
                        ErrorKind::Truncated,
                        "truncated: the file ends inside this element; expected the rest of the value and ']'"
                            .into(),
                    ))
                }
            };
            elems.push(Elem {
                start: i,
                end,
                origin: o,
            });
            i = skip_ws(body, end);
            match body.get(i) {
                Some(b',') => {
                    i = skip_ws(body, i + 1);
                    if body.get(i) == Some(&b']') {
                        let o = lines.at(i);
                        return Err(fatal(
                            o,
                            ErrorKind::InvalidJson,
                            "trailing comma: expected another element after ','".into(),
                        ));
                    }
                }
                Some(b']') => {
                    i += 1;
                    break;
                }
                None => {
                    let o = lines.at(i);
                    return Err(fatal(
                        o,
                        ErrorKind::Truncated,
                        "truncated: the file ends inside the array; expected ',' or ']'".into(),
                    ));
                }
                other => {
                    let o = lines.at(i);
                    return Err(fatal(
                        o,
                        ErrorKind::InvalidJson,
                        format!(
                            "expected ',' or ']' after an array element, found {}",
                            describe(other)
                        ),
                    ));
                }
            }
        }
    }
    let i = skip_ws(body, i);
    if i < body.len() {
        let o = lines.at(i);
        return Err(fatal(
            o,
            ErrorKind::InvalidJson,
            format!(
                "unexpected {} after the closing ']' of the array",
                describe(body.get(i))
            ),
        ));
    }
    Ok(elems)
}

fn parse_elem<R: Row>(body: &[u8], index: usize, e: &Elem) -> Result<Option<R>, RowError> {
    let src = &body[e.start..e.end];
    let text = std::str::from_utf8(src).map_err(|err| {
        let at = err.valid_up_to();
        let (line, col) = e.origin.at(src, at);
        RowError::new(
            line,
            Some(col),
            ErrorKind::InvalidUtf8,
            utf8_message(src, at),
        )
    })?;
    match serde_json::from_str::<Entry>(text) {
        Ok(Entry::Object(o)) => {
            object_parts(o, R::IS_QUERY, src, e.origin).map(|p| Some(R::from_parts(p)))
        }
        Ok(Entry::Str(s)) if s.trim().is_empty() => Ok(None),
        Ok(Entry::Str(s)) => Ok(Some(R::from_parts(Parts {
            id: (index + 1).to_string(),
            title: None,
            text: s,
            gold: Vec::new(),
        }))),
        Ok(Entry::Other(t)) => Err(RowError::new(
            e.origin.line,
            Some(e.origin.column),
            ErrorKind::WrongType,
            format!("expected an object with \"id\" and \"text\" or a string, found {t}"),
        )),
        Err(err) => Err(syntax_error(&err, e.origin, false)),
    }
}

pub(crate) fn parse<R: Row>(body: &[u8], ctx: &mut Ctx) -> Result<Collector<R>, ItemsError> {
    let elems = scan(body, ctx.path)?;
    let mut col = Collector::new();
    // Group consecutive elements into units of about CHUNK_BYTES so that each
    // rayon task has enough work.
    let mut units = Vec::new();
    let mut first = 0;
    while first < elems.len() {
        let start = elems[first].start;
        let mut last = first;
        while last + 1 < elems.len() && elems[last].end - start < CHUNK_BYTES {
            last += 1;
        }
        units.push(Unit {
            start,
            end: elems[last].end,
            first_line: elems[first].origin.line,
        });
        first = last + 1;
    }
    let skip = ctx.skip_invalid;
    run_units(&units, ctx, &mut col, |u| {
        let mut out = ChunkOut::new();
        let lo = elems.partition_point(|e| e.start < u.start);
        let hi = elems.partition_point(|e| e.start < u.end);
        for (k, e) in elems[lo..hi].iter().enumerate() {
            let index = lo + k;
            match parse_elem::<R>(body, index, e) {
                Ok(Some(r)) => out.rows.push((e.origin.line, r)),
                Ok(None) => out.blank += 1,
                Err(err) => {
                    if !out.error(err, skip) {
                        break;
                    }
                }
            }
        }
        out
    })?;
    Ok(col)
}
