//! Small text helpers shared by the HTTP, GraphQL and MCP classifiers: splitting identifiers into words,
//! `*` globs, locating a JSON-encoded string inside raw JSON text, and shell quoting. No regexes.

/// Splits an identifier (`volumeDelete`, `delete_orders`, `r2-bucket-delete`, `HTTPServerDrop`) into
/// lowercase words: on every non-alphanumeric character and on camelCase boundaries.
pub(crate) fn split_words(name: &str) -> Vec<String> {
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
    let encoded = serde_json::to_string(value).ok()?;
    raw.find(&encoded).map(|at| at + 1)
}

/// Maps a byte offset inside `value` to the byte offset inside its serde_json encoding (without the
/// opening quote).
pub(crate) fn json_offset(value: &str, offset: usize) -> usize {
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
