//! Writing item lists, for exports and for round-trip tests of the readers.
//!
//! Each writer produces exactly what the matching reader accepts, and refuses
//! items the format cannot represent rather than writing a file that would
//! load differently.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::error::ItemsError;
use super::{Format, Item};

#[derive(Serialize)]
struct OutItem<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    text: &'a str,
}

impl<'a> From<&'a Item> for OutItem<'a> {
    fn from(it: &'a Item) -> Self {
        OutItem {
            id: &it.id,
            title: it.title.as_deref().filter(|t| !t.is_empty()),
            text: &it.text,
        }
    }
}

/// Writes `items` to `path` in `format`.
///
/// `txt` keeps only the texts (ids become line numbers, titles are not
/// stored); it refuses texts that are blank or contain line breaks, since
/// those could not be read back as the same items.
pub fn write_items(path: &Path, items: &[Item], format: Format) -> Result<(), ItemsError> {
    let refuse = |message: String| ItemsError::Write {
        path: path.to_path_buf(),
        message,
    };
    if format == Format::Txt {
        if let Some(it) = items
            .iter()
            .find(|it| it.text.trim().is_empty() || it.text.contains(['\n', '\r']))
        {
            return Err(refuse(format!(
                "item \"{}\" has a blank text or one with line breaks, which a txt file (one item per line) cannot hold; use jsonl",
                it.id
            )));
        }
    }
    let file = File::create(path).map_err(|e| ItemsError::io(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| ItemsError::io(path, e);
    match format {
        Format::Txt => {
            for it in items {
                w.write_all(it.text.as_bytes()).map_err(io)?;
                w.write_all(b"\n").map_err(io)?;
            }
        }
        Format::Jsonl => {
            for it in items {
                serde_json::to_writer(&mut w, &OutItem::from(it))
                    .map_err(|e| refuse(e.to_string()))?;
                w.write_all(b"\n").map_err(io)?;
            }
        }
        Format::Json => {
            w.write_all(b"[").map_err(io)?;
            for (i, it) in items.iter().enumerate() {
                w.write_all(if i == 0 { b"\n" } else { b",\n" })
                    .map_err(io)?;
                serde_json::to_writer(&mut w, &OutItem::from(it))
                    .map_err(|e| refuse(e.to_string()))?;
            }
            w.write_all(b"\n]\n").map_err(io)?;
        }
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let titled = items
                .iter()
                .any(|it| it.title.as_deref().is_some_and(|t| !t.is_empty()));
            let mut cw = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(&mut w);
            let csv_err = |e: csv::Error| refuse(e.to_string());
            if titled {
                cw.write_record(["id", "title", "text"]).map_err(csv_err)?;
            } else {
                cw.write_record(["id", "text"]).map_err(csv_err)?;
            }
            for it in items {
                if titled {
                    let title = it.title.as_deref().unwrap_or("");
                    cw.write_record([it.id.as_str(), title, it.text.as_str()])
                        .map_err(csv_err)?;
                } else {
                    cw.write_record([it.id.as_str(), it.text.as_str()])
                        .map_err(csv_err)?;
                }
            }
            cw.flush().map_err(io)?;
        }
    }
    w.flush().map_err(io)
}
