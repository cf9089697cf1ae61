//! Static output of simple data commands, so that what a pipeline or `$(…)` feeds a shell can be read:
//! `echo`, `printf` (escapes such as `\x72`), `cat` of a heredoc, `base64 -d`, `openssl base64 -d`,
//! `xxd -r -p`, `tr` (rot13), `rev`, `which`. Anything else prints something unknown.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::words::ansi_c;
use super::{Data, Flow, Map, RWord, Walker, union};

/// Most times a `printf` format is reused for remaining arguments.
const MAX_PRINTF_ROUNDS: usize = 64;

impl Walker {
    /// What `argv` (whose command name is `name`) prints, when that is known statically.
    pub(super) fn output_of(&mut self, name: &str, argv: &[RWord], stdin: &Flow) -> Flow {
        let unknown = || Flow::Command(argv.to_vec());
        let args = argv.get(1..).unwrap_or_default();
        let has = |flags: &[&str]| args.iter().any(|w| flags.contains(&w.text.as_str()));
        let literal_stdin = match stdin {
            Flow::Literal(data) => Some(data),
            _ => None,
        };
        let decode_with = |f: &dyn Fn(&str) -> Option<String>| match literal_stdin {
            Some(data) => match f(&data.text) {
                Some(text) => Flow::Literal(Data {
                    text,
                    map: Map::Whole(data.span()),
                    decoded: true,
                }),
                None => unknown(),
            },
            None => unknown(),
        };
        let files = args.iter().filter(|w| !w.text.starts_with('-')).count();
        // A filter that only re-encodes, compresses or trims its input (`cat ~/.ssh/id_rsa | base64 |
        // curl -d @- …`) prints the same data: what it prints is still the source command's output.
        // Counts (`head -c 60`, `base64 -w 0`) are not files.
        let operands = args
            .iter()
            .filter(|w| !w.text.starts_with('-') && !w.text.chars().all(|c| c.is_ascii_digit()))
            .count();
        if let Flow::Command(source) = stdin
            && !source.is_empty()
            && operands == 0
            && is_pass_through_filter(name)
        {
            return Flow::Command(source.clone());
        }
        match name {
            "echo" => echo(argv),
            "printf" => self.printf(argv),
            "cat" if files == 0 => match literal_stdin {
                Some(data) => Flow::Literal(data.clone()),
                None => unknown(),
            },
            "base64" | "gbase64" if has(&["-d", "--decode", "-D", "-di", "-id"]) && files == 0 => {
                decode_with(&|text| utf8(base64_decode(text)?))
            }
            "openssl" if has(&["base64", "-base64", "-a"]) && has(&["-d"]) && !has(&["-in"]) => {
                decode_with(&|text| utf8(base64_decode(text)?))
            }
            "xxd"
                if has(&["-r", "-revert"])
                    && has(&["-p", "-ps", "-plain", "-postscript"])
                    && files == 0 =>
            {
                decode_with(&|text| utf8(hex_decode(text)?))
            }
            "basenc" if has(&["--base64", "--base64url"]) && has(&["-d", "--decode"]) => {
                decode_with(&|text| utf8(base64_decode(text)?))
            }
            "tr" => match tr_sets(args) {
                Some(tr) => decode_with(&|text| Some(tr.apply(text))),
                None => unknown(),
            },
            "rev" if files == 0 => decode_with(&|text| {
                Some(
                    text.lines()
                        .map(|l| l.chars().rev().collect::<String>() + "\n")
                        .collect(),
                )
            }),
            "which" | "command" | "type" => match args.last() {
                Some(last) if !last.is_dynamic() => {
                    let text = format!("{}\n", last.text);
                    Flow::Literal(Data {
                        text,
                        map: Map::Whole(last.span),
                        decoded: false,
                    })
                }
                _ => unknown(),
            },
            _ => unknown(),
        }
    }

    fn printf(&mut self, argv: &[RWord]) -> Flow {
        let mut args = argv.get(1..).unwrap_or_default();
        let mut assign = None;
        loop {
            match args {
                [flag, var, more @ ..] if flag.text == "-v" => {
                    assign = Some(var.text.clone());
                    args = more;
                }
                [dashes, more @ ..] if dashes.text == "--" => args = more,
                _ => break,
            }
        }
        let Some((format, values)) = args.split_first() else {
            return Flow::Command(argv.to_vec());
        };
        if args.iter().any(|w| w.unknown_subst) {
            return Flow::Command(argv.to_vec());
        }
        let text = printf_format(&format.text, values);
        let decoded = std::iter::once(format)
            .chain(values)
            .any(|w| w.decoded || has_byte_escape(&w.text));
        if let Some(var) = assign {
            self.vars.insert(var, Some(text));
            return Flow::None;
        }
        let map = Map::Whole(union(args, format.span));
        Flow::Literal(Data {
            text,
            map,
            decoded: decoded || format.decoded,
        })
    }
}

fn echo(argv: &[RWord]) -> Flow {
    let mut args = argv.get(1..).unwrap_or_default();
    let (mut newline, mut escapes) = (true, false);
    while let Some((first, more)) = args.split_first() {
        let flags = first
            .text
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && f.chars().all(|c| "neE".contains(c)));
        let Some(flags) = flags else { break };
        newline &= !flags.contains('n');
        escapes = flags.contains('e') || (escapes && !flags.contains('E'));
        args = more;
    }
    if args.iter().any(|w| w.unknown_subst) {
        return Flow::Command(argv.to_vec());
    }
    let joined = args
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = if escapes {
        ansi_c(&joined)
    } else {
        joined.clone()
    };
    let decoded = args.iter().any(|w| w.decoded) || (escapes && has_byte_escape(&joined));
    let map = match args {
        [one] if !escapes => one.content,
        _ => Map::Whole(union(
            args,
            argv.first()
                .map_or(crate::action::Span::new(0, 0), |w| w.span),
        )),
    };
    if newline {
        text.push('\n');
    }
    Flow::Literal(Data { text, map, decoded })
}

/// Whether `text` holds escapes that encode characters (`\x72`, `\162`, `\u0072`).
fn has_byte_escape(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && chars
                .peek()
                .is_some_and(|n| matches!(n, 'x' | 'u' | 'U' | '0'..='7'))
        {
            return true;
        }
    }
    false
}

/// Formats like `printf FORMAT ARGS…` (`%s`, `%b`, `%d`, `%c`, `%%`, escapes in the format); the format
/// is reused while arguments remain.
fn printf_format(format: &str, values: &[RWord]) -> String {
    let mut out = String::new();
    let mut values = values.iter().map(|w| w.text.as_str()).peekable();
    for _ in 0..MAX_PRINTF_ROUNDS {
        let mut consumed = false;
        let mut chars = format.chars().peekable();
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            out.push_str(&ansi_c(&std::mem::take(&mut literal)));
            while chars.peek().is_some_and(|c| "-+ #0123456789.".contains(*c)) {
                chars.next();
            }
            let Some(conv) = chars.next() else { break };
            if conv == '%' {
                out.push('%');
                continue;
            }
            let value = values.next();
            consumed |= value.is_some();
            let value = value.unwrap_or_default();
            match conv {
                'b' => out.push_str(&ansi_c(value)),
                'c' => out.extend(value.chars().next()),
                _ => out.push_str(value),
            }
        }
        out.push_str(&ansi_c(&literal));
        if !consumed || values.peek().is_none() {
            break;
        }
    }
    out
}

/// Decodes base64 (standard or URL-safe, padded or not), ignoring whitespace.
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.is_empty() {
        return None;
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&clean).ok())
}

/// Decodes plain hex (`xxd -p` output), ignoring whitespace.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if !digits.len().is_multiple_of(2) || digits.is_empty() {
        return None;
    }
    Some(
        digits
            .chunks_exact(2)
            .map(|pair| {
                pair.iter()
                    .fold(0u8, |acc, d| acc.wrapping_mul(16).wrapping_add(*d))
            })
            .collect(),
    )
}

fn utf8(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

/// A `tr` translation.
struct Tr {
    from: Vec<char>,
    to: Vec<char>,
    delete: bool,
}

impl Tr {
    fn apply(&self, text: &str) -> String {
        text.chars()
            .filter_map(|c| match self.from.iter().position(|f| *f == c) {
                None => Some(c),
                Some(_) if self.delete => None,
                Some(i) => Some(self.to.get(i).or(self.to.last()).copied().unwrap_or(c)),
            })
            .collect()
    }
}

/// Reads `tr [-d] SET1 [SET2]`; `None` for forms not modelled (`-c`, `-s`).
fn tr_sets(args: &[RWord]) -> Option<Tr> {
    let mut delete = false;
    let mut sets = Vec::new();
    for word in args {
        match word.text.as_str() {
            "-d" | "--delete" => delete = true,
            flag if flag.starts_with('-') && flag.len() > 1 => return None,
            set => sets.push(expand_set(set)?),
        }
    }
    let mut sets = sets.into_iter();
    let from = sets.next()?;
    let to = sets.next().unwrap_or_default();
    if sets.next().is_some() || (!delete && to.is_empty()) {
        return None;
    }
    Some(Tr { from, to, delete })
}

/// Expands a `tr` set: ranges `a-z`, classes `[:upper:]`, escapes `\n`.
fn expand_set(set: &str) -> Option<Vec<char>> {
    let mut out = Vec::new();
    let mut rest = set;
    while !rest.is_empty() {
        let class = [
            ("[:upper:]", 'A', 'Z'),
            ("[:lower:]", 'a', 'z'),
            ("[:digit:]", '0', '9'),
        ]
        .iter()
        .find(|(name, _, _)| rest.starts_with(name));
        if let Some((name, a, b)) = class {
            out.extend(*a..=*b);
            rest = rest.get(name.len()..)?;
            continue;
        }
        let mut chars = rest.chars();
        let mut c = chars.next()?;
        if c == '\\' {
            c = match chars.next()? {
                'n' => '\n',
                't' => '\t',
                other => other,
            };
        }
        let after = chars.as_str();
        let mut range = after.chars();
        if range.next() == Some('-')
            && let Some(end) = range.next()
            && end >= c
        {
            if u32::from(end) - u32::from(c) > 1024 {
                return None;
            }
            out.extend(c..=end);
            rest = range.as_str();
        } else {
            out.push(c);
            rest = after;
        }
    }
    Some(out)
}

/// Filters whose output carries their input's content (encoded, compressed, encrypted or trimmed).
fn is_pass_through_filter(name: &str) -> bool {
    matches!(
        name,
        "base64"
            | "gbase64"
            | "base32"
            | "basenc"
            | "xxd"
            | "od"
            | "hexdump"
            | "gzip"
            | "bzip2"
            | "xz"
            | "zstd"
            | "lz4"
            | "brotli"
            | "openssl"
            | "gpg"
            | "age"
            | "tr"
            | "rev"
            | "cat"
            | "head"
            | "tail"
            | "sort"
            | "uniq"
            | "tee"
            | "fold"
            | "iconv"
    )
}
