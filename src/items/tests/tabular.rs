//! CSV and TSV, query sets (gold ids, BEIR) and round trips through the writers.

use super::*;
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
