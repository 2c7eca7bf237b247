//! CSV and TSV: a header naming `id`, `text` and optional `title` (items) or
//! `gold` (queries) columns, or no header and a single column of texts.
//!
//! Spreadsheets are where many people keep their lists, so quoting (commas,
//! newlines and doubled quotes inside fields) must work; the csv crate does
//! that. Records can span lines, which rules out the line-chunked parallel
//! parser, so this one runs sequentially (CSV is rarely the million-row case).

use super::collect::{Collector, Ctx};
use super::error::{utf8_message, ErrorKind, ItemsError, RowError};
use super::{Parts, Row};

/// Which column holds which field.
#[derive(Debug, Default)]
struct Columns {
    id: Option<usize>,
    title: Option<usize>,
    text: usize,
    gold: Option<usize>,
    count: usize,
    names: Vec<String>,
}

fn header_columns<R: Row>(
    names: &[String],
    path: &std::path::Path,
) -> Result<Option<Columns>, ItemsError> {
    let fatal = |msg: String| RowError::new(1, None, ErrorKind::InvalidValue, msg).into_error(path);
    let is_text = |n: &str| n == "text" || (R::IS_QUERY && n == "query");
    if !names.iter().any(|n| is_text(n)) {
        let known = ["id", "_id", "title", "gold"];
        if names.iter().any(|n| known.contains(&n.as_str())) {
            return Err(fatal(format!(
                "the header has no \"text\" column; expected \"id\", \"text\"{} columns, found: {}",
                if R::IS_QUERY {
                    ", \"gold\""
                } else {
                    ", \"title\""
                },
                names.join(", ")
            )));
        }
        return Ok(None);
    }
    let mut c = Columns {
        count: names.len(),
        names: names.to_vec(),
        ..Columns::default()
    };
    let mut text = None;
    for (i, n) in names.iter().enumerate() {
        let slot = match n.as_str() {
            "id" | "_id" => &mut c.id,
            "title" if !R::IS_QUERY => &mut c.title,
            "gold" if R::IS_QUERY => &mut c.gold,
            n if is_text(n) => &mut text,
            _ => continue,
        };
        if slot.is_some() {
            return Err(fatal(format!(
                "column \"{n}\" appears more than once in the header"
            )));
        }
        *slot = Some(i);
    }
    c.text = text.unwrap_or(0);
    Ok(Some(c))
}

fn field<'r>(
    rec: &'r csv::ByteRecord,
    i: usize,
    name: &str,
    line: usize,
) -> Result<&'r str, RowError> {
    let raw = rec.get(i).unwrap_or_default();
    std::str::from_utf8(raw).map_err(|e| {
        RowError::new(
            line,
            None,
            ErrorKind::InvalidUtf8,
            format!(
                "field \"{name}\" (column {}): {}",
                i + 1,
                utf8_message(raw, e.valid_up_to())
            ),
        )
    })
}

/// Number of empty lines at the start of `b`.
fn leading_blank_lines(b: &[u8]) -> usize {
    let run = b.iter().take_while(|&&c| c == b'\n' || c == b'\r').count();
    memchr::memchr_iter(b'\n', &b[..run]).count()
}

fn is_blank(rec: &csv::ByteRecord) -> bool {
    rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

fn row_with_header<R: Row>(
    rec: &csv::ByteRecord,
    c: &Columns,
    line: usize,
) -> Result<Option<R>, RowError> {
    if rec.len() != c.count {
        if is_blank(rec) {
            return Ok(None);
        }
        return Err(RowError::new(
            line,
            None,
            ErrorKind::FieldCount,
            format!(
                "expected {} fields ({}), found {}; quote fields that contain the delimiter",
                c.count,
                c.names.join(", "),
                rec.len()
            ),
        ));
    }
    let id = match c.id {
        Some(i) => {
            let id = field(rec, i, "id", line)?.trim();
            if id.is_empty() {
                return Err(RowError::new(
                    line,
                    None,
                    ErrorKind::InvalidValue,
                    "empty \"id\" field; expected an id",
                ));
            }
            id.to_string()
        }
        None => line.to_string(),
    };
    let text = field(rec, c.text, "text", line)?.to_string();
    let title = match c.title {
        Some(i) => Some(field(rec, i, "title", line)?)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        None => None,
    };
    let gold = match c.gold {
        Some(i) => field(rec, i, "gold", line)?
            .split([';', '|'])
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    Ok(Some(R::from_parts(Parts {
        id,
        title,
        text,
        gold,
    })))
}

fn row_headerless<R: Row>(rec: &csv::ByteRecord, line: usize) -> Result<Option<R>, RowError> {
    if rec.len() != 1 {
        return Err(RowError::new(
            line,
            None,
            ErrorKind::FieldCount,
            format!(
                "expected 1 field (a file without a header row has one text per row), found {}; quote texts that contain the delimiter",
                rec.len()
            ),
        ));
    }
    let text = field(rec, 0, "text", line)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(R::from_parts(Parts {
        id: line.to_string(),
        title: None,
        text: text.to_string(),
        gold: Vec::new(),
    })))
}

pub(crate) fn parse<R: Row>(
    body: &[u8],
    delimiter: u8,
    ctx: &mut Ctx,
) -> Result<Collector<R>, ItemsError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body);
    let mut col = Collector::new();
    let mut rec = csv::ByteRecord::new();
    let skip = ctx.skip_invalid;
    let path = ctx.path;
    let read_err = |e: csv::Error, line: usize| {
        RowError::new(line, None, ErrorKind::InvalidValue, e.to_string()).into_error(path)
    };
    const REPORT_EVERY: usize = 16384;
    let mut until_report = REPORT_EVERY;
    let mut columns: Option<Option<Columns>> = None;
    // Where the last record started (line, byte), to check it for an open quote at EOF.
    let mut last_start: Option<(usize, usize)> = None;
    loop {
        let at = rdr.position().line() as usize;
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(read_err(e, at)),
        }
        // The csv crate skips empty lines silently and positions the record
        // at the first of them; counting them gives the true line and the
        // number of blank lines.
        let (start_line, start_byte) = rec
            .position()
            .map(|p| (p.line() as usize, p.byte() as usize))
            .unwrap_or((at, 0));
        let blanks = leading_blank_lines(body.get(start_byte..).unwrap_or_default());
        col.add_blanks(blanks);
        let line = start_line + blanks;
        last_start = Some((line, start_byte));
        until_report -= 1;
        if until_report == 0 {
            until_report = REPORT_EVERY;
            ctx.check_cancel()?;
            ctx.report(rdr.position().byte() as usize);
        }
        let cols = match &columns {
            Some(c) => c,
            None => {
                let names: Vec<String> = rec
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase())
                    .collect();
                let found = header_columns::<R>(&names, path)?;
                let is_header = found.is_some();
                if found.is_none() && rec.len() != 1 {
                    return Err(RowError::new(
                        line,
                        None,
                        ErrorKind::MissingField,
                        format!(
                            "expected a header row naming \"id\" and \"text\" columns, found {} unnamed columns; a file without a header must have exactly one column",
                            rec.len()
                        ),
                    )
                    .into_error(path));
                }
                // `id;title;text` read with commas is one column named by all three:
                // a semicolon-separated file would otherwise load as one text per line,
                // header included.
                if found.is_none() && rec.len() == 1 && semicolon_header::<R>(&names[0]) {
                    return Err(RowError::new(
                        line,
                        None,
                        ErrorKind::MissingField,
                        format!(
                            "the first line `{}` looks like a header separated by semicolons; relex reads comma-separated .csv and tab-separated .tsv files: convert the file, or save it with commas",
                            names[0]
                        ),
                    )
                    .into_error(path));
                }
                columns = Some(found);
                if is_header {
                    continue;
                }
                match &columns {
                    Some(c) => c,
                    None => continue,
                }
            }
        };
        let row = match cols {
            Some(c) => row_with_header::<R>(&rec, c, line),
            None => row_headerless::<R>(&rec, line),
        };
        match row {
            Ok(Some(r)) => col.push_row(line, r),
            Ok(None) => col.push_blank(),
            Err(e) => {
                if !col.error(e, skip) {
                    break;
                }
            }
        }
    }
    // The csv crate ends an unterminated quoted field silently at EOF, which turns the
    // rest of the file into one field of one record. Nothing after the open quote can be
    // trusted, so this is an error even with `skip_invalid`.
    if let Some((line, byte)) = last_start {
        if !col.aborted() && ends_in_open_quote(body.get(byte..).unwrap_or_default(), delimiter) {
            return Err(RowError::new(
                line,
                None,
                ErrorKind::UnterminatedQuote,
                "a quoted field opened in this record is never closed; expected a closing \" \
                 (write a quote inside a quoted field as \"\")",
            )
            .into_error(path));
        }
    }
    Ok(col)
}

/// Whether a lone (lower-cased) header field is a header split by `;` instead: it names
/// a text or id column among its parts.
fn semicolon_header<R: Row>(field: &str) -> bool {
    let names: Vec<&str> = field.split(';').map(str::trim).collect();
    names.len() > 1
        && names
            .iter()
            .any(|n| matches!(*n, "text" | "id" | "_id") || (R::IS_QUERY && *n == "query"))
}

/// Whether `record` (from a record's first byte to the end of the file) leaves a quoted
/// field open, following the csv crate's rules: a quote opens a quoted field only at
/// the start of a field, `""` inside one is a literal quote, and a quote elsewhere is
/// a literal character.
fn ends_in_open_quote(record: &[u8], delimiter: u8) -> bool {
    let mut in_quotes = false;
    let mut field_start = true;
    let mut i = 0;
    while i < record.len() {
        let c = record[i];
        if in_quotes {
            if c == b'"' {
                if record.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if c == delimiter || c == b'\n' || c == b'\r' {
            field_start = true;
        } else {
            in_quotes = field_start && c == b'"';
            field_start = false;
        }
        i += 1;
    }
    in_quotes
}
