//! Behaviour tests for the whole module, written against real files in a
//! temporary directory because paths appear in every error message.

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tempfile::TempDir;

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

// ---------------------------------------------------------------- csv / tsv

#[test]
fn csv_header_quoting_and_line_numbers() {
    let src = "ID,Title,TEXT\n1,First,\"hello, world\"\n2,,\"line one\nline two\"\n3,\"Q \"\"T\"\"\",\"she said \"\"hi\"\"\"\n";
    let l = ok("items.csv", src.as_bytes());
    assert_eq!(ids(&l), ["1", "2", "3"]);
    assert_eq!(
        texts(&l),
        ["hello, world", "line one\nline two", "she said \"hi\""]
    );
    assert_eq!(l.items[0].title.as_deref(), Some("First"));
    assert_eq!(l.items[1].title, None);
    assert_eq!(l.items[2].title.as_deref(), Some("Q \"T\""));

    // A multi-line record shifts later line numbers.
    let src = "id,text\n1,\"a\nb\"\n2,x,y\n";
    let m = err("items.csv", src.as_bytes());
    assert_eq!(
        m,
        "items.csv:4: expected 2 fields (id, text), found 3; quote fields that contain the delimiter"
    );
}

#[test]
fn csv_header_columns_in_any_order_with_extras() {
    let l = ok("items.csv", b"text,source,id\nalpha,web,a1\nbeta,book,b2\n");
    assert_eq!(ids(&l), ["a1", "b2"]);
    assert_eq!(texts(&l), ["alpha", "beta"]);
}

#[test]
fn csv_without_id_column_uses_line_numbers() {
    let l = ok("items.csv", b"text\nalpha\nbeta\n");
    assert_eq!(ids(&l), ["2", "3"]);
}

#[test]
fn csv_headerless_single_column() {
    let l = ok("items.csv", b"alpha\n\"beta, with comma\"\n\ngamma\r\n");
    assert_eq!(ids(&l), ["1", "2", "4"]);
    assert_eq!(texts(&l), ["alpha", "beta, with comma", "gamma"]);
    assert_eq!(l.report.blank_lines, 1);

    let m = err("items.csv", b"alpha\nbeta, gamma\n");
    assert!(m.starts_with("items.csv:2: expected 1 field"), "{m}");
}

#[test]
fn csv_header_problems() {
    let m = err("items.csv", b"a,b,c\n1,2,3\n");
    assert!(
        m.starts_with("items.csv:1: expected a header row naming \"id\" and \"text\""),
        "{m}"
    );
    let m = err("items.csv", b"id,body\n1,x\n");
    assert_eq!(
        m,
        "items.csv:1: the header has no \"text\" column; expected \"id\", \"text\", \"title\" columns, found: id, body"
    );
    let m = err("items.csv", b"id,text,Text\n1,x,y\n");
    assert_eq!(
        m,
        "items.csv:1: column \"text\" appears more than once in the header"
    );
}

#[test]
fn csv_bad_values() {
    let m = err("items.csv", b"id,text\n1,ok\n ,empty id\n");
    assert_eq!(m, "items.csv:3: empty \"id\" field; expected an id");
    let m = err("items.csv", b"id,text\n1,bad\xFE\n");
    assert_eq!(
        m,
        "items.csv:2: field \"text\" (column 2): invalid UTF-8 (byte 0xFE); expected UTF-8 text"
    );
    let m = err("items.csv", b"id,text\n1,a\n1,b\n");
    assert_eq!(m, "items.csv:3: duplicate id \"1\" (first used on line 2)");
}

#[test]
fn csv_bom_and_crlf() {
    let l = ok("items.csv", b"\xEF\xBB\xBFid,text\r\n1,a\r\n2,b\r\n");
    assert_eq!(ids(&l), ["1", "2"]);
    assert_eq!(texts(&l), ["a", "b"]);
}

#[test]
fn tsv_reads_tabs_and_quotes() {
    let l = ok(
        "items.tsv",
        b"id\ttitle\ttext\nx\tT\thas, commas\ny\t\t\"tab\tinside\"\n",
    );
    assert_eq!(ids(&l), ["x", "y"]);
    assert_eq!(texts(&l), ["has, commas", "tab\tinside"]);
    assert_eq!(l.report.format, Some(Format::Tsv));
}

// ---------------------------------------------------------------- queries

#[test]
fn queries_with_gold_in_jsonl() {
    let dir = TempDir::new().expect("tempdir");
    let p = file(
        &dir,
        "q.jsonl",
        br#"{"id":"q1","text":"what","gold":"d1"}
{"id":"q2","text":"who","gold":[7,"d8"]}
{"id":"q3","query":"why"}
{"id":"q4","text":"how","gold":null}
"#,
    );
    let qs = load_queries(&p, &LoadOptions::default()).expect("queries");
    let got: Vec<(&str, &str, Vec<&str>)> = qs
        .queries
        .iter()
        .map(|q| {
            (
                q.id.as_str(),
                q.text.as_str(),
                q.gold.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("q1", "what", vec!["d1"]),
            ("q2", "who", vec!["7", "d8"]),
            ("q3", "why", vec![]),
            ("q4", "how", vec![]),
        ]
    );

    let p = file(
        &dir,
        "bad.jsonl",
        br#"{"id":"q1","text":"x","gold":{"a":1}}"#,
    );
    let e = load_queries(&p, &LoadOptions::default()).expect_err("bad gold");
    assert_eq!(
        strip_dir(&dir, &e.to_string()),
        "bad.jsonl:1:30: expected \"gold\" to be an id (string or integer) or an array of ids, found object"
    );
}

#[test]
fn queries_with_gold_in_csv_and_txt() {
    let dir = TempDir::new().expect("tempdir");
    let p = file(
        &dir,
        "q.csv",
        b"id,text,gold\nq1,\"a, b\",d1; d2|d3\nq2,c,\n",
    );
    let qs = load_queries(&p, &LoadOptions::default()).expect("queries");
    assert_eq!(qs.queries[0].text, "a, b");
    assert_eq!(qs.queries[0].gold, ["d1", "d2", "d3"]);
    assert!(qs.queries[1].gold.is_empty());

    let p = file(&dir, "q.txt", b"first query\n\nsecond\n");
    let qs = load_queries(&p, &LoadOptions::default()).expect("queries");
    let ids: Vec<&str> = qs.queries.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["1", "3"]);
}

// ---------------------------------------------------------------- BEIR

#[test]
fn beir_corpus_queries_and_qrels() {
    let dir = TempDir::new().expect("tempdir");
    let corpus = file(
        &dir,
        "corpus.jsonl",
        br#"{"_id": "d1", "title": "One", "text": "first doc", "metadata": {}}
{"_id": "d2", "title": "", "text": "second doc", "metadata": {"url": "x"}}
{"_id": "d3", "title": "Three", "text": "third doc", "metadata": {}}
"#,
    );
    let items = load_items(&corpus, &LoadOptions::default()).expect("corpus");
    assert_eq!(ids(&items), ["d1", "d2", "d3"]);
    assert_eq!(
        items.items[0].ce_text(DEFAULT_TEMPLATE),
        "One [SEP] first doc"
    );
    assert_eq!(items.items[1].ce_text(DEFAULT_TEMPLATE), "second doc");

    let queries = file(
        &dir,
        "queries.jsonl",
        br#"{"_id": "q1", "text": "first?", "metadata": {}}
{"_id": "q2", "text": "second?", "metadata": {}}
{"_id": "q3", "text": "train only", "metadata": {}}
"#,
    );
    std::fs::create_dir(dir.path().join("qrels")).expect("mkdir");
    let qrels = file(
        &dir,
        "qrels/test.tsv",
        b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t2\nq2\td2\t0\nq1\td1\t1\n",
    );
    let set = load_beir_queries(&queries, &qrels, &LoadOptions::default()).expect("beir");
    let ids: Vec<&str> = set.queries.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["q1", "q2"]);
    assert_eq!(set.queries[0].gold, ["d1", "d3"]);
    assert!(set.queries[1].gold.is_empty(), "score 0 is not gold");
    assert_eq!(set.report.rows_loaded, 2);
    assert_eq!(set.report.notes.len(), 1);
    assert!(set.report.notes[0].starts_with("1 of 3 queries have no judgements"));

    // A qrels row naming an unknown query is an error with file and line.
    let bad = file(
        &dir,
        "qrels/bad.tsv",
        b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n",
    );
    let e = load_beir_queries(&queries, &bad, &LoadOptions::default()).expect_err("unknown");
    let m = strip_dir(&dir, &e.to_string());
    assert!(
        m.starts_with("qrels/bad.tsv:3: query id \"q9\" is not in "),
        "{m}"
    );

    // ... which skip_invalid counts instead.
    let opts = LoadOptions {
        skip_invalid: true,
        ..LoadOptions::default()
    };
    let set = load_beir_queries(&queries, &bad, &opts).expect("skip");
    assert_eq!(set.queries.len(), 1);
    assert_eq!(set.report.skipped, 1);
    assert_eq!(
        set.report.skipped_by_reason,
        vec![("qrels: unknown query id".to_string(), 1)]
    );

    let bad = file(
        &dir,
        "qrels/score.tsv",
        b"query-id\tcorpus-id\tscore\nq1\td1\thigh\n",
    );
    let e = load_beir_queries(&queries, &bad, &LoadOptions::default()).expect_err("score");
    assert_eq!(
        strip_dir(&dir, &e.to_string()),
        "qrels/score.tsv:2: expected a numeric score, found \"high\""
    );
}

// ---------------------------------------------------------------- round trips

fn sample_items() -> Vec<Item> {
    vec![
        Item::new("a", "plain text").with_title("Title, with comma"),
        Item::new(
            "b-2",
            "quotes \"inside\", commas, and\nnewlines\r\nand\ttabs",
        ),
        Item::new("3", "  leading and trailing spaces  ").with_title("\"quoted\""),
        Item::new("ü", "unicode ✓ 日本語 \u{1F600}"),
        Item::new("5", "{\"looks\": \"like json\"}"),
    ]
}

#[test]
fn round_trip_every_format() {
    let dir = TempDir::new().expect("tempdir");
    for format in [Format::Jsonl, Format::Json, Format::Csv, Format::Tsv] {
        let p = dir.path().join(format!("out.{format}"));
        let items = sample_items();
        write_items(&p, &items, format).expect("write");
        let back = load_items(&p, &LoadOptions::default()).expect("read back");
        assert_eq!(back.items, items, "format {format}");
        assert_eq!(fingerprint(&back.items), fingerprint(&items));
    }
    // txt stores texts only; ids come back as line numbers.
    let p = dir.path().join("out.txt");
    let items: Vec<Item> = ["one", "two  ", "  three"]
        .iter()
        .enumerate()
        .map(|(i, t)| Item::new((i + 1).to_string(), *t))
        .collect();
    write_items(&p, &items, Format::Txt).expect("write txt");
    let back = load_items(&p, &LoadOptions::default()).expect("read txt");
    assert_eq!(back.items, items);
}

#[test]
fn txt_writer_refuses_what_it_cannot_hold() {
    let dir = TempDir::new().expect("tempdir");
    let p = dir.path().join("out.txt");
    let e = write_items(&p, &[Item::new("1", "two\nlines")], Format::Txt).expect_err("newline");
    assert!(e.to_string().contains("cannot write"), "{e}");
    let e = write_items(&p, &[Item::new("1", "  ")], Format::Txt).expect_err("blank");
    assert!(e.to_string().contains("item \"1\""), "{e}");
}

// ---------------------------------------------------------------- API details

#[test]
fn ce_text_templates() {
    let titled = Item::new("1", "body").with_title("Head");
    let plain = Item::new("2", "body");
    let empty_title = Item {
        id: "3".into(),
        title: Some(String::new()),
        text: "body".into(),
    };
    assert_eq!(titled.ce_text(DEFAULT_TEMPLATE), "Head [SEP] body");
    assert_eq!(plain.ce_text(DEFAULT_TEMPLATE), "body");
    assert_eq!(empty_title.ce_text(DEFAULT_TEMPLATE), "body");
    assert_eq!(titled.ce_text("{title}: {text}"), "Head: body");
    assert_eq!(titled.ce_text("{text} ({title}) {x}"), "body (Head) {x}");
    assert_eq!(
        titled.ce_text("{title}"),
        "Head body",
        "the text is never dropped"
    );
}

#[test]
fn fingerprint_is_stable_and_field_aware() {
    let a = vec![Item::new("1", "ab").with_title("t")];
    let fp = fingerprint(&a);
    assert_eq!(fp.len(), 32);
    assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fp, fingerprint(&a.clone()));
    let moved = vec![Item::new("1a", "b").with_title("t")];
    assert_ne!(fp, fingerprint(&moved));
    let untitled = vec![Item::new("1", "ab")];
    assert_ne!(fp, fingerprint(&untitled));
    // Pinned so that caches keyed by it survive refactors.
    assert_eq!(fingerprint(&[]), fingerprint(&[]));
    assert_eq!(fingerprint(&[]).len(), 32);
}

#[test]
fn format_names_and_extensions() {
    assert_eq!(
        Format::from_path(Path::new("a/b.JSONL")),
        Some(Format::Jsonl)
    );
    assert_eq!(
        Format::from_path(Path::new("x.ndjson")),
        Some(Format::Jsonl)
    );
    assert_eq!(Format::from_path(Path::new("x.tsv")), Some(Format::Tsv));
    assert_eq!(Format::from_path(Path::new("x.parquet")), None);
    assert_eq!(Format::from_path(Path::new("noext")), None);
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>(), Ok(f));
    }
    assert!("xml"
        .parse::<Format>()
        .is_err_and(|e| e.contains("txt, jsonl, json, csv, tsv")));
}

#[test]
fn format_option_overrides_extension() {
    let dir = TempDir::new().expect("tempdir");
    let p = file(&dir, "items.dat", b"{\"id\":1,\"text\":\"a\"}\n");
    let e = load_items(&p, &LoadOptions::default()).expect_err("no format");
    assert!(matches!(e, ItemsError::UnknownFormat { .. }));
    let opts = LoadOptions {
        format: Some(Format::Jsonl),
        skip_invalid: false,
    };
    let l = load_items(&p, &opts).expect("override");
    assert_eq!(ids(&l), ["1"]);
    // Read as txt, the same file is one item: the JSON text itself.
    let opts = LoadOptions {
        format: Some(Format::Txt),
        skip_invalid: false,
    };
    assert_eq!(
        load_items(&p, &opts).expect("txt").items[0].text,
        "{\"id\":1,\"text\":\"a\"}"
    );
}

#[test]
fn missing_file_is_an_io_error_with_path() {
    let dir = TempDir::new().expect("tempdir");
    let e = load_items(&dir.path().join("nope.jsonl"), &LoadOptions::default()).expect_err("io");
    assert!(matches!(e, ItemsError::Io { .. }));
    assert!(strip_dir(&dir, &e.to_string()).starts_with("nope.jsonl: "));
}

#[test]
fn progress_reaches_total_and_cancel_stops() {
    let dir = TempDir::new().expect("tempdir");
    let mut s = String::new();
    for i in 0..40_000 {
        s.push_str(&format!(
            "{{\"id\":{i},\"text\":\"{}\"}}\n",
            "x".repeat(150)
        ));
    }
    let p = file(&dir, "items.jsonl", s.as_bytes());
    let mut seen = Vec::new();
    let cancel = AtomicBool::new(false);
    let l = load_items_with_progress(
        &p,
        &LoadOptions::default(),
        &mut |d, t| seen.push((d, t)),
        &cancel,
    )
    .expect("load");
    assert_eq!(l.items.len(), 40_000);
    let total = s.len() as u64;
    assert!(seen.len() > 2);
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress is monotonic"
    );
    assert!(seen.iter().all(|&(_, t)| t == total));
    assert_eq!(seen.last().map(|p| p.0), Some(total));

    // Cancelling from the progress callback stops the load.
    // Cancelling from the progress callback after the first parsed wave
    // stops the load. Two threads make a wave 8 chunks on any machine.
    let big: String = (0..130_000)
        .map(|i| format!("{{\"id\":{i},\"text\":\"{}\"}}\n", "x".repeat(150)))
        .collect();
    assert!(big.len() > 9 * collect::CHUNK_BYTES);
    let p = file(&dir, "big.jsonl", big.as_bytes());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let cancel = AtomicBool::new(false);
    let mut parsed_reports = 0;
    let r = pool.install(|| {
        load_items_with_progress(
            &p,
            &LoadOptions::default(),
            &mut |d, _| {
                if d > 0 {
                    parsed_reports += 1;
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        )
        .map(|l| l.items.len())
    });
    assert!(matches!(r, Err(ItemsError::Cancelled)), "{r:?}");
    assert_eq!(parsed_reports, 1);

    let cancel = AtomicBool::new(true);
    let r = load_items_with_progress(&p, &LoadOptions::default(), &mut |_, _| {}, &cancel);
    assert!(matches!(r, Err(ItemsError::Cancelled)));
}

#[test]
fn check_report_summarises_a_file() {
    let dir = TempDir::new().expect("tempdir");
    let p = file(
        &dir,
        "items.jsonl",
        b"{\"id\":\"a\",\"title\":\"T\",\"text\":\"1\"}\n\n{\"id\":\"b\",\"text\":2}\n{\"id\":\"c\",\"text\":\"3\"}\n",
    );
    let (out, verdict) = check_report(&p, None);
    assert_eq!(verdict, CheckVerdict::ProblemsFound);
    let out = strip_dir(&dir, &out);
    assert!(out.contains("format:      jsonl"), "{out}");
    assert!(out.contains("items:       2"), "{out}");
    assert!(out.contains("with title:  1"), "{out}");
    assert!(out.contains("blank lines: 1"), "{out}");
    assert!(out.contains("skipped:     1"), "{out}");
    assert!(out.contains("  wrong type: 1"), "{out}");
    assert!(
        out.contains("  items.jsonl:3:18: expected \"text\" to be a string, found number"),
        "{out}"
    );
    assert!(out.contains("result:      PROBLEMS FOUND"), "{out}");

    let p = file(&dir, "empty.txt", b"");
    let (out, verdict) = check_report(&p, None);
    assert_eq!(verdict, CheckVerdict::Unreadable);
    assert!(
        out.contains("result:      UNREADABLE") && out.contains("no items found"),
        "{out}"
    );
}

#[test]
fn parse_items_matches_load_items() {
    let bytes = b"{\"id\":1,\"text\":\"a\"}\n{\"id\":2,\"text\":\"b\"}\n";
    let l = parse_items(
        bytes,
        Format::Jsonl,
        Path::new("mem.jsonl"),
        &LoadOptions::default(),
    )
    .expect("parse");
    assert_eq!(ids(&l), ["1", "2"]);
    let e = parse_items(
        b"{\"id\":1}",
        Format::Jsonl,
        Path::new("mem.jsonl"),
        &LoadOptions::default(),
    )
    .expect_err("missing text");
    assert!(e.to_string().starts_with("mem.jsonl:1: missing \"text\""));
}

// ---------------------------------------------------------------- properties

mod props {
    use super::*;
    use proptest::prelude::*;

    fn any_format() -> impl Strategy<Value = Format> {
        prop::sample::select(Format::ALL.to_vec())
    }

    /// Bytes biased towards the characters that matter to the parsers.
    fn structured_bytes() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"{"[..],
            b"}",
            b"[",
            b"]",
            b"\"",
            b",",
            b":",
            b"\n",
            b"\r\n",
            b"\t",
            b" ",
            b"\"id\"",
            b"\"_id\"",
            b"\"text\"",
            b"\"title\"",
            b"\"gold\"",
            b"1",
            b"-2.5e3",
            b"null",
            b"true",
            b"\\",
            b"\\u00e9",
            b"\xFF",
            b"\xEF\xBB\xBF",
            b"id",
            b"text",
            b"a",
        ]);
        prop::collection::vec(pieces, 0..64).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
            format in any_format(),
            skip in any::<bool>(),
        ) {
            let opts = LoadOptions { format: None, skip_invalid: skip };
            let _ = parse_items(&bytes, format, Path::new("fuzz"), &opts);
            let _ = parse_queries(&bytes, format, Path::new("fuzz"), &opts);
        }

        #[test]
        fn parse_never_panics_on_structured_bytes(
            bytes in structured_bytes(),
            format in any_format(),
            skip in any::<bool>(),
        ) {
            let opts = LoadOptions { format: None, skip_invalid: skip };
            match parse_items(&bytes, format, Path::new("fuzz"), &opts) {
                Ok(l) => {
                    // Whatever loads has unique ids and a consistent report.
                    let mut ids: Vec<&str> = l.items.iter().map(|i| i.id.as_str()).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    prop_assert_eq!(ids.len(), l.items.len());
                    prop_assert_eq!(l.report.rows_loaded, l.items.len());
                    let by_reason: usize = l.report.skipped_by_reason.iter().map(|(_, n)| n).sum();
                    prop_assert_eq!(by_reason, l.report.skipped);
                    if !skip {
                        prop_assert_eq!(l.report.skipped, 0);
                    }
                }
                Err(e) => {
                    // Every error names the origin or is Empty/NoValidRows.
                    prop_assert!(e.to_string().starts_with("fuzz"), "{}", e);
                }
            }
            let _ = parse_queries(&bytes, format, Path::new("fuzz"), &opts);
        }

        #[test]
        fn written_items_read_back_identically(
            raw in prop::collection::vec(("[a-zA-Z0-9_-]{1,8}", prop::option::of(".{0,12}"), ".{0,40}"), 1..20),
            format in prop::sample::select(vec![Format::Jsonl, Format::Json, Format::Csv, Format::Tsv]),
        ) {
            let mut seen = std::collections::HashSet::new();
            let items: Vec<Item> = raw
                .into_iter()
                .filter(|(id, _, _)| seen.insert(id.clone()))
                .map(|(id, title, text)| Item {
                    id,
                    title: title.filter(|t| !t.is_empty()),
                    text,
                })
                // A record with nothing to score is refused on reading (tested on its
                // own); everything else must come back as written.
                .filter(|it| it.has_text())
                .collect();
            prop_assume!(!items.is_empty());
            let dir = TempDir::new().expect("tempdir");
            let p = dir.path().join(format!("x.{format}"));
            write_items(&p, &items, format).expect("write");
            let back = load_items(&p, &LoadOptions::default());
            let back = back.map_err(|e| e.to_string());
            prop_assert_eq!(back.map(|l| l.items), Ok(items));
        }
    }
}

#[test]
fn csv_with_an_unterminated_quote_is_rejected_with_its_line() {
    let dir = TempDir::new().expect("tempdir");
    for (name, body) in [
        ("open.csv", "id,text\n1,\"unterminated\n2,fine\n"),
        ("open.tsv", "id\ttext\n1\tok\n2\t\"never closed\n3\tlost\n"),
        ("headerless.csv", "first\n\"second\nthird\n"),
    ] {
        let p = file(&dir, name, body.as_bytes());
        for skip_invalid in [false, true] {
            let opts = LoadOptions {
                format: None,
                skip_invalid,
            };
            let err = load_items(&p, &opts).expect_err(name).to_string();
            assert!(
                err.contains(name) && err.contains("never closed"),
                "{name}: {err}"
            );
        }
        let (report, verdict) = check_report(&p, None);
        assert_eq!(verdict, CheckVerdict::Unreadable, "{report}");
    }
    // Line numbers point at the record that opens the quote.
    let p = file(&dir, "line.csv", b"id,text\n1,a\n2,b\n3,\"open\n4,d\n");
    let err = load_items(&p, &LoadOptions::default()).unwrap_err();
    assert_eq!(err.line(), Some(4), "{err}");
    // Closed quotes, doubled quotes and a literal quote inside a bare field are fine.
    let p = file(
        &dir,
        "fine.csv",
        b"id,text\n1,\"a, \"\"quoted\"\" word\"\n2,size 5\" screen\n3,\"multi\nline\"\n",
    );
    let list = load_items(&p, &LoadOptions::default()).unwrap();
    let texts: Vec<&str> = list.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["a, \"quoted\" word", "size 5\" screen", "multi\nline"]
    );
}

#[test]
fn empty_text_is_handled_the_same_in_every_format() {
    let dir = TempDir::new().expect("tempdir");
    // Each file: three records, the second with whitespace-only text, on the given line.
    let cases: [(&str, usize, &[u8]); 4] = [
        (
            "e.jsonl",
            3,
            b"{\"id\":\"a\",\"text\":\"one\"}\n\n{\"id\":\"b\",\"text\":\"  \"}\n{\"id\":\"c\",\"text\":\"three\"}\n",
        ),
        ("e.csv", 4, b"id,text\n\na,one\nb,\"  \"\nc,three\n"),
        ("e.tsv", 4, b"id\ttext\n\na\tone\nb\t \nc\tthree\n"),
        (
            "e.json",
            3,
            b"[{\"id\":\"a\",\"text\":\"one\"},\n\n{\"id\":\"b\",\"text\":\"\\t\"},\n{\"id\":\"c\",\"text\":\"three\"}]\n",
        ),
    ];
    for (name, line, body) in cases {
        let p = file(&dir, name, body);
        let err = load_items(&p, &LoadOptions::default()).expect_err(name);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{name}:{line}")) && msg.contains("no text"),
            "{name}: {msg}"
        );
        let list = load_items(
            &p,
            &LoadOptions {
                format: None,
                skip_invalid: true,
            },
        )
        .expect(name);
        let ids: Vec<&str> = list.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "c"], "{name}");
        assert_eq!(list.report.skipped, 1, "{name}");
        assert_eq!(
            list.report.skipped_by_reason,
            vec![("empty text".to_string(), 1)],
            "{name}"
        );
    }
    // A title alone is something to score; a blank line in a bare-text file is not a
    // record at all.
    let p = file(
        &dir,
        "t.jsonl",
        b"{\"id\":\"a\",\"title\":\"Only a title\",\"text\":\"\"}\n",
    );
    assert_eq!(
        load_items(&p, &LoadOptions::default()).unwrap().items.len(),
        1
    );
    let p = file(&dir, "b.txt", b"one\n   \ntwo\n");
    let list = load_items(&p, &LoadOptions::default()).unwrap();
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.report.blank_lines, 1);
}
