//! Small shared pieces: error text, number and duration formatting, snippets.

use egui::{Color32, RichText};

pub const ERROR_COLOR: Color32 = Color32::from_rgb(235, 90, 80);
pub const SELECTED_COLOR: Color32 = Color32::from_rgb(255, 200, 40);
pub const EXACT_COLOR: Color32 = Color32::from_rgb(90, 170, 255);
pub const APPROX_COLOR: Color32 = Color32::from_rgb(250, 140, 60);

/// One colour per method, the same in every view.
pub fn method_color(m: crate::approx::Method) -> Color32 {
    use crate::approx::Method;
    match m {
        Method::Anncur => Color32::from_rgb(90, 170, 255),
        Method::Adacur => Color32::from_rgb(250, 140, 60),
        Method::Axn => Color32::from_rgb(120, 200, 120),
        Method::Tfidf => Color32::from_rgb(200, 120, 220),
        Method::Random => Color32::from_rgb(180, 180, 180),
        Method::Exact => Color32::from_rgb(240, 240, 240),
    }
}

/// An error message, wrapped, selectable (so a path or line number can be copied).
pub fn error_text(ui: &mut egui::Ui, message: &str) {
    ui.add(
        egui::Label::new(RichText::new(message).color(ERROR_COLOR))
            .wrap()
            .selectable(true),
    );
}

/// The rest of a row: a one-line text field filling it and `button` on its right. True
/// when the button is clicked or Enter is pressed in the field, and the field has text.
/// (The button is laid out first, so the field never pushes the row wider than the panel.)
pub fn path_field(ui: &mut egui::Ui, text: &mut String, hint: &str, button: &str) -> bool {
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        let clicked = ui.button(button).clicked();
        let edit = ui.add(
            egui::TextEdit::singleline(text)
                .hint_text(hint)
                .desired_width(ui.available_width()),
        );
        let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        (clicked || enter) && !text.trim().is_empty()
    })
    .inner
}

/// `12345` → `12,345`.
pub fn format_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".into();
    }
    let s = seconds.round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// The first `max_chars` characters of `text` (a borrowed slice, never a copy), on one line.
pub fn snippet(text: &str, max_chars: usize) -> &str {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(max_chars) {
        Some((pos, _)) => &line[..pos],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(1234567), "1,234,567");
        assert_eq!(format_count(100), "100");
        assert_eq!(format_duration(75.0), "1 min 15 s");
        assert_eq!(snippet("héllo wörld\nnext", 4), "héll");
        assert_eq!(snippet("ab", 4), "ab");
    }
}
