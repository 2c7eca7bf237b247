//! Behaviour tests for the whole module, written against real files in a
//! temporary directory because paths appear in every error message.

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tempfile::TempDir;

mod api;
mod tabular;

fn file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

fn load(name: &str, bytes: &[u8]) -> (TempDir, Result<ItemList, ItemsError>) {
    let dir = TempDir::new().expect("tempdir");
    let p = file(&dir, name, bytes);
    let r = load_items(&p, &LoadOptions::default());
    (dir, r)
}

fn load_skip(name: &str, bytes: &[u8]) -> (TempDir, Result<ItemList, ItemsError>) {
    let dir = TempDir::new().expect("tempdir");
    let p = file(&dir, name, bytes);
    let opts = LoadOptions {
        skip_invalid: true,
        ..LoadOptions::default()
    };
    let r = load_items(&p, &opts);
    (dir, r)
}

fn ok(name: &str, bytes: &[u8]) -> ItemList {
    let (_d, r) = load(name, bytes);
    match r {
        Ok(l) => l,
        Err(e) => panic!("expected {name} to load, got: {e}"),
    }
}

/// Loads and returns the error message with the temp dir prefix removed, so
/// tests can assert on `name:line:col: message`.
fn err(name: &str, bytes: &[u8]) -> String {
    let (d, r) = load(name, bytes);
    match r {
        Ok(l) => panic!("expected {name} to fail, loaded {} items", l.items.len()),
        Err(e) => strip_dir(&d, &e.to_string()),
    }
}

fn strip_dir(d: &TempDir, msg: &str) -> String {
    let prefix = format!("{}/", d.path().display());
    msg.replace(&prefix, "")
}

fn ids(l: &ItemList) -> Vec<&str> {
    l.items.iter().map(|i| i.id.as_str()).collect()
}

fn texts(l: &ItemList) -> Vec<&str> {
    l.items.iter().map(|i| i.text.as_str()).collect()
}

// ---------------------------------------------------------------- txt

#[test]
fn txt_ids_are_line_numbers_and_blank_lines_are_counted() {
    let l = ok("items.txt", b"first\n\n  \nsecond\r\nthird");
    assert_eq!(ids(&l), ["1", "4", "5"]);
    assert_eq!(texts(&l), ["first", "second", "third"]);
    assert_eq!(l.report.blank_lines, 2);
    assert_eq!(l.report.rows_loaded, 3);
    assert_eq!(l.report.format, Some(Format::Txt));
    assert!(l.items.iter().all(|i| i.title.is_none()));
}

#[test]
fn txt_bom_is_ignored() {
    let l = ok("items.txt", b"\xEF\xBB\xBFalpha\nbeta\n");
    assert_eq!(texts(&l), ["alpha", "beta"]);
}

#[test]
fn txt_invalid_utf8_names_line_and_column() {
    let m = err("items.txt", b"good\nab\xFFcd\n");
    assert_eq!(
        m,
        "items.txt:2:3: invalid UTF-8 (byte 0xFF); expected UTF-8 text"
    );
}

#[test]
fn txt_ten_megabyte_line_loads() {
    let mut big = vec![b'x'; 10 << 20];
    big.extend_from_slice(b"\nsmall\n");
    let l = ok("items.txt", &big);
    assert_eq!(l.items.len(), 2);
    assert_eq!(l.items[0].text.len(), 10 << 20);
    assert_eq!(l.items[1].id, "2");
}

#[test]
fn utf16_file_is_refused_with_a_hint() {
    let m = err("items.txt", b"\xFF\xFEa\0b\0");
    assert!(m.starts_with("items.txt:1:1: "), "{m}");
    assert!(m.contains("UTF-16") && m.contains("UTF-8"), "{m}");
}

// ---------------------------------------------------------------- jsonl

#[test]
fn jsonl_reads_ids_titles_and_beir_form() {
    let src = concat!(
        "{\"id\": \"a\", \"text\": \"alpha\", \"title\": \"A\"}\n",
        "{\"id\": 7, \"text\": \"seven\", \"extra\": {\"nested\": [1, 2]}}\n",
        "\n",
        "{\"_id\": \"doc3\", \"title\": \"\", \"text\": \"beir\", \"metadata\": {}}\r\n",
        "{\"id\": \"n\", \"title\": null, \"text\": \"esc \\\"q\\\" \\u00e9\"}"
    );
    let l = ok("items.jsonl", src.as_bytes());
    assert_eq!(ids(&l), ["a", "7", "doc3", "n"]);
    assert_eq!(l.items[0].title.as_deref(), Some("A"));
    assert_eq!(l.items[1].title, None);
    assert_eq!(l.items[2].title, None, "empty title means no title");
    assert_eq!(l.items[3].text, "esc \"q\" é");
    assert_eq!(l.report.blank_lines, 1);
}

#[test]
fn ndjson_extension_is_jsonl_and_bom_crlf_are_fine() {
    let l = ok(
        "items.ndjson",
        b"\xEF\xBB\xBF{\"id\":1,\"text\":\"x\"}\r\n{\"id\":2,\"text\":\"y\"}\r\n",
    );
    assert_eq!(texts(&l), ["x", "y"]);
    assert_eq!(l.report.format, Some(Format::Jsonl));
}

#[test]
fn jsonl_wrong_type_points_at_the_value() {
    let m = err(
        "items.jsonl",
        b"{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\"b\", \"text\": 5}\n",
    );
    assert_eq!(
        m,
        "items.jsonl:2:20: expected \"text\" to be a string, found number"
    );
}

#[test]
fn jsonl_wrong_types_for_id_and_title() {
    let m = err("items.jsonl", b"{\"id\": [1], \"text\": \"t\"}\n");
    assert_eq!(
        m,
        "items.jsonl:1:8: expected \"id\" to be a string or an integer, found array"
    );
    let m = err("items.jsonl", b"{\"id\": 1.5, \"text\": \"t\"}\n");
    assert!(
        m.ends_with("expected \"id\" to be a string or an integer, found number"),
        "{m}"
    );
    let m = err(
        "items.jsonl",
        b"{\"id\": \"x\", \"title\": true, \"text\": \"t\"}\n",
    );
    assert_eq!(
        m,
        "items.jsonl:1:22: expected \"title\" to be a string or null, found boolean"
    );
    let m = err("items.jsonl", b"{\"id\": \"\", \"text\": \"t\"}\n");
    assert_eq!(
        m,
        "items.jsonl:1:8: expected \"id\" to be a non-empty string, found \"\""
    );
}

#[test]
fn jsonl_missing_fields() {
    let m = err("items.jsonl", b"{\"id\": \"x\", \"body\": \"t\"}\n");
    assert_eq!(
        m,
        "items.jsonl:1: missing \"text\" for id \"x\"; expected an object with \"id\" and \"text\""
    );
    let m = err(
        "items.jsonl",
        b"{\"id\":1,\"text\":\"a\"}\n{\"text\": \"t\"}\n",
    );
    assert!(m.starts_with("items.jsonl:2: missing \"id\""), "{m}");
}

#[test]
fn jsonl_repeated_and_conflicting_fields() {
    let m = err(
        "items.jsonl",
        b"{\"id\": 1, \"text\": \"a\", \"text\": \"b\"}\n",
    );
    assert_eq!(m, "items.jsonl:1: field \"text\" appears more than once");
    let m = err(
        "items.jsonl",
        b"{\"id\": 1, \"_id\": \"2\", \"text\": \"a\"}\n",
    );
    assert!(m.contains("both \"id\" and \"_id\" are present"), "{m}");
}

#[test]
fn jsonl_non_object_line() {
    let m = err("items.jsonl", b"{\"id\":1,\"text\":\"a\"}\n  [1, 2]\n");
    assert_eq!(
        m,
        "items.jsonl:2:3: expected a JSON object with \"id\" and \"text\", found array"
    );
    let m = err("items.jsonl", b"\"just a string\"\n");
    assert!(m.ends_with("found string"), "{m}");
}

#[test]
fn jsonl_syntax_error_has_line_and_column() {
    let m = err(
        "items.jsonl",
        b"{\"id\":1,\"text\":\"a\"}\n{\"id\":2,\"text\":\"b\",,}\n",
    );
    assert!(m.starts_with("items.jsonl:2:20: invalid JSON: "), "{m}");
}

#[test]
fn jsonl_truncated_last_line_is_an_error_on_that_line() {
    let m = err(
        "items.jsonl",
        b"{\"id\":1,\"text\":\"a\"}\n{\"id\":2,\"text\":\"b\"}\n{\"id\":3,\"te",
    );
    assert!(m.starts_with("items.jsonl:3:"), "{m}");
    assert!(
        m.contains("truncated: the file ends in the middle of a JSON value"),
        "{m}"
    );
}

#[test]
fn jsonl_complete_last_line_without_newline_is_fine() {
    let l = ok(
        "items.jsonl",
        b"{\"id\":1,\"text\":\"a\"}\n{\"id\":2,\"text\":\"b\"}",
    );
    assert_eq!(ids(&l), ["1", "2"]);
}

#[test]
fn jsonl_incomplete_line_in_the_middle() {
    let m = err("items.jsonl", b"{\"id\":1,\n\"text\":\"a\"}\n");
    assert!(m.starts_with("items.jsonl:1:"), "{m}");
    assert!(m.contains("expected one complete object per line"), "{m}");
}

#[test]
fn jsonl_invalid_utf8() {
    let m = err("items.jsonl", b"{\"id\":1,\"text\":\"a\xC3\"}\n");
    assert_eq!(
        m,
        "items.jsonl:1:18: invalid UTF-8 (byte 0xC3); expected UTF-8 text"
    );
}

#[test]
fn jsonl_ten_megabyte_line_loads() {
    let mut line = b"{\"id\":\"big\",\"text\":\"".to_vec();
    line.extend(std::iter::repeat_n(b'z', 10 << 20));
    line.extend_from_slice(b"\"}\n{\"id\":\"small\",\"text\":\"s\"}\n");
    let l = ok("items.jsonl", &line);
    assert_eq!(ids(&l), ["big", "small"]);
    assert_eq!(l.items[0].text.len(), 10 << 20);
}

#[test]
fn ten_megabyte_values_in_json_and_csv_load() {
    let big = "y".repeat(10 << 20);
    let json = format!("[{{\"id\": 1, \"text\": \"{big}\"}}, \"small\"]");
    let l = ok("items.json", json.as_bytes());
    assert_eq!(l.items[0].text.len(), 10 << 20);
    assert_eq!(ids(&l), ["1", "2"]);
    let csv = format!("id,text\na,\"{big}, with comma\"\nb,small\n");
    let l = ok("items.csv", csv.as_bytes());
    assert_eq!(l.items[0].text.len(), (10 << 20) + 12);
    assert_eq!(ids(&l), ["a", "b"]);
}

#[test]
fn duplicate_ids_name_both_lines() {
    let m = err(
        "items.jsonl",
        b"{\"id\":\"a\",\"text\":\"1\"}\n{\"id\":\"b\",\"text\":\"2\"}\n{\"id\":\"a\",\"text\":\"3\"}\n",
    );
    assert_eq!(
        m,
        "items.jsonl:3: duplicate id \"a\" (first used on line 1)"
    );
    // A number and a string with the same text are the same id.
    let m = err(
        "items.jsonl",
        b"{\"id\":5,\"text\":\"1\"}\n{\"id\":\"5\",\"text\":\"2\"}\n",
    );
    assert_eq!(
        m,
        "items.jsonl:2: duplicate id \"5\" (first used on line 1)"
    );
}

#[test]
fn the_earliest_problem_is_reported() {
    // Duplicate on line 2, syntax error on line 3: the duplicate comes first.
    let m = err(
        "items.jsonl",
        b"{\"id\":1,\"text\":\"a\"}\n{\"id\":1,\"text\":\"b\"}\n{oops\n",
    );
    assert!(m.starts_with("items.jsonl:2: duplicate id"), "{m}");
    // Syntax error on line 2, duplicate on line 3.
    let m = err(
        "items.jsonl",
        b"{\"id\":1,\"text\":\"a\"}\n{oops\n{\"id\":1,\"text\":\"b\"}\n",
    );
    assert!(m.starts_with("items.jsonl:2:2: invalid JSON"), "{m}");
}

#[test]
fn jsonl_prose_line_says_an_object_was_expected() {
    let m = err("items.jsonl", b"{\"id\":1,\"text\":\"a\"}\n  not json\n");
    assert_eq!(
        m,
        "items.jsonl:2:3: invalid JSON: expected an object starting with '{', found 'n'"
    );
}

#[test]
fn empty_files_are_reported() {
    for (name, bytes) in [
        ("items.txt", &b""[..]),
        ("items.txt", b"\n \n\t\n"),
        ("items.jsonl", b""),
        ("items.jsonl", b"\xEF\xBB\xBF"),
        ("items.json", b"  "),
        ("items.json", b"[ ]"),
        ("items.csv", b""),
        ("items.csv", b"id,text\n"),
        ("items.tsv", b"\n\n"),
    ] {
        let m = err(name, bytes);
        assert_eq!(
            m,
            format!("{name}: no items found: the file is empty or holds only blank lines")
        );
    }
}

#[test]
fn many_chunks_keep_order_and_line_numbers() {
    // Large enough for several parallel chunks.
    let n = 60_000;
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\":\"d{i}\",\"title\":\"t{i}\",\"text\":\"{}\"}}\n",
            "w".repeat(60 + i % 40)
        ));
    }
    assert!(s.len() > 3 * collect::CHUNK_BYTES);
    let l = ok("items.jsonl", s.as_bytes());
    assert_eq!(l.items.len(), n);
    assert!(l
        .items
        .iter()
        .enumerate()
        .all(|(i, it)| it.id == format!("d{i}")));

    // An error deep in a later chunk still has its true line number.
    let bad_line = n - 10;
    let mut lines: Vec<&str> = s.lines().collect();
    lines[bad_line - 1] = "{\"id\":\"x\",\"text\":false}";
    let joined = lines.join("\n");
    let m = err("items.jsonl", joined.as_bytes());
    assert_eq!(
        m,
        format!("items.jsonl:{bad_line}:18: expected \"text\" to be a string, found boolean")
    );
}

// ---------------------------------------------------------------- skip_invalid

#[test]
fn skip_invalid_loads_good_rows_and_counts_the_rest() {
    let src = concat!(
        "{\"id\":\"a\",\"text\":\"1\"}\n",
        "{\"id\":\"b\",\"text\":2}\n",
        "not json\n",
        "{\"id\":\"a\",\"text\":\"dup\"}\n",
        "\n",
        "{\"id\":\"c\"}\n",
        "{\"id\":\"d\",\"text\":\"4\"}\n",
        "{\"id\":\"e\",\"text\":[]}\n",
    );
    let (d, r) = load_skip("items.jsonl", src.as_bytes());
    let l = r.expect("skip_invalid load");
    assert_eq!(ids(&l), ["a", "d"]);
    assert_eq!(
        texts(&l),
        ["1", "4"],
        "the first use of a duplicated id wins"
    );
    let rep = &l.report;
    assert_eq!(rep.rows_loaded, 2);
    assert_eq!(rep.blank_lines, 1);
    assert_eq!(rep.skipped, 5);
    assert_eq!(
        rep.skipped_by_reason,
        vec![
            ("wrong type".to_string(), 2),
            ("invalid JSON".to_string(), 1),
            ("missing field".to_string(), 1),
            ("duplicate id".to_string(), 1),
        ]
    );
    let lines: Vec<Option<usize>> = rep.first_errors.iter().map(|e| e.line()).collect();
    assert_eq!(lines, [Some(2), Some(3), Some(4), Some(6), Some(8)]);
    let first = strip_dir(&d, &rep.first_errors[0].to_string());
    assert_eq!(
        first,
        "items.jsonl:2:18: expected \"text\" to be a string, found number"
    );
}

#[test]
fn skip_invalid_keeps_twenty_messages_but_counts_all() {
    let mut s = String::new();
    for i in 0..100 {
        if i % 2 == 0 {
            s.push_str(&format!("{{\"id\":{i},\"text\":\"ok\"}}\n"));
        } else {
            s.push_str(&format!("{{\"id\":{i}}}\n"));
        }
    }
    let (_d, r) = load_skip("items.jsonl", s.as_bytes());
    let l = r.expect("load");
    assert_eq!(l.items.len(), 50);
    assert_eq!(l.report.skipped, 50);
    assert_eq!(l.report.first_errors.len(), MAX_REPORTED_ERRORS);
    assert_eq!(l.report.first_errors[0].line(), Some(2));
    assert_eq!(
        l.report.skipped_by_reason,
        vec![("missing field".to_string(), 50)]
    );
}

#[test]
fn skip_invalid_with_nothing_valid_is_an_error() {
    let (d, r) = load_skip("items.jsonl", b"{\"id\":1}\n{\"id\":2}\n");
    let m = strip_dir(&d, &r.expect_err("no valid rows").to_string());
    assert!(m.starts_with("items.jsonl: no valid rows (2 skipped); first problem: items.jsonl:1: missing \"text\""), "{m}");
}

#[test]
fn skip_invalid_works_for_txt_csv_and_json() {
    let (_d, r) = load_skip("items.txt", b"ok\nbad\xFF\nfine\n");
    let l = r.expect("txt");
    assert_eq!(ids(&l), ["1", "3"]);
    assert_eq!(
        l.report.skipped_by_reason,
        vec![("invalid UTF-8".to_string(), 1)]
    );

    let (_d, r) = load_skip("items.csv", b"id,text\n1,a\n2,b,extra\n3,c\n");
    let l = r.expect("csv");
    assert_eq!(ids(&l), ["1", "3"]);
    assert_eq!(
        l.report.skipped_by_reason,
        vec![("wrong number of fields".to_string(), 1)]
    );

    let (_d, r) = load_skip(
        "items.json",
        b"[{\"id\":1,\"text\":\"a\"}, 5, {\"id\":2,\"text\":\"b\"}]",
    );
    let l = r.expect("json");
    assert_eq!(ids(&l), ["1", "2"]);
    assert_eq!(l.report.skipped, 1);
}

// ---------------------------------------------------------------- json

#[test]
fn json_array_of_objects_pretty_printed() {
    let src = "[\n  {\n    \"id\": \"x\",\n    \"title\": \"T\",\n    \"text\": \"hello\"\n  },\n  {\"_id\": 2, \"text\": \"two\"}\n]\n";
    let l = ok("items.json", src.as_bytes());
    assert_eq!(ids(&l), ["x", "2"]);
    assert_eq!(l.items[0].title.as_deref(), Some("T"));
}

#[test]
fn json_array_of_strings_uses_positions() {
    let l = ok(
        "items.json",
        "[\"one\", \"two, too\", \"\", \"four\"]".as_bytes(),
    );
    assert_eq!(ids(&l), ["1", "2", "4"]);
    assert_eq!(texts(&l), ["one", "two, too", "four"]);
    assert_eq!(l.report.blank_lines, 1);
}

#[test]
fn json_element_errors_have_file_positions() {
    let src = "[\n  {\"id\": 1, \"text\": \"a\"},\n  {\"id\": 2,\n   \"text\": null}\n]";
    let m = err("items.json", src.as_bytes());
    assert_eq!(
        m,
        "items.json:4:12: expected \"text\" to be a string, found null"
    );
    let m = err("items.json", b"[\n \"a\",\n 3\n]");
    assert_eq!(
        m,
        "items.json:3:2: expected an object with \"id\" and \"text\" or a string, found number"
    );
    let m = err("items.json", b"[\n {\"id\": 1, \"text\": \"a\" \"b\"}\n]");
    assert!(m.starts_with("items.json:2:"), "{m}");
    assert!(m.contains("invalid JSON"), "{m}");
}

#[test]
fn json_structure_errors() {
    let m = err("items.json", b"{\"id\": 1, \"text\": \"a\"}");
    assert!(
        m.starts_with("items.json:1:1: expected a JSON array of items ('['), found an object"),
        "{m}"
    );
    let m = err("items.json", b"[\"a\", \"b\",\n]");
    assert_eq!(
        m,
        "items.json:2:1: trailing comma: expected another element after ','"
    );
    let m = err("items.json", b"[\"a\" \"b\"]");
    assert_eq!(
        m,
        "items.json:1:6: expected ',' or ']' after an array element, found '\"'"
    );
    let m = err("items.json", b"[\"a\"] x");
    assert_eq!(
        m,
        "items.json:1:7: unexpected 'x' after the closing ']' of the array"
    );
    let m = err(
        "items.json",
        b"[{\"id\": 1, \"text\": \"a\"},\n {\"id\": 2, \"te",
    );
    assert!(
        m.starts_with("items.json:2:2: truncated: the file ends inside this element"),
        "{m}"
    );
    let m = err("items.json", b"[\"a\",");
    assert!(m.contains("truncated"), "{m}");
}

#[test]
fn json_duplicate_ids_use_element_lines() {
    let m = err(
        "items.json",
        b"[\n{\"id\":\"a\",\"text\":\"1\"},\n{\"id\":\"a\",\"text\":\"2\"}\n]",
    );
    assert_eq!(m, "items.json:3: duplicate id \"a\" (first used on line 2)");
}
