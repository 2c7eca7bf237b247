//! One JSON object → the fields of an item or query, shared by `.jsonl` and
//! `.json`.
//!
//! Deserialising straight into a typed struct would make serde's messages the
//! user's messages ("invalid type: integer `5`, expected a string at line 1
//! column 17"). Instead every known field is read as a loosely typed [`Val`]
//! and checked here, so the message can say which field, what it should be
//! and what was found. Strings are moved, never copied, into the result.
//! The small byte scanner at the bottom locates values for error columns and
//! splits JSON arrays into elements.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::{ErrorKind, RowError};
use super::Parts;

/// A JSON value of a known field, kept only as precisely as validation needs.
#[derive(Debug)]
pub(crate) enum Val {
    Str(String),
    Int(String),
    Float,
    Bool,
    Null,
    Array(Vec<Val>),
    Object,
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) | Val::Float => "number",
            Val::Bool => "boolean",
            Val::Null => "null",
            Val::Array(_) => "array",
            Val::Object => "object",
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        Ok(Val::Int(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::Int(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Val, E> {
        Ok(Val::Float)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Val, E> {
        Ok(Val::Bool)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        d.deserialize_any(ValVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element::<Val>()? {
            v.push(x);
        }
        Ok(Val::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Object)
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

#[derive(Clone, Copy)]
enum Key {
    Id,
    BeirId,
    Title,
    Text,
    Query,
    Gold,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "id" => Key::Id,
                    "_id" => Key::BeirId,
                    "title" => Key::Title,
                    "text" => Key::Text,
                    "query" => Key::Query,
                    "gold" => Key::Gold,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// The known fields of an object; unknown ones are skipped unparsed.
#[derive(Debug, Default)]
pub(crate) struct RawObj {
    id: Option<Val>,
    beir_id: Option<Val>,
    title: Option<Val>,
    text: Option<Val>,
    query: Option<Val>,
    gold: Option<Val>,
    repeated: Option<&'static str>,
}

/// A top-level JSON value: objects are rows, strings are rows in `.json`
/// arrays, anything else is reported by its type.
#[derive(Debug)]
pub(crate) enum Entry {
    Object(RawObj),
    Str(String),
    Other(&'static str),
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut o = RawObj::default();
        while let Some(key) = map.next_key::<Key>()? {
            let (slot, name) = match key {
                Key::Id => (&mut o.id, "id"),
                Key::BeirId => (&mut o.beir_id, "_id"),
                Key::Title => (&mut o.title, "title"),
                Key::Text => (&mut o.text, "text"),
                Key::Query => (&mut o.query, "query"),
                Key::Gold => (&mut o.gold, "gold"),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                o.repeated.get_or_insert(name);
                map.next_value::<IgnoredAny>()?;
            } else {
                *slot = Some(map.next_value::<Val>()?);
            }
        }
        Ok(Entry::Object(o))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
        Ok(Entry::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Entry, E> {
        Ok(Entry::Str(v))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Entry, E> {
        Ok(Entry::Other("number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Entry, E> {
        Ok(Entry::Other("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Entry, E> {
        Ok(Entry::Other("number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Entry, E> {
        Ok(Entry::Other("boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Entry, E> {
        Ok(Entry::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Entry::Other("array"))
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

/// Where a JSON text sits in the file, to turn offsets into line:column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub line: usize,
    pub column: usize,
}

impl Origin {
    /// Line and column of byte `offset` of `src` (which starts at `self`).
    pub fn at(self, src: &[u8], offset: usize) -> (usize, usize) {
        let before = &src[..offset.min(src.len())];
        match memchr::memrchr(b'\n', before) {
            None => (self.line, self.column + before.len()),
            Some(nl) => (
                self.line + memchr::memchr_iter(b'\n', before).count(),
                offset - nl,
            ),
        }
    }
}

/// Turns a serde_json syntax error into a row error at the right place.
pub(crate) fn syntax_error(
    e: &serde_json::Error,
    origin: Origin,
    truncated_file: bool,
) -> RowError {
    let line = origin.line + e.line().saturating_sub(1);
    let column = if e.line() <= 1 {
        origin.column + e.column().saturating_sub(1)
    } else {
        e.column()
    };
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    if e.classify() == serde_json::error::Category::Eof {
        if truncated_file {
            return RowError::new(
                line,
                Some(column),
                ErrorKind::Truncated,
                format!(
                    "truncated: the file ends in the middle of a JSON value ({msg}); expected the rest of the value"
                ),
            );
        }
        return RowError::new(
            line,
            Some(column),
            ErrorKind::InvalidJson,
            format!("incomplete JSON value ({msg}); expected one complete object per line"),
        );
    }
    RowError::new(
        line,
        Some(column),
        ErrorKind::InvalidJson,
        format!("invalid JSON: {msg}"),
    )
}

struct FieldError {
    kind: ErrorKind,
    key: Option<&'static str>,
    message: String,
}

fn wrong(key: &'static str, expected: &str, found: &Val) -> FieldError {
    FieldError {
        kind: ErrorKind::WrongType,
        key: Some(key),
        message: format!(
            "expected \"{key}\" to be {expected}, found {}",
            found.type_name()
        ),
    }
}

fn id_value(key: &'static str, v: Val) -> Result<String, FieldError> {
    match v {
        Val::Str(s) if s.is_empty() => Err(FieldError {
            kind: ErrorKind::InvalidValue,
            key: Some(key),
            message: format!("expected \"{key}\" to be a non-empty string, found \"\""),
        }),
        Val::Str(s) | Val::Int(s) => Ok(s),
        other => Err(wrong(key, "a string or an integer", &other)),
    }
}

fn gold_value(v: Val) -> Result<Vec<String>, FieldError> {
    const EXPECTED: &str = "an id (string or integer) or an array of ids";
    match v {
        Val::Null => Ok(Vec::new()),
        Val::Str(s) | Val::Int(s) => Ok(vec![s]),
        Val::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                match x {
                    Val::Str(s) | Val::Int(s) => out.push(s),
                    other => {
                        return Err(FieldError {
                            kind: ErrorKind::WrongType,
                            key: Some("gold"),
                            message: format!(
                                "expected \"gold\" to be {EXPECTED}, found an array containing {}",
                                other.type_name()
                            ),
                        })
                    }
                }
            }
            Ok(out)
        }
        other => Err(wrong("gold", EXPECTED, &other)),
    }
}

fn both(a: &'static str, b: &'static str) -> FieldError {
    FieldError {
        kind: ErrorKind::DuplicateField,
        key: Some(b),
        message: format!("both \"{a}\" and \"{b}\" are present; expected only one of them"),
    }
}

fn fields(o: RawObj, is_query: bool) -> Result<Parts, FieldError> {
    if let Some(name) = o.repeated {
        return Err(FieldError {
            kind: ErrorKind::DuplicateField,
            key: None,
            message: format!("field \"{name}\" appears more than once"),
        });
    }
    let id = match (o.id, o.beir_id) {
        (Some(_), Some(_)) => return Err(both("id", "_id")),
        (Some(v), None) => id_value("id", v)?,
        (None, Some(v)) => id_value("_id", v)?,
        (None, None) => {
            return Err(FieldError {
                kind: ErrorKind::MissingField,
                key: None,
                message: "missing \"id\" (or \"_id\"); expected an object with \"id\" and \"text\""
                    .into(),
            })
        }
    };
    let (text_key, text) = match (o.text, o.query) {
        (Some(_), Some(_)) if is_query => return Err(both("text", "query")),
        (Some(v), _) => ("text", Some(v)),
        (None, Some(v)) if is_query => ("query", Some(v)),
        _ => ("text", None),
    };
    let text = match text {
        Some(Val::Str(s)) => s,
        Some(other) => return Err(wrong(text_key, "a string", &other)),
        None => {
            return Err(FieldError {
                kind: ErrorKind::MissingField,
                key: None,
                message: format!(
                    "missing \"text\" for id \"{id}\"; expected an object with \"id\" and \"text\""
                ),
            })
        }
    };
    let mut parts = Parts {
        id,
        title: None,
        text,
        gold: Vec::new(),
    };
    if is_query {
        if let Some(g) = o.gold {
            parts.gold = gold_value(g)?;
        }
    } else {
        parts.title = match o.title {
            None | Some(Val::Null) => None,
            Some(Val::Str(s)) => Some(s).filter(|s| !s.is_empty()),
            Some(other) => return Err(wrong("title", "a string or null", &other)),
        };
    }
    Ok(parts)
}

/// Validates one parsed object; `src` is its JSON text for error columns.
pub(crate) fn object_parts(
    o: RawObj,
    is_query: bool,
    src: &[u8],
    origin: Origin,
) -> Result<Parts, RowError> {
    fields(o, is_query).map_err(|fe| {
        let (line, column) = match fe.key.and_then(|k| locate_value(src, k)) {
            Some(off) => {
                let (l, c) = origin.at(src, off);
                (l, Some(c))
            }
            None => (origin.line, None),
        };
        RowError::new(line, column, fe.kind, fe.message)
    })
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// `b[i]` is a quote; returns the index after the closing quote.
fn scan_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'"' {
            return Some(k + 1);
        }
        j = k + 2;
    }
}

/// Returns the index just after the value starting at `i`, or `None` when
/// the input ends inside a string, object or array. Only finds the extent;
/// serde_json validates the content afterwards.
pub(crate) fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => scan_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'"' => {
                        j = scan_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// Offset of the value of top-level `key` in the object `src`; only used to
/// point error columns at the offending value.
pub(crate) fn locate_value(src: &[u8], key: &str) -> Option<usize> {
    let mut i = skip_ws(src, 0);
    if src.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(src, i);
        match *src.get(i)? {
            b',' => i += 1,
            b'"' => {
                let end = scan_string(src, i)?;
                let name = &src[i + 1..end - 1];
                i = skip_ws(src, end);
                if src.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_ws(src, i + 1);
                if name == key.as_bytes() {
                    return Some(i);
                }
                let next = skip_value(src, i)?;
                if next == i {
                    return None;
                }
                i = next;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_value_finds_top_level_keys_only() {
        let s = br#"{"a": {"text": 1}, "text" : 5}"#;
        assert_eq!(locate_value(s, "text"), Some(28));
        assert_eq!(locate_value(s, "missing"), None);
        assert_eq!(locate_value(br#"{"t": "x\"y", "id": 3}"#, "id"), Some(20));
    }

    #[test]
    fn skip_value_handles_nesting_strings_and_truncation() {
        let s = br#"{"a": "}]", "b": [1, {"c": 2}]} , 3"#;
        assert_eq!(skip_value(s, 0), Some(31));
        assert_eq!(skip_value(b"[1, [2", 0), None);
        assert_eq!(skip_value(b"\"abc", 0), None);
        assert_eq!(skip_value(b"123]", 0), Some(3));
    }

    #[test]
    fn origin_maps_offsets_across_lines() {
        let o = Origin {
            line: 10,
            column: 5,
        };
        assert_eq!(o.at(b"ab\ncd", 1), (10, 6));
        assert_eq!(o.at(b"ab\ncd", 4), (11, 2));
    }
}
