//! Fallback fonts for text beyond egui's built-in fonts (Latin, Greek, Cyrillic, and the
//! monochrome emoji fonts that the `monochrome_emoji_fonts` feature of egui compiles
//! in): a CJK-capable system font, found at run time in the usual
//! font folders and appended after egui's defaults, so Chinese, Japanese and Korean
//! item texts render instead of boxes. Nothing is bundled; without such a font the
//! built-in ones are used alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Font files known to cover CJK (and much else), most preferred first. `.ttc`
/// collections use their first face.
pub const FALLBACK_FONTS: &[&str] = &[
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansCJKjp-Regular.otf",
    "NotoSansSC-Regular.otf",
    "NotoSansSC-Regular.ttf",
    "SourceHanSans-Regular.ttc",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
    "msyh.ttc",
    "simsun.ttc",
    "PingFang.ttc",
    "Hiragino Sans GB.ttc",
    "AppleGothic.ttf",
];

/// Name of the fallback in egui's font definitions.
pub const FALLBACK_NAME: &str = "relex-system-fallback";

/// The font folders of Linux, macOS and Windows, plus `RELEX_FONT_DIR` if set.
pub fn font_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("RELEX_FONT_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        dirs.push(home.join(".local/share/fonts"));
        dirs.push(home.join(".fonts"));
        dirs.push(home.join("Library/Fonts"));
    }
    for d in [
        "/usr/share/fonts",
        "/usr/local/share/fonts",
        "/System/Library/Fonts",
        "/Library/Fonts",
        "C:\\Windows\\Fonts",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The most preferred of [`FALLBACK_FONTS`] found anywhere under `dirs` (searched
/// recursively, a few levels deep).
pub fn find_fallback_font(dirs: &[PathBuf]) -> Option<PathBuf> {
    let mut found: Vec<(usize, PathBuf)> = Vec::new();
    for d in dirs {
        collect(d, 0, &mut found);
    }
    found.sort();
    found.into_iter().next().map(|(_, p)| p)
}

fn collect(dir: &Path, depth: usize, found: &mut Vec<(usize, PathBuf)>) {
    if depth > 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, depth + 1, found);
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            if let Some(rank) = FALLBACK_FONTS
                .iter()
                .position(|f| f.eq_ignore_ascii_case(name))
            {
                found.push((rank, path));
            }
        }
    }
}

/// egui's default fonts with `font` appended as the last fallback of both families.
pub fn definitions_with_fallback(font: Vec<u8>) -> egui::FontDefinitions {
    let mut defs = egui::FontDefinitions::default();
    defs.font_data.insert(
        FALLBACK_NAME.to_string(),
        Arc::new(egui::FontData::from_owned(font)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        defs.families
            .entry(family)
            .or_default()
            .push(FALLBACK_NAME.to_string());
    }
    defs
}

/// Finds a CJK-capable system font and installs it as the fallback. Returns its path.
pub fn install_fallback_fonts(ctx: &egui::Context) -> Option<PathBuf> {
    let path = find_fallback_font(&font_dirs())?;
    let bytes = std::fs::read(&path).ok()?;
    ctx.set_fonts(definitions_with_fallback(bytes));
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_preferred_font_wins_wherever_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("truetype/droid");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("DroidSansFallbackFull.ttf"), b"x").unwrap();
        std::fs::write(dir.path().join("DejaVuSans.ttf"), b"x").unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        assert_eq!(
            find_fallback_font(&dirs),
            Some(deep.join("DroidSansFallbackFull.ttf"))
        );
        std::fs::write(dir.path().join("wqy-microhei.ttc"), b"x").unwrap();
        assert_eq!(
            find_fallback_font(&dirs),
            Some(dir.path().join("wqy-microhei.ttc"))
        );
        assert_eq!(find_fallback_font(&[dir.path().join("none")]), None);
    }

    /// With a system CJK font, egui has glyphs for Chinese text it lacked before.
    #[test]
    fn a_system_cjk_font_adds_the_glyphs() {
        let Some(path) = find_fallback_font(&font_dirs()) else {
            println!(
                "skipped: no CJK-capable system font found in {:?}",
                font_dirs()
            );
            return;
        };
        let font = egui::FontId::proportional(14.0);
        let has = |ctx: &egui::Context| {
            let mut out = ctx.run_ui(egui::RawInput::default(), |_| {});
            out.textures_delta.clear();
            ctx.fonts_mut(|f| f.has_glyphs(&font, "汉字"))
        };
        let plain = egui::Context::default();
        assert!(!has(&plain), "egui's own fonts have no CJK glyphs");
        let ctx = egui::Context::default();
        ctx.set_fonts(definitions_with_fallback(std::fs::read(&path).unwrap()));
        assert!(has(&ctx), "{} covers 汉字", path.display());
        // Emoji come from egui's own monochrome emoji font.
        assert!(ctx.fonts_mut(|f| f.has_glyphs(&font, "かな")), "kana");
    }

    /// egui's monochrome emoji fonts are compiled in (`monochrome_emoji_fonts`).
    #[test]
    fn emoji_render_with_the_built_in_fonts() {
        let ctx = egui::Context::default();
        let mut out = ctx.run_ui(egui::RawInput::default(), |_| {});
        out.textures_delta.clear();
        let font = egui::FontId::proportional(14.0);
        assert!(ctx.fonts_mut(|f| f.has_glyphs(&font, "😀🔨🚗★☺")));
        // Arrows the views use (egui's fonts lack ↑ ↓ →).
        assert!(ctx.fonts_mut(|f| f.has_glyphs(&font, "⏶⏷")));
    }
}
