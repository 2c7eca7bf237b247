//! API details (templates, fingerprints, formats, progress, reports) and properties
//! that hold for every format.

use super::*;
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
