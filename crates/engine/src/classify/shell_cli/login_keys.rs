//! Commands that add or replace the SSH keys allowed to log in to this machine (catalogue family
//! `login-keys`, rule `LGK001`, `catalog/login-keys.toml`): a command other than a reader that names
//! `~/.ssh/authorized_keys` (or `authorized_keys2`, root's, `/etc/ssh/authorized_keys/…`) — `tee -a`, `cp`,
//! `install` or `rsync` onto it, `mv` over it, `sed -i`, `dd of=`, an editor, a script.
//!
//! Reading stays allowed (`cat`, `grep`, `wc`, `diff`, `ssh-keygen -l -f`, the source side of `cp`), and so
//! do `chmod`, `chown` and `touch`, which change no key. Redirections (`echo KEY >> ~/.ssh/authorized_keys`)
//! and file requests are judged by the path judge, and `rm` by `fs.rs`, with the same rule id.

use super::Word;
use super::airlock_self::{COPIERS, DELETERS, destinations, only_reads};
use super::args::{self, View};
use super::fs::path_text;
use crate::action::Action;
use crate::classify::Classifier;
use crate::classify::paths::{PathClass, classify_path, rules};
use crate::request::RequestKind;

/// What every login-keys file name contains (the path judge compares names case-insensitively).
const NAME: &[u8] = b"authorized_keys";

/// Where `_` is in [`NAME`].
const UNDERSCORE_AT: usize = 10;

/// Whether `text` contains [`NAME`] in any ASCII case. Only a `_` can match the name's `_`, so only the
/// places around each `_` are compared.
fn spells_name(text: &str) -> bool {
    text.match_indices('_').any(|(at, _)| {
        at.checked_sub(UNDERSCORE_AT)
            .and_then(|start| text.as_bytes().get(start..start + NAME.len()))
            .is_some_and(|window| window.eq_ignore_ascii_case(NAME))
    })
}

/// Commands that name the file without changing the keys in it.
const HARMLESS: &[&str] = &[
    "chmod",
    "chown",
    "chgrp",
    "touch",
    "ssh-keygen",
    "restorecon",
];

/// Adds `LGK001` for the command read as `view` when it writes a login-keys file.
pub(crate) fn classify(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let args_from = view.first + 1;
    // Cheap first: most commands never mention the file.
    let mentions = |w: &Word| {
        // Non-ASCII words are checked in full: Unicode case folding can spell the name (`K`, the Kelvin
        // sign, folds to `k`).
        let names = |t: &str| !t.is_ascii() || spells_name(t);
        names(&w.raw) || (w.text != w.raw && names(&w.text))
    };
    if !argv.iter().skip(args_from).any(mentions) {
        return;
    }
    let cmd = view.cmd.as_str();
    let words = argv.get(args_from..).unwrap_or_default();
    if HARMLESS.contains(&cmd) || DELETERS.contains(&cmd) || only_reads(cmd, words) {
        return;
    }
    let candidates: Vec<usize> = if COPIERS.contains(&cmd) {
        destinations(argv, args_from)
    } else {
        (args_from..argv.len()).collect()
    };
    for idx in candidates {
        let Some(word) = argv.get(idx).filter(|w| mentions(w)) else {
            continue;
        };
        let text = path_text(word);
        // `--file=PATH`, `of=PATH`: the path is after the `=`.
        let value = text
            .split_once('=')
            .filter(|(key, _)| !key.contains('/'))
            .map(|(_, value)| value);
        let is_keys = [Some(text.as_str()), value]
            .into_iter()
            .flatten()
            .any(|p| classify_path(p) == PathClass::Sensitive(rules::LOGIN_KEYS));
        if is_keys {
            out.push(cx.action(
                rules::LOGIN_KEYS,
                RequestKind::Shell,
                text,
                args::span_to(argv, idx),
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(text: &[u8]) -> bool {
        text.windows(NAME.len())
            .any(|at| at.eq_ignore_ascii_case(NAME))
    }

    proptest::proptest! {
        /// Comparing only around each `_` finds the name exactly where a scan of every place does.
        #[test]
        fn the_name_is_found_where_a_full_scan_finds_it(
            text in "[a-zA-Z_ /.~]{0,12}(AUTHORIZED_KEYS|authorized_keys|Authorized_Keys2|authorized-keys|_keys)?[a-z_/]{0,12}"
        ) {
            proptest::prop_assert_eq!(spells_name(&text), naive(text.as_bytes()));
        }
    }
}
