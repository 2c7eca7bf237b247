//! The machinery every format parser shares: reading the file, splitting it
//! into line-aligned chunks that rayon parses in parallel, merging the chunks
//! back in file order, counting skipped rows and finally checking ids.
//!
//! Keeping this in one place means every format gets the same progress,
//! cancellation, `skip_invalid` and duplicate-id behaviour.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::error::{ErrorKind, ItemsError, RowError};
use super::{LoadReport, Row, MAX_REPORTED_ERRORS};

/// Bytes per parallel chunk: large enough that per-chunk overhead vanishes,
/// small enough for smooth progress and a prompt reaction to cancellation.
pub(crate) const CHUNK_BYTES: usize = 2 << 20;

/// Per-load state handed to the format parsers.
pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub skip_invalid: bool,
    pub progress: &'a mut dyn FnMut(u64, u64),
    pub cancel: &'a AtomicBool,
    pub total: u64,
    /// Bytes before the parsed body (a BOM), added to progress offsets.
    pub offset: u64,
}

impl Ctx<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn check_cancel(&self) -> Result<(), ItemsError> {
        if self.cancelled() {
            Err(ItemsError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reports progress for `done` bytes of the body.
    pub fn report(&mut self, done: usize) {
        let done = (self.offset + done as u64).min(self.total);
        (self.progress)(done, self.total);
    }
}

/// Reads the whole file; one exact-size buffer keeps peak memory at one copy
/// of the file while it is being parsed.
pub(crate) fn read_file(
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<Vec<u8>, ItemsError> {
    let io = |e| ItemsError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    progress(0, len);
    let mut buf = read_parallel(&file, len as usize).map_err(io)?;
    if cancel.load(Ordering::Relaxed) {
        return Err(ItemsError::Cancelled);
    }
    // Whatever the file gained since its size was taken (or all of it where
    // positional reads are unavailable).
    file.seek(SeekFrom::Start(buf.len() as u64)).map_err(io)?;
    file.read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

/// Reads the first `len` bytes with positional reads on all cores: filling a
/// fresh 200 MB buffer is dominated by page faults, which then happen on
/// several threads at once.
#[cfg(unix)]
fn read_parallel(file: &std::fs::File, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    const PIECE: usize = 8 << 20;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len + 1)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e))?;
    buf.resize(len, 0);
    buf.par_chunks_mut(PIECE)
        .enumerate()
        .try_for_each(|(i, piece)| file.read_exact_at(piece, (i * PIECE) as u64))?;
    Ok(buf)
}

#[cfg(not(unix))]
fn read_parallel(_file: &std::fs::File, len: usize) -> std::io::Result<Vec<u8>> {
    Ok(Vec::with_capacity(len + 1))
}

/// Drops a UTF-8 byte order mark; rejects UTF-16 files with a clear message
/// because they would otherwise show up as a wall of UTF-8 errors.
pub(crate) fn strip_bom<'b>(bytes: &'b [u8], path: &Path) -> Result<&'b [u8], ItemsError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return Ok(rest);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(RowError::new(
            1,
            Some(1),
            ErrorKind::InvalidUtf8,
            "the file is UTF-16 encoded (it starts with a UTF-16 byte order mark); save it as UTF-8",
        )
        .into_error(path));
    }
    Ok(bytes)
}

/// Counts of skipped rows plus the first few messages.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub skipped: usize,
    pub by_reason: Vec<(ErrorKind, usize)>,
    pub first: Vec<RowError>,
}

impl Tally {
    fn bump(&mut self, kind: ErrorKind, n: usize) {
        match self.by_reason.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, c)) => *c += n,
            None => self.by_reason.push((kind, n)),
        }
    }

    pub fn add(&mut self, e: RowError) {
        self.skipped += 1;
        self.bump(e.kind, 1);
        if self.first.len() < MAX_REPORTED_ERRORS {
            self.first.push(e);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.skipped += other.skipped;
        for (k, n) in other.by_reason {
            self.bump(k, n);
        }
        let room = MAX_REPORTED_ERRORS.saturating_sub(self.first.len());
        self.first.extend(other.first.into_iter().take(room));
    }
}

/// The result of parsing one chunk; merged into a [`Collector`] in order.
pub(crate) struct ChunkOut<R> {
    pub rows: Vec<(usize, R)>,
    pub blank: usize,
    pub tally: Tally,
    /// Without `skip_invalid` a chunk stops at its first error.
    pub abort: Option<RowError>,
    pub cancelled: bool,
}

impl<R> ChunkOut<R> {
    pub fn new() -> Self {
        ChunkOut {
            rows: Vec::new(),
            blank: 0,
            tally: Tally::default(),
            abort: None,
            cancelled: false,
        }
    }

    /// Records a bad row; returns whether parsing should go on.
    pub fn error(&mut self, e: RowError, skip_invalid: bool) -> bool {
        if skip_invalid {
            self.tally.add(e);
            true
        } else {
            self.abort = Some(e);
            false
        }
    }
}

/// Rows in file order with their line numbers, plus what was skipped.
pub(crate) struct Collector<R> {
    rows: Vec<R>,
    lines: Vec<usize>,
    blank: usize,
    tally: Tally,
    abort: Option<RowError>,
}

impl<R: Row> Collector<R> {
    pub fn new() -> Self {
        Collector {
            rows: Vec::new(),
            lines: Vec::new(),
            blank: 0,
            tally: Tally::default(),
            abort: None,
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort.is_some()
    }

    pub fn push_row(&mut self, line: usize, row: R) {
        self.rows.push(row);
        self.lines.push(line);
    }

    pub fn push_blank(&mut self) {
        self.blank += 1;
    }

    pub fn add_blanks(&mut self, n: usize) {
        self.blank += n;
    }

    /// Records a bad row; returns whether parsing should go on.
    pub fn error(&mut self, e: RowError, skip_invalid: bool) -> bool {
        if skip_invalid {
            self.tally.add(e);
            true
        } else {
            if self.abort.is_none() {
                self.abort = Some(e);
            }
            false
        }
    }

    fn merge(&mut self, out: ChunkOut<R>) {
        self.blank += out.blank;
        self.rows.reserve(out.rows.len());
        self.lines.reserve(out.rows.len());
        for (line, row) in out.rows {
            self.rows.push(row);
            self.lines.push(line);
        }
        self.tally.merge(out.tally);
        if self.abort.is_none() {
            self.abort = out.abort;
        }
    }

    /// Checks ids and builds the report.
    ///
    /// Without `skip_invalid` the earliest problem in the file wins, whether
    /// it is a bad row or a repeated id. With it, the first use of an id is
    /// kept and later ones are skipped and counted.
    pub fn finish(
        self,
        path: &Path,
        skip_invalid: bool,
    ) -> Result<(Vec<R>, LoadReport), ItemsError> {
        let Collector {
            mut rows,
            lines,
            blank,
            mut tally,
            abort,
        } = self;

        let dups = find_duplicates(&rows, &lines, skip_invalid);
        let empties: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].has_text()).collect();

        let dup_error = |i: usize, first_line: usize, rows: &[R]| ItemsError::DuplicateId {
            path: path.to_path_buf(),
            id: rows[i].id().to_string(),
            first_line,
            line: lines[i],
        };
        let empty_error = |i: usize, rows: &[R]| {
            RowError::new(
                lines[i],
                None,
                ErrorKind::EmptyText,
                format!(
                    "record \"{}\" has no text (empty or whitespace only); expected text to score",
                    rows[i].id()
                ),
            )
            .into_error(path)
        };

        if !skip_invalid {
            // Rows only exist before the aborting error, so a duplicate or an empty
            // text found here comes earlier in the file; of those, the earliest wins.
            let dup = dups
                .first()
                .map(|&(i, first)| (lines[i], dup_error(i, first, &rows)));
            let empty = empties.first().map(|&i| (lines[i], empty_error(i, &rows)));
            let earliest = match (dup, empty) {
                (Some(d), Some(e)) => Some(if e.0 < d.0 { e } else { d }),
                (d, e) => d.or(e),
            };
            if let Some((_, e)) = earliest {
                return Err(e);
            }
            if let Some(e) = abort {
                return Err(e.into_error(path));
            }
        }

        let mut first_errors: Vec<ItemsError> = Vec::new();
        let mut by_reason: Vec<(ErrorKind, usize)> = tally.by_reason.clone();
        if !dups.is_empty() || !empties.is_empty() {
            let mut drop = vec![false; rows.len()];
            for &(i, first_line) in dups.iter().take(MAX_REPORTED_ERRORS) {
                first_errors.push(dup_error(i, first_line, &rows));
            }
            for &(i, _) in &dups {
                drop[i] = true;
            }
            // A row that is both a repeat and empty counts once, as the repeat.
            let empties: Vec<usize> = empties.into_iter().filter(|&i| !drop[i]).collect();
            for &i in empties.iter().take(MAX_REPORTED_ERRORS) {
                first_errors.push(empty_error(i, &rows));
            }
            for &i in &empties {
                drop[i] = true;
            }
            if !dups.is_empty() {
                by_reason.push((ErrorKind::DuplicateId, dups.len()));
            }
            if !empties.is_empty() {
                by_reason.push((ErrorKind::EmptyText, empties.len()));
            }
            tally.skipped += dups.len() + empties.len();
            let mut k = 0;
            rows.retain(|_| {
                let keep = !drop[k];
                k += 1;
                keep
            });
        }
        first_errors.extend(tally.first.into_iter().map(|e| e.into_error(path)));
        first_errors.sort_by_key(|e| e.line().unwrap_or(0));
        first_errors.truncate(MAX_REPORTED_ERRORS);

        if rows.is_empty() {
            if tally.skipped > 0 && !first_errors.is_empty() {
                let first = first_errors.remove(0);
                return Err(ItemsError::NoValidRows {
                    path: path.to_path_buf(),
                    skipped: tally.skipped,
                    first: Box::new(first),
                });
            }
            return Err(ItemsError::Empty {
                path: path.to_path_buf(),
            });
        }

        let report = LoadReport {
            format: None,
            rows_loaded: rows.len(),
            blank_lines: blank,
            skipped: tally.skipped,
            skipped_by_reason: by_reason
                .into_iter()
                .map(|(k, n)| (k.label().to_string(), n))
                .collect(),
            first_errors,
            notes: Vec::new(),
        };
        Ok((rows, report))
    }
}

/// Later uses of an id as `(row index, line of the first use)`, in row
/// order; without `skip_invalid` only the earliest is needed.
///
/// Sorting `(hash, index)` pairs in parallel is several times faster than a
/// sequential `HashMap<&str, _>` on a million ids (cache misses dominate
/// there); equal hashes are confirmed by comparing the ids themselves.
fn find_duplicates<R: Row>(rows: &[R], lines: &[usize], skip_invalid: bool) -> Vec<(usize, usize)> {
    let mut keyed: Vec<(u64, usize)> = rows
        .par_iter()
        .enumerate()
        .map(|(i, r)| (id_hash(r.id()), i))
        .collect();
    keyed.par_sort_unstable();
    let mut dups = Vec::new();
    let mut g = 0;
    while g < keyed.len() {
        let mut end = g + 1;
        while end < keyed.len() && keyed[end].0 == keyed[g].0 {
            end += 1;
        }
        // Within a group indices are ascending, so the first equal id found
        // scanning forward is the first use.
        let group = &keyed[g..end];
        for (k, &(_, i)) in group.iter().enumerate().skip(1) {
            let id = rows[i].id();
            if let Some(&(_, first)) = group[..k].iter().find(|&&(_, j)| rows[j].id() == id) {
                dups.push((i, lines[first]));
            }
        }
        g = end;
    }
    dups.sort_unstable();
    if !skip_invalid {
        dups.truncate(1);
    }
    dups
}

/// A fast non-cryptographic hash for ids (Fx-style multiply-rotate over
/// 8-byte words); collisions only cost a string comparison.
fn id_hash(s: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = s.len() as u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// A piece of the body to parse on one worker; `first_line` is the line
/// number of its first byte.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    pub start: usize,
    pub end: usize,
    pub first_line: usize,
}

/// Cuts `body` into chunks of about `target` bytes that end after a newline
/// and numbers their first lines.
pub(crate) fn line_units(body: &[u8], target: usize) -> Vec<Unit> {
    let mut bounds = Vec::with_capacity(body.len() / target.max(1) + 1);
    let mut start = 0;
    while start < body.len() {
        let mut end = (start + target).min(body.len());
        if end < body.len() {
            end = match memchr::memchr(b'\n', &body[end..]) {
                Some(i) => end + i + 1,
                None => body.len(),
            };
        }
        bounds.push((start, end));
        start = end;
    }
    let newlines: Vec<usize> = bounds
        .par_iter()
        .map(|&(s, e)| memchr::memchr_iter(b'\n', &body[s..e]).count())
        .collect();
    let mut line = 1;
    bounds
        .into_iter()
        .zip(newlines)
        .map(|((start, end), n)| {
            let u = Unit {
                start,
                end,
                first_line: line,
            };
            line += n;
            u
        })
        .collect()
}

/// Parses `units` in parallel, a wave at a time, merging results in order.
///
/// Waves exist because the progress callback is a `&mut dyn FnMut` owned by
/// the calling thread: between waves it can be called and the cancel flag
/// checked without any locking.
pub(crate) fn run_units<R, F>(
    units: &[Unit],
    ctx: &mut Ctx,
    col: &mut Collector<R>,
    work: F,
) -> Result<(), ItemsError>
where
    R: Row,
    F: Fn(&Unit) -> ChunkOut<R> + Sync,
{
    let wave = rayon::current_num_threads().max(1) * 4;
    let total_len = units.last().map(|u| u.end).unwrap_or(0);
    let cancel = ctx.cancel;
    let mut reserved = false;
    for group in units.chunks(wave) {
        ctx.check_cancel()?;
        let outs: Vec<ChunkOut<R>> = group
            .par_iter()
            .map(|u| {
                if cancel.load(Ordering::Relaxed) {
                    let mut out = ChunkOut::new();
                    out.cancelled = true;
                    out
                } else {
                    work(u)
                }
            })
            .collect();
        for out in outs {
            if out.cancelled {
                return Err(ItemsError::Cancelled);
            }
            col.merge(out);
            if col.aborted() {
                return Ok(());
            }
        }
        let done = group.last().map(|u| u.end).unwrap_or(0);
        if !reserved && done > 0 && done < total_len {
            // Growing a million-row Vec by doubling would briefly hold two
            // copies of it; one estimate from the first wave avoids that.
            reserved = true;
            let est = (col.rows.len() as f64 * total_len as f64 / done as f64 * 1.05) as usize;
            let extra = est.saturating_sub(col.rows.len());
            col.rows.reserve(extra);
            col.lines.reserve(extra);
        }
        ctx.report(done);
    }
    Ok(())
}

/// What a line parser makes of one line.
pub(crate) enum LineOutcome<R> {
    Blank,
    Row(R),
    Error(RowError),
}

/// Information about a line beyond its text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineInfo {
    pub line: usize,
    /// The file's last line, not followed by a newline.
    pub unterminated: bool,
}

/// Parses a line-oriented body (txt, jsonl) in parallel chunks. `parse`
/// receives each line without its `\n` / `\r\n`, already checked to be UTF-8.
pub(crate) fn parse_lines<R, F>(
    body: &[u8],
    ctx: &mut Ctx,
    parse: F,
) -> Result<Collector<R>, ItemsError>
where
    R: Row,
    F: Fn(&str, LineInfo) -> LineOutcome<R> + Sync,
{
    let units = line_units(body, CHUNK_BYTES);
    let skip = ctx.skip_invalid;
    let mut col = Collector::new();
    run_units(&units, ctx, &mut col, |u| {
        let chunk = &body[u.start..u.end];
        let at_eof = u.end == body.len();
        let mut out = ChunkOut::new();
        // Validating the whole chunk at once is much faster than per line;
        // only a chunk with bad bytes pays for the per-line check.
        let whole = std::str::from_utf8(chunk).ok();
        let mut pos = 0;
        let mut line = u.first_line;
        while pos < chunk.len() {
            let (end, next) = match memchr::memchr(b'\n', &chunk[pos..]) {
                Some(i) => (pos + i, pos + i + 1),
                None => (chunk.len(), chunk.len()),
            };
            let unterminated = at_eof && next == chunk.len() && end == chunk.len();
            let mut stop = end;
            if stop > pos && chunk[stop - 1] == b'\r' {
                stop -= 1;
            }
            let text = match whole {
                Some(s) => Ok(&s[pos..stop]),
                None => std::str::from_utf8(&chunk[pos..stop]).map_err(|e| {
                    let at = e.valid_up_to();
                    RowError::new(
                        line,
                        Some(at + 1),
                        ErrorKind::InvalidUtf8,
                        super::error::utf8_message(&chunk[pos..stop], at),
                    )
                }),
            };
            let outcome = match text {
                Ok(t) => parse(t, LineInfo { line, unterminated }),
                Err(e) => LineOutcome::Error(e),
            };
            match outcome {
                LineOutcome::Blank => out.blank += 1,
                LineOutcome::Row(r) => out.rows.push((line, r)),
                LineOutcome::Error(e) => {
                    if !out.error(e, skip) {
                        break;
                    }
                }
            }
            pos = next;
            line += 1;
        }
        out
    })?;
    Ok(col)
}

#[cfg(test)]
mod tests;
