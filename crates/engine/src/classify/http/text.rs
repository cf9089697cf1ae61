//! Small text helpers shared by the HTTP, GraphQL and MCP classifiers: splitting identifiers into words,
//! `*` globs, locating a JSON-encoded string inside raw JSON text, and shell quoting. No regexes.

/// Splits an identifier (`volumeDelete`, `delete_orders`, `r2-bucket-delete`, `HTTPServerDrop`) into
/// lowercase words: on every non-alphanumeric character and on camelCase boundaries.
pub(crate) fn split_words(name: &str) -> Vec<String> {
    if name.is_ascii() {
        split_ascii_words(name)
    } else {
        split_unicode_words(name)
    }
}

/// [`split_words`] on characters.
fn split_unicode_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let prev_lower = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
            let acronym_end =
                prev.is_some_and(char::is_uppercase) && next.is_some_and(char::is_lowercase);
            if prev_lower || acronym_end {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// [`split_words`] for an ASCII name (the usual case), on bytes: the same words, fewer allocations.
fn split_ascii_words(name: &str) -> Vec<String> {
    let bytes = name.as_bytes();
    let word = |start: usize, end: usize| {
        name.get(start..end)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let mut words = Vec::new();
    // Where the word being read starts.
    let mut start: Option<usize> = None;
    for (i, &c) in bytes.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if let Some(s) = start.take() {
                words.push(word(s, i));
            }
            continue;
        }
        if c.is_ascii_uppercase()
            && let Some(s) = start
        {
            let prev = i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
            let next = bytes.get(i + 1).copied();
            let prev_lower = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            let acronym_end = prev.is_some_and(|p| p.is_ascii_uppercase())
                && next.is_some_and(|n| n.is_ascii_lowercase());
            if prev_lower || acronym_end {
                words.push(word(s, i));
                start = Some(i);
            }
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        words.push(word(s, bytes.len()));
    }
    words
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (including none) and `\\*`
/// a literal star. ASCII case-insensitive. Iterative, linear in practice (one remembered star position).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    use crate::classify::glob::{GlobSyntax, glob_match as glob};
    let syntax = GlobSyntax {
        question_mark: false,
        backslash_escape: true,
        case_insensitive: true,
    };
    glob(pattern, text, syntax)
}

/// Bytes that `c` takes inside a JSON string as serde_json writes it.
fn json_encoded_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Where the content of the JSON string holding `value` starts in `raw` (the byte after the opening quote),
/// when `raw` spells it the way serde_json does (the common case). `None` when it is spelled otherwise
/// (e.g. `\u0041` or `\/` escapes), in which case callers fall back to a coarser span.
pub(crate) fn find_json_string(raw: &str, value: &str) -> Option<usize> {
    // The first `"` that starts `"<value as serde_json writes it>"`, compared in place (this runs on
    // every GraphQL body: no encoded copy, no substring-search set-up).
    let bytes = raw.as_bytes();
    let spelled_at = |at: usize| -> Option<usize> {
        let mut pos = at;
        let mut buf = [0u8; 6];
        let mut from = 0;
        while let Some(&b) = value.as_bytes().get(from) {
            // A byte serde_json writes as itself is compared as is; any other character encoded.
            if is_plain_json_byte(b) {
                if bytes.get(pos) != Some(&b) {
                    return None;
                }
                pos += 1;
                from += 1;
                continue;
            }
            let c = value.get(from..)?.chars().next()?;
            let enc = json_encode(c, &mut buf);
            if bytes.get(pos..pos + enc.len())? != enc {
                return None;
            }
            pos += enc.len();
            from += c.len_utf8();
        }
        (bytes.get(pos) == Some(&b'"')).then_some(pos)
    };
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'"')
        .find_map(|(at, _)| spelled_at(at + 1).map(|_| at + 1))
}

/// An ASCII byte serde_json writes inside a string as itself (not `"`, `\\` or a control character).
fn is_plain_json_byte(b: u8) -> bool {
    (0x20..0x80).contains(&b) && b != b'"' && b != b'\\'
}

/// `c` as serde_json writes it inside a string (its [`json_encoded_len`] bytes).
fn json_encode(c: char, buf: &mut [u8; 6]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match c {
        '"' => Some(b'"'),
        '\\' => Some(b'\\'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        _ => None,
    };
    if let Some(letter) = short {
        *buf = [b'\\', letter, 0, 0, 0, 0];
        return buf.get(..2).unwrap_or_default();
    }
    let code = c as u32;
    if code < 0x20 {
        let hex = |shift: u32| {
            HEX.get(((code >> shift) & 0xf) as usize)
                .copied()
                .unwrap_or(b'0')
        };
        *buf = [b'\\', b'u', b'0', b'0', hex(4), hex(0)];
        return buf.as_slice();
    }
    c.encode_utf8(buf).as_bytes()
}

/// Maps a byte offset inside `value` to the byte offset inside its serde_json encoding (without the
/// opening quote).
pub(crate) fn json_offset(value: &str, offset: usize) -> usize {
    // Text serde_json writes as is (most GraphQL documents) keeps its offsets.
    let head = value
        .as_bytes()
        .get(..offset.min(value.len()))
        .unwrap_or_default();
    if head.iter().all(|&b| is_plain_json_byte(b)) {
        return head.len();
    }
    value
        .char_indices()
        .take_while(|&(i, _)| i < offset)
        .map(|(_, c)| json_encoded_len(c))
        .sum()
}

/// Quotes `word` for a POSIX shell when needed (`'…'`, with `'` written as `'\''`).
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_case_and_separators() {
        assert_eq!(split_words("volumeDelete"), ["volume", "delete"]);
        assert_eq!(split_words("delete_orders"), ["delete", "orders"]);
        assert_eq!(split_words("r2-bucket-delete"), ["r2", "bucket", "delete"]);
        assert_eq!(split_words("HTTPServerDrop"), ["http", "server", "drop"]);
        assert_eq!(
            split_words("updateDeletedFlag"),
            ["update", "deleted", "flag"]
        );
        assert!(split_words("").is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.amazonaws.com", "rds.us-east-1.amazonaws.com"));
        assert!(!glob_match("*.amazonaws.com", "amazonaws.com.evil.io"));
        assert!(glob_match("Delete*", "DeleteDBInstance"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("*\\**", "orders-*"));
        assert!(!glob_match("*\\**", "orders"));
    }

    proptest::proptest! {
        #[test]
        fn ascii_words_split_as_on_characters(name in "[a-zA-Z0-9_ .-]{0,24}") {
            proptest::prop_assert_eq!(split_ascii_words(&name), split_unicode_words(&name));
        }
    }

    #[test]
    fn json_strings_are_found_as_serde_json_spells_them() {
        let values = [
            "mutation { a }",
            "q\"uote\\ back\nline\ttab\r\u{8}\u{c}\u{1}\u{1f}\u{7f} é ✓ 😀",
            "",
            "x",
        ];
        for value in values {
            let encoded = serde_json::to_string(value).unwrap();
            for raw in [
                format!("{{\"query\":{encoded}}}"),
                format!("{{\"a\":\"x\",\"b\":{encoded},\"c\":{encoded}}}"),
                encoded.clone(),
                "{\"query\":\"other\"}".to_string(),
                format!("\\{encoded}"),
            ] {
                let expected = raw.find(&encoded).map(|at| at + 1);
                assert_eq!(find_json_string(&raw, value), expected, "{raw}");
            }
        }
    }

    #[test]
    fn json_offsets() {
        let value = "a\"b c";
        let raw = r#"{"q": "a\"b c"}"#;
        let start = find_json_string(raw, value).unwrap_or(0);
        assert_eq!(
            raw.get(start + json_offset(value, 4)..start + json_offset(value, 5)),
            Some("c")
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("psql"), "psql");
        assert_eq!(shell_quote("DROP DATABASE app"), "'DROP DATABASE app'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
