//! Exports: the ranking as CSV, JSON or a TREC run file, and plots as PNG. Rows are
//! written on a helper thread from a snapshot taken once, never from the UI thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::ItemsSnapshot;
use crate::model::PairScore;

use super::analysis::NO_RANK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankingFormat {
    Csv,
    Json,
    Trec,
}

impl RankingFormat {
    pub const ALL: [RankingFormat; 3] =
        [RankingFormat::Csv, RankingFormat::Json, RankingFormat::Trec];

    pub fn label(self) -> &'static str {
        match self {
            RankingFormat::Csv => "CSV",
            RankingFormat::Json => "JSON",
            RankingFormat::Trec => "TREC run",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            RankingFormat::Csv => "csv",
            RankingFormat::Json => "json",
            RankingFormat::Trec => "trec",
        }
    }
}

/// The three plots that can be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlotKind {
    Scatter,
    Item,
    Recall,
}

impl PlotKind {
    pub fn file_stem(self) -> &'static str {
        match self {
            PlotKind::Scatter => "exact-vs-approx",
            PlotKind::Item => "item",
            PlotKind::Recall => "recall-vs-ce-calls",
        }
    }
}

/// Everything an export needs, taken from the session once.
pub struct RankingSnapshot {
    pub items: Arc<ItemsSnapshot>,
    pub query: String,
    pub query_id: String,
    pub exact: Vec<Option<PairScore>>,
    pub approx: Option<Vec<f32>>,
    pub exact_rank: Vec<u32>,
    pub approx_rank: Vec<u32>,
}

/// One exported row.
#[derive(Debug, serde::Serialize)]
struct Row<'a> {
    rank: usize,
    id: &'a str,
    title: Option<&'a str>,
    exact_logit: Option<f32>,
    activation: Option<f64>,
    approx: Option<f32>,
    exact_rank: Option<u32>,
    approx_rank: Option<u32>,
    rank_change: Option<i64>,
    tokens: Option<usize>,
    truncated: Option<&'static str>,
}

impl RankingSnapshot {
    /// Items in ranking order: by exact score where any is known, else by the approximate
    /// score, else file order; items without that score follow in file order.
    pub fn order(&self) -> Vec<usize> {
        let by_exact = self.exact.iter().any(Option::is_some);
        let ranks = if by_exact {
            &self.exact_rank
        } else {
            &self.approx_rank
        };
        let mut order: Vec<usize> = (0..self.items.items.len()).collect();
        order.sort_by_key(|&i| (ranks.get(i).copied().unwrap_or(NO_RANK), i));
        order
    }

    /// The score a TREC run reports for item `i`: exact where any exact score is known.
    fn primary_score(&self, i: usize, by_exact: bool) -> Option<f64> {
        if by_exact {
            self.exact.get(i).copied().flatten().map(|s| s.logit as f64)
        } else {
            self.approx.as_ref()?.get(i).map(|&v| v as f64)
        }
    }

    fn row(&self, rank: usize, i: usize) -> Row<'_> {
        let item = &self.items.items[i];
        let exact = self.exact.get(i).copied().flatten();
        let er = self.exact_rank.get(i).copied().filter(|&r| r != NO_RANK);
        let ar = self.approx_rank.get(i).copied().filter(|&r| r != NO_RANK);
        Row {
            rank,
            id: &item.id,
            title: item.title.as_deref(),
            exact_logit: exact.map(|s| s.logit),
            activation: exact.map(|s| s.activation),
            approx: self.approx.as_ref().and_then(|a| a.get(i).copied()),
            exact_rank: er,
            approx_rank: ar,
            rank_change: er.zip(ar).map(|(e, a)| a as i64 - e as i64),
            tokens: exact.map(|s| s.tokens),
            truncated: exact.map(|s| s.truncation.side()).filter(|s| !s.is_empty()),
        }
    }

    pub fn write(&self, format: RankingFormat, out: &mut dyn Write) -> std::io::Result<usize> {
        let order = self.order();
        match format {
            RankingFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record([
                    "rank",
                    "id",
                    "title",
                    "exact_logit",
                    "activation",
                    "approx",
                    "exact_rank",
                    "approx_rank",
                    "rank_change",
                    "tokens",
                    "truncated",
                ])?;
                for (pos, &i) in order.iter().enumerate() {
                    let r = self.row(pos + 1, i);
                    w.write_record([
                        r.rank.to_string(),
                        r.id.to_string(),
                        r.title.unwrap_or("").to_string(),
                        opt(r.exact_logit),
                        opt(r.activation),
                        opt(r.approx),
                        opt(r.exact_rank),
                        opt(r.approx_rank),
                        opt(r.rank_change),
                        opt(r.tokens),
                        r.truncated.unwrap_or("").to_string(),
                    ])?;
                }
                w.flush()?;
                Ok(order.len())
            }
            RankingFormat::Json => {
                let rows: Vec<Row<'_>> = order
                    .iter()
                    .enumerate()
                    .map(|(pos, &i)| self.row(pos + 1, i))
                    .collect();
                let doc = serde_json::json!({
                    "query": self.query,
                    "query_id": self.query_id,
                    "items": rows,
                });
                serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
                Ok(rows.len())
            }
            RankingFormat::Trec => {
                let by_exact = self.exact.iter().any(Option::is_some);
                let qid = trec_token(&self.query_id);
                let mut n = 0;
                for &i in &order {
                    let Some(score) = self.primary_score(i, by_exact) else {
                        continue;
                    };
                    n += 1;
                    let docid = trec_token(&self.items.items[i].id);
                    writeln!(out, "{qid} Q0 {docid} {n} {score:.6} relex")?;
                }
                Ok(n)
            }
        }
    }

    /// Writes to `path` (through a temporary file, so a failed export leaves no half file).
    pub fn write_file(&self, format: RankingFormat, path: &Path) -> Result<usize, String> {
        let tmp = path.with_extension("relex-tmp");
        let result = (|| {
            let file = std::fs::File::create(&tmp)?;
            let mut buf = std::io::BufWriter::new(file);
            let n = self.write(format, &mut buf)?;
            buf.flush()?;
            drop(buf);
            std::fs::rename(&tmp, path)?;
            Ok::<usize, std::io::Error>(n)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", path.display())
        })
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// TREC files are whitespace separated: whitespace inside an id becomes `_`.
fn trec_token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

/// A file name for a query-derived export.
pub fn suggested_name(query: &str, stem: &str, extension: &str) -> String {
    let slug: String = query
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        format!("relex-{stem}.{extension}")
    } else {
        format!("relex-{stem}-{slug}.{extension}")
    }
}

/// Crops `image` (a screenshot of the whole window) to `rect` (in points) and writes
/// a PNG. The crop is clamped to the image, so a plot partly off-screen still saves.
pub fn save_png(
    image: &egui::ColorImage,
    rect: egui::Rect,
    pixels_per_point: f32,
    path: &Path,
) -> Result<(), String> {
    let [w, h] = image.size;
    let px = |v: f32, max: usize| ((v * pixels_per_point).round().max(0.0) as usize).min(max);
    let (x0, x1) = (px(rect.min.x, w), px(rect.max.x, w));
    let (y0, y1) = (px(rect.min.y, h), px(rect.max.y, h));
    if x1 <= x0 || y1 <= y0 {
        return Err("the plot is not on screen".into());
    }
    let mut bytes = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for c in &image.pixels[y * w + x0..y * w + x1] {
            bytes.extend_from_slice(&c.to_srgba_unmultiplied());
        }
    }
    let buf = image::RgbaImage::from_raw((x1 - x0) as u32, (y1 - y0) as u32, bytes)
        .ok_or("cropped image has the wrong size")?;
    buf.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Adds `extension` when the chosen path has none.
pub fn with_default_extension(path: PathBuf, extension: &str) -> PathBuf {
    if path.extension().is_some() {
        path
    } else {
        path.with_extension(extension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::{Item, LoadReport};
    use crate::model::Truncation;

    fn snapshot() -> RankingSnapshot {
        let items = Arc::new(ItemsSnapshot {
            path: PathBuf::from("x.jsonl"),
            items: vec![
                Item::new("a", "alpha"),
                Item::new("b b", "beta").with_title("B"),
                Item::new("c", "gamma"),
            ],
            report: LoadReport::default(),
            fingerprint: String::new(),
        });
        let s = |logit: f32| {
            Some(PairScore {
                logit,
                activation: 0.5,
                tokens: 7,
                truncation: Truncation::default(),
            })
        };
        RankingSnapshot {
            items,
            query: "q".into(),
            query_id: "q 1".into(),
            exact: vec![s(0.1), s(2.0), None],
            approx: Some(vec![0.3, 1.0, 2.0]),
            exact_rank: vec![2, 1, NO_RANK],
            approx_rank: vec![3, 2, 1],
        }
    }

    #[test]
    fn png_is_cropped_to_the_plot() {
        let mut img = egui::ColorImage::filled([20, 10], egui::Color32::BLACK);
        img.pixels[3 * 20 + 4] = egui::Color32::RED;
        let dir = std::env::temp_dir().join(format!("relex-png-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("plot.png");
        // 2 pixels per point: points (2,1)-(6,4) are pixels (4,2)-(12,8); past the edge clamps.
        let rect = egui::Rect::from_min_max(egui::pos2(2.0, 1.0), egui::pos2(6.0, 40.0));
        assert_eq!(save_png(&img, rect, 2.0, &path), Ok(()));
        let back = image::open(&path).map(|i| i.to_rgba8());
        let _ = std::fs::remove_dir_all(&dir);
        let back = back.unwrap_or_default();
        assert_eq!(back.dimensions(), (8, 8));
        assert_eq!(back.get_pixel(0, 1).0, [255, 0, 0, 255]);
        let off = egui::Rect::from_min_max(egui::pos2(50.0, 50.0), egui::pos2(60.0, 60.0));
        assert!(save_png(&img, off, 1.0, &path).is_err());
    }

    #[test]
    fn trec_run_ranks_by_exact_score() {
        let mut out = Vec::new();
        let n = snapshot().write(RankingFormat::Trec, &mut out).ok();
        assert_eq!(n, Some(2));
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "q_1 Q0 b_b 1 2.000000 relex");
        assert_eq!(lines[1], "q_1 Q0 a 2 0.100000 relex");
    }

    #[test]
    fn csv_and_json_have_every_item() {
        let snap = snapshot();
        let mut csv_out = Vec::new();
        assert_eq!(snap.write(RankingFormat::Csv, &mut csv_out).ok(), Some(3));
        let text = String::from_utf8_lossy(&csv_out);
        assert!(text.starts_with("rank,id,title,exact_logit"));
        assert!(text.contains("1,b b,B,2,0.5,1,1,2,1,7,"));
        let mut json_out = Vec::new();
        assert_eq!(snap.write(RankingFormat::Json, &mut json_out).ok(), Some(3));
        let v: serde_json::Value = serde_json::from_slice(&json_out).unwrap_or_default();
        assert_eq!(v["items"][2]["id"], "c");
        assert_eq!(
            suggested_name("the [bank] of", "ranking", "csv"),
            "relex-ranking-the-bank-of.csv"
        );
    }
}
