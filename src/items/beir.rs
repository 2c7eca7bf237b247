//! BEIR query sets: `queries.jsonl` plus a `qrels/<split>.tsv` file
//! (`query-id  corpus-id  score`, with a header), read together so that each
//! query carries its gold ids (score > 0).
//!
//! BEIR keeps all splits' queries in one file and selects a split through the
//! qrels, so only queries named in the qrels are kept; the report says how
//! many others were left out, so nothing disappears unannounced.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::collect::{read_file, strip_bom, Tally};
use super::error::{utf8_message, ErrorKind, ItemsError, RowError};
use super::{load_queries, LoadOptions, QuerySet, MAX_REPORTED_ERRORS};

/// One judged pair from a qrels file.
#[derive(Debug)]
struct Judgement<'a> {
    query: &'a str,
    doc: &'a str,
    score: f64,
}

fn parse_line(line: &str, lineno: usize) -> Result<Judgement<'_>, RowError> {
    let fields: Vec<&str> = if line.contains('\t') {
        line.split('\t').map(str::trim).collect()
    } else {
        line.split_whitespace().collect()
    };
    // Three fields is BEIR; four is the TREC layout `qid iter docid rel`.
    let (query, doc, score) = match fields.as_slice() {
        [q, d, s] => (*q, *d, *s),
        [q, _, d, s] => (*q, *d, *s),
        other => {
            return Err(RowError::new(
                lineno,
                None,
                ErrorKind::FieldCount,
                format!(
                    "expected 3 tab-separated fields (query-id, corpus-id, score), found {}",
                    other.len()
                ),
            ))
        }
    };
    let score: f64 = score.parse().map_err(|_| {
        RowError::new(
            lineno,
            None,
            ErrorKind::InvalidValue,
            format!("expected a numeric score, found \"{score}\""),
        )
    })?;
    if query.is_empty() || doc.is_empty() {
        return Err(RowError::new(
            lineno,
            None,
            ErrorKind::InvalidValue,
            "empty query-id or corpus-id",
        ));
    }
    Ok(Judgement { query, doc, score })
}

pub(crate) fn load_beir_queries(
    queries_path: &Path,
    qrels_path: &Path,
    opts: &LoadOptions,
) -> Result<QuerySet, ItemsError> {
    let mut set = load_queries(queries_path, opts)?;
    let bytes = read_file(qrels_path, &mut |_, _| {}, &AtomicBool::new(false))?;
    let body = strip_bom(&bytes, qrels_path)?;

    let index: HashMap<String, usize> = set
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.clone(), i))
        .collect();
    let mut judged = vec![false; set.queries.len()];
    let mut tally = Tally::default();
    let mut first_content_line = true;
    let mut pairs = 0usize;

    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let result = std::str::from_utf8(raw)
            .map_err(|e| {
                let at = e.valid_up_to();
                RowError::new(
                    lineno,
                    Some(at + 1),
                    ErrorKind::InvalidUtf8,
                    utf8_message(raw, at),
                )
            })
            .and_then(|line| {
                if line.trim().is_empty() {
                    return Ok(None);
                }
                let parsed = parse_line(line, lineno);
                if std::mem::take(&mut first_content_line) && parsed.is_err() {
                    // The header ("query-id corpus-id score") has no numeric score.
                    return Ok(None);
                }
                let j = parsed?;
                let Some(&qi) = index.get(j.query) else {
                    return Err(RowError::new(
                        lineno,
                        None,
                        ErrorKind::UnknownQuery,
                        format!(
                            "query id \"{}\" is not in {}",
                            j.query,
                            queries_path.display()
                        ),
                    ));
                };
                Ok(Some((qi, j.doc.to_string(), j.score)))
            });
        match result {
            Ok(None) => {}
            Ok(Some((qi, doc, score))) => {
                pairs += 1;
                judged[qi] = true;
                let gold = &mut set.queries[qi].gold;
                if score > 0.0 && !gold.contains(&doc) {
                    gold.push(doc);
                }
            }
            Err(e) => {
                if !opts.skip_invalid {
                    return Err(e.into_error(qrels_path));
                }
                tally.add(e);
            }
        }
    }

    if pairs == 0 {
        return Err(match tally.first.into_iter().next() {
            Some(first) => ItemsError::NoValidRows {
                path: qrels_path.to_path_buf(),
                skipped: tally.skipped,
                first: Box::new(first.into_error(qrels_path)),
            },
            None => ItemsError::Empty {
                path: qrels_path.to_path_buf(),
            },
        });
    }

    let before = set.queries.len();
    let mut k = 0;
    set.queries.retain(|_| {
        let keep = judged[k];
        k += 1;
        keep
    });
    let report = &mut set.report;
    let left_out = before - set.queries.len();
    if left_out > 0 {
        report.notes.push(format!(
            "{left_out} of {before} queries have no judgements in {} and were left out",
            qrels_path.display()
        ));
    }
    report.rows_loaded = set.queries.len();
    report.skipped += tally.skipped;
    for (kind, n) in tally.by_reason {
        report.skipped_by_reason.push((format!("qrels: {kind}"), n));
    }
    report
        .first_errors
        .extend(tally.first.into_iter().map(|e| e.into_error(qrels_path)));
    report.first_errors.truncate(MAX_REPORTED_ERRORS);
    Ok(set)
}
