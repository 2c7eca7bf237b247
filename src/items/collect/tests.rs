//! Tests of `items::collect`.

use super::*;

#[test]
fn line_units_cover_body_and_number_lines() {
    let body = b"a\nbb\nccc\ndddd\ne";
    let units = line_units(body, 3);
    assert_eq!(units.first().map(|u| u.start), Some(0));
    assert_eq!(units.last().map(|u| u.end), Some(body.len()));
    for w in units.windows(2) {
        assert_eq!(w[0].end, w[1].start);
        assert_eq!(body[w[0].end - 1], b'\n');
    }
    let lines: Vec<usize> = units.iter().map(|u| u.first_line).collect();
    assert_eq!(lines, vec![1, 3, 4, 5]);
}

#[test]
fn bom_is_dropped_and_utf16_is_refused() {
    let p = Path::new("x.txt");
    assert_eq!(strip_bom(b"\xEF\xBB\xBFhi", p).ok(), Some(&b"hi"[..]));
    let e = strip_bom(b"\xFF\xFEh\0i\0", p).err().map(|e| e.to_string());
    assert!(e.is_some_and(|m| m.starts_with("x.txt:1:1: ") && m.contains("UTF-16")));
}
