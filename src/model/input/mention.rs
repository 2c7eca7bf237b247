//! The `[mention]` markup of typed queries: square brackets mark the mention, which
//! becomes the model's mention markers (`[unused0] … [unused1]` for the [EMB] models).

/// What may be wrong with a query as typed: empty, or a `[mention` whose bracket never
/// closes (it is then scored as plain text, unmarked). Callers show these as warnings.
pub fn query_warnings(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    if query.trim().is_empty() {
        out.push("the query is empty: every item is scored against nothing".to_string());
        return out;
    }
    if let Some(open) = query.rfind('[') {
        if !query[open..].contains(']') {
            out.push(format!(
                "unterminated mention \"{}\": no closing ] after it, so it is scored as plain text",
                &query[open..]
            ));
        }
    }
    out
}

/// `the [dog] barked` → `the [unused0] dog [unused1] barked`. Only the first bracketed
/// span that is not already a special token (`[SEP]`, `[unused3]`, …) is marked.
pub fn mark_mention(query: &str, start: &str, end: &str) -> String {
    if query.contains(start) {
        return query.to_string();
    }
    let mut search_from = 0;
    while let Some(open_rel) = query[search_from..].find('[') {
        let open = search_from + open_rel;
        let Some(close_rel) = query[open + 1..].find(']') else {
            break;
        };
        let close = open + 1 + close_rel;
        let inner = &query[open + 1..close];
        let is_special = inner.chars().all(|c| c.is_ascii_alphanumeric())
            && (inner.chars().all(|c| c.is_ascii_uppercase()) || inner.starts_with("unused"));
        if !is_special && !inner.trim().is_empty() {
            return format!(
                "{}{start} {} {end}{}",
                spaced_end(&query[..open]),
                inner.trim(),
                spaced_start(&query[close + 1..])
            );
        }
        search_from = close + 1;
    }
    query.to_string()
}

fn spaced_end(s: &str) -> String {
    if s.is_empty() || s.ends_with(' ') {
        s.to_string()
    } else {
        format!("{s} ")
    }
}

fn spaced_start(s: &str) -> String {
    if s.is_empty() || s.starts_with(' ') {
        s.to_string()
    } else {
        format!(" {s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_become_markers() {
        assert_eq!(
            mark_mention("the [dog] barked", "[unused0]", "[unused1]"),
            "the [unused0] dog [unused1] barked"
        );
        assert_eq!(
            mark_mention("[bank], river", "[unused0]", "[unused1]"),
            "[unused0] bank [unused1] , river"
        );
        // special tokens and already-marked text are left alone
        assert_eq!(
            mark_mention("a [SEP] b", "[unused0]", "[unused1]"),
            "a [SEP] b"
        );
        assert_eq!(
            mark_mention("a [unused0] b [unused1]", "[unused0]", "[unused1]"),
            "a [unused0] b [unused1]"
        );
        assert_eq!(
            mark_mention("no marks", "[unused0]", "[unused1]"),
            "no marks"
        );
    }

    #[test]
    fn empty_queries_and_open_brackets_are_flagged() {
        assert!(query_warnings("the [dog] barked").is_empty());
        assert!(query_warnings("plain words").is_empty());
        assert!(query_warnings("  ")[0].contains("empty"));
        let w = query_warnings("the [dog barked");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("[dog barked"), "{w:?}");
        assert!(query_warnings("[a] and [b")[0].contains("[b"));
    }
}
