//! Wildcard matching for catalogue patterns (`*`, optionally `?` and `\` escapes), without allocating:
//! it runs for every rule on every request, so it must be cheap.

/// Which wildcard syntax a pattern uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GlobSyntax {
    /// `?` matches one character (else it is a literal).
    pub question_mark: bool,
    /// `\x` is the literal `x` (else `\` is a literal).
    pub backslash_escape: bool,
    /// ASCII letters match either case.
    pub case_insensitive: bool,
}

/// Whether `text` matches `pattern` as a whole; `*` matches any run of characters. (Inlined, so that each
/// caller's constant `syntax` folds into the byte tests: this runs tens of thousands of times a second.)
#[inline]
pub(crate) fn glob_match(pattern: &str, text: &str, syntax: GlobSyntax) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let special = |b: &u8| {
        *b == b'*'
            || (syntax.question_mark && *b == b'?')
            || (syntax.backslash_escape && *b == b'\\')
    };
    let same_str = |a: &[u8], b: &[u8]| {
        if syntax.case_insensitive {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let same = |a: u8, b: u8| {
        if syntax.case_insensitive {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // A pattern that starts (ends) with a plain literal byte matches only a text that starts (ends) with
    // it: most patterns are rejected here without scanning them.
    let plain = |b: u8| !special(&b);
    let edge_differs = |pattern: Option<&u8>, text: Option<&u8>| match (pattern, text) {
        (Some(&pb), Some(&tb)) => plain(pb) && !same(pb, tb),
        (Some(&pb), None) => plain(pb),
        _ => false,
    };
    if edge_differs(p.first(), t.first()) || edge_differs(p.last(), t.last()) {
        return false;
    }
    // Fast paths for the common shapes: `literal`, `*literal`, `literal*`.
    match p.iter().position(special) {
        None => return same_str(p, t),
        Some(0) if p.first() == Some(&b'*') && !p.iter().skip(1).any(special) => {
            let suffix = p.get(1..).unwrap_or_default();
            return t
                .len()
                .checked_sub(suffix.len())
                .and_then(|start| t.get(start..))
                .is_some_and(|end| same_str(end, suffix));
        }
        Some(last) if last + 1 == p.len() && p.last() == Some(&b'*') => {
            let prefix = p.get(..last).unwrap_or_default();
            return t
                .get(..prefix.len())
                .is_some_and(|start| same_str(start, prefix));
        }
        Some(_) => {}
    }
    // Width in bytes of the character starting at `i` of the text (1 past the end).
    let char_len = |i: usize| {
        text.get(i..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8)
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(b'?') if syntax.question_mark => Some((1, char_len(ti))),
            Some(b'\\') if syntax.backslash_escape => {
                let literal = p.get(pi + 1).copied().unwrap_or(b'\\');
                let width = if pi + 1 < p.len() { 2 } else { 1 };
                t.get(ti)
                    .is_some_and(|&c| same(c, literal))
                    .then_some((width, 1))
            }
            Some(&c) => t.get(ti).is_some_and(|&tc| same(tc, c)).then_some((1, 1)),
            None => None,
        };
        match (step, star) {
            (Some((dp, dt)), _) => {
                pi += dp;
                ti += dt;
            }
            (None, Some((sp, st))) => {
                let next = st + char_len(st);
                pi = sp + 1;
                ti = next;
                star = Some((sp, next));
            }
            (None, None) => return false,
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: GlobSyntax = GlobSyntax {
        question_mark: false,
        backslash_escape: true,
        case_insensitive: true,
    };
    const SHELL: GlobSyntax = GlobSyntax {
        question_mark: true,
        backslash_escape: false,
        case_insensitive: false,
    };

    #[test]
    fn stars_questions_escapes_and_case() {
        assert!(glob_match("*.github.com", "API.github.com", HTTP));
        assert!(!glob_match("*.github.com", "github.com", HTTP));
        assert!(glob_match("Delete*", "deletedbinstance", HTTP));
        assert!(glob_match(r"a\*b", "a*b", HTTP) && !glob_match(r"a\*b", "axb", HTTP));
        assert!(glob_match("delete-*", "delete-db-instance", SHELL));
        assert!(!glob_match("Delete-*", "delete-x", SHELL));
        assert!(glob_match("rm?", "rmé", SHELL) && !glob_match("rm?", "rm", SHELL));
        assert!(glob_match("*é*", "café au lait", SHELL));
        assert!(
            glob_match("*", "", SHELL) && glob_match("", "", SHELL) && !glob_match("", "x", SHELL)
        );
        assert!(glob_match("a*b*c", "aXXbYYc", SHELL) && !glob_match("a*b*c", "aXXbYY", SHELL));
        assert!(glob_match("*.COM", "x.com", HTTP) && !glob_match("*.com", "x.co", HTTP));
        assert!(glob_match("aws*", "aws", SHELL) && !glob_match("aws*", "aw", SHELL));
        assert!(glob_match("*", "anything", HTTP) && glob_match("**", "", HTTP));
        assert!(glob_match(r"a\b", "AB", HTTP) && !glob_match(r"a\b", "ac", HTTP));
        assert!(glob_match("a\\", "a\\", SHELL) && !glob_match("ab", "", SHELL));
        assert!(glob_match("x*é", "xyzé", SHELL) && !glob_match("x*é", "xyze", SHELL));
    }
}
