//! Planning a snapshot: which paths an `ask` decision with `@mitigation("snapshot")` would destroy, worked
//! out from the engine's [`Decision`] (each action's catalogue rule, effect and target) and the working
//! directory — never by parsing the command again. Git operations ask git itself what they would change (one
//! `git diff --name-only` or `git clean --dry-run`). Anything that cannot be planned exactly — an unknown rule,
//! a glob or variable, a `cd` before the delete, a quoted git argument, a policy rule without the snapshot
//! mitigation — is a [`PlanError`], and the caller asks a person instead.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use airlock_engine::{Action, Decision, Effect, Engine, Envelope, Mitigation, Request, Verdict};

use super::git::{parse_git, plan_git};

/// How the current version of a path is kept.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// A hard link to the same inode (copy when linking fails, e.g. across file systems). Only for paths the
    /// operation removes: an unlink leaves our link intact, but an overwrite in place would change it too.
    Link,
    /// A copy (`copy_file_range`, which shares extents on file systems that can). For paths the operation
    /// may rewrite in place (`git checkout`, `truncate`, `shred`, a file write) or may leave partly alone.
    Copy,
}

/// One path to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPath {
    /// Absolute path: a file, a symlink or a whole directory tree.
    pub path: PathBuf,
    /// How its files are kept.
    pub capture: Capture,
    /// Record that the path did not exist, so that undo removes what the operation creates there (for
    /// overwrites such as a file write or a checkout that brings a deleted file back).
    pub keep_absence: bool,
    /// The catalogue rule that made it part of the plan.
    pub rule: String,
}

/// What a snapshot must keep so that an operation can be undone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotPlan {
    /// The working directory the operation runs in.
    pub cwd: PathBuf,
    /// Paths to keep, sorted, none inside another. Empty when the operation would lose nothing (a
    /// `git reset --hard` on a clean tree).
    pub paths: Vec<PlannedPath>,
    /// The catalogue rules covered, sorted.
    pub rules: Vec<String>,
}

/// Why no snapshot can be planned; the caller asks a person instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The decision is not an `ask` with the snapshot mitigation.
    #[error("nothing to snapshot: the decision is `{verdict}` with mitigation `{mitigation}`")]
    NotApplicable {
        /// The verdict.
        verdict: &'static str,
        /// The mitigation.
        mitigation: &'static str,
    },
    /// A reason for the decision comes from a policy rule that does not allow a snapshot to stand in for a
    /// person (for example a `catalogue-ask` next to a recoverable delete).
    #[error("`{rule}` is held by policy rule `{policy}`, which has no snapshot mitigation")]
    NotRecoverable {
        /// The catalogue rule.
        rule: String,
        /// The policy rule.
        policy: String,
    },
    /// An action's effect on files cannot be worked out exactly.
    #[error("cannot plan a snapshot for `{target}` ({rule}): {reason}")]
    Unplannable {
        /// The catalogue rule.
        rule: String,
        /// The action's target.
        target: String,
        /// Why.
        reason: String,
    },
}

/// Plans the snapshot for `decision` on `envelope`, run in `cwd`, with `~` meaning `$HOME`. See
/// [`plan_snapshot_in`].
pub fn plan_snapshot(
    engine: &Engine,
    envelope: &Envelope,
    decision: &Decision,
    cwd: &Path,
) -> Result<SnapshotPlan, PlanError> {
    let user_home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    plan_snapshot_in(engine, envelope, decision, cwd, user_home.as_deref())
}

/// Plans the snapshot for `decision` on `envelope`, run in `cwd`, with `~` meaning `user_home`.
///
/// The decision must be `ask` with the snapshot mitigation, and every reason must come from a policy rule of
/// `engine` that has `@mitigation("snapshot")`: a decision's mitigation is the strongest over its reasons, so
/// `rm -r build && eval "$X"` carries `snapshot` although the `eval` needs a person. Every action behind a
/// reason must then be one whose files are known (see the module documentation); the command text is only
/// checked for things that would make the targets mean something else (`cd`, `pushd`, `env -C`, `GIT_DIR`).
pub fn plan_snapshot_in(
    engine: &Engine,
    envelope: &Envelope,
    decision: &Decision,
    cwd: &Path,
    user_home: Option<&Path>,
) -> Result<SnapshotPlan, PlanError> {
    if decision.verdict != Verdict::Ask || decision.mitigation != Mitigation::Snapshot {
        return Err(PlanError::NotApplicable {
            verdict: decision.verdict.as_str(),
            mitigation: decision.mitigation.as_str(),
        });
    }
    let policy_rules = engine.policy().rules();
    let mut rules = BTreeSet::new();
    for reason in &decision.reasons {
        let recoverable = policy_rules.iter().any(|r| {
            r.id == reason.policy
                && r.verdict == Verdict::Ask
                && r.mitigation == Mitigation::Snapshot
        });
        if !recoverable {
            return Err(PlanError::NotRecoverable {
                rule: reason.rule.clone(),
                policy: reason.policy.clone(),
            });
        }
        rules.insert(reason.rule.clone());
    }
    let unplannable = |action: &Action, reason: String| PlanError::Unplannable {
        rule: action.evidence.rule.clone(),
        target: action.target.clone(),
        reason,
    };
    let command = match &envelope.request {
        Request::Shell(shell) => Some(shell.command.as_str()),
        _ => None,
    };
    if !cwd.is_absolute() {
        return Err(PlanError::Unplannable {
            rule: rules.iter().next().cloned().unwrap_or_default(),
            target: cwd.display().to_string(),
            reason: "the working directory is not an absolute path".to_string(),
        });
    }
    let mut planned = Vec::new();
    let mut git_dir_options = 0usize;
    let mut covered = BTreeSet::new();
    for action in decision
        .actions
        .iter()
        .filter(|a| rules.contains(&a.evidence.rule))
    {
        covered.insert(action.evidence.rule.clone());
        let found = plan_action(action, command, cwd, user_home, &mut git_dir_options)
            .map_err(|reason| unplannable(action, reason))?;
        planned.extend(found);
    }
    if let Some(missing) = rules.iter().find(|r| !covered.contains(*r)) {
        return Err(PlanError::Unplannable {
            rule: missing.clone(),
            target: String::new(),
            reason: "no action of the decision carries this rule".to_string(),
        });
    }
    if let Some(command) = command
        && let Some(why) = changes_directory(command, git_dir_options)
    {
        return Err(PlanError::Unplannable {
            rule: rules.iter().next().cloned().unwrap_or_default(),
            target: command.to_string(),
            reason: why,
        });
    }
    for item in &planned {
        if let Some(why) = forbidden_root(&item.path, user_home) {
            return Err(PlanError::Unplannable {
                rule: item.rule.clone(),
                target: item.path.display().to_string(),
                reason: format!("airlock never snapshots {why}"),
            });
        }
    }
    Ok(SnapshotPlan {
        cwd: cwd.to_path_buf(),
        paths: merge(planned),
        rules: rules.into_iter().collect(),
    })
}

/// Plans one action; the error is the reason it cannot be planned.
fn plan_action(
    action: &Action,
    command: Option<&str>,
    cwd: &Path,
    user_home: Option<&Path>,
    git_dir_options: &mut usize,
) -> Result<Vec<PlannedPath>, String> {
    let rule = action.evidence.rule.as_str();
    let one = |capture: Capture, keep_absence: bool| -> Result<Vec<PlannedPath>, String> {
        Ok(vec![PlannedPath {
            path: resolve_target(&action.target, cwd, user_home)?,
            capture,
            keep_absence,
            rule: rule.to_string(),
        }])
    };
    match rule {
        // rm -r, rd /s, Remove-Item -Recurse; a repository's .git; a data directory; a whole checkout: removed.
        "SHF004" | "PTH004" | "PTH005" | "PTH008" => one(Capture::Link, false),
        // mv FILE /dev/null: removed.
        "SHF016" => one(Capture::Link, false),
        // find DIR … -delete removes some files under DIR: keep the tree, as copies (the rest stays in use).
        "SHF007" => one(Capture::Copy, false),
        // shred, truncate -s 0, cp /dev/null: overwritten in place.
        "SHF014" | "SHF015" => one(Capture::Copy, false),
        // Sensitive places (credentials, startup files, git hooks, databases, infrastructure state) and file
        // writes with a private key: deleted or written.
        "PTH010" | "PTH012" | "PTH013" | "PTH016" | "PTH017" | "FIL002" => match action.effect {
            Effect::Delete => one(Capture::Link, false),
            Effect::Write => one(Capture::Copy, true),
            other => Err(format!(
                "an action with effect `{}` on a path is not a delete or an overwrite",
                other.as_str()
            )),
        },
        "GIT001" | "GIT002" | "GIT003" | "GIT004" | "GIT023" => {
            let call = parse_git(rule, &action.target, command, cwd)?;
            if call.changed_dir {
                *git_dir_options = git_dir_options.saturating_add(1);
            }
            plan_git(rule, &call)
        }
        _ => Err(format!(
            "airlock does not know which files `{}` changes",
            action.evidence.name
        )),
    }
}

/// Sorted, with paths inside another planned path folded into it (copy wins over link; absence is kept if
/// either asks).
fn merge(mut planned: Vec<PlannedPath>) -> Vec<PlannedPath> {
    planned.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out: Vec<PlannedPath> = Vec::with_capacity(planned.len());
    for item in planned {
        if let Some(last) = out.last_mut()
            && item.path.starts_with(&last.path)
        {
            last.capture = last.capture.max(item.capture);
            last.keep_absence |= item.keep_absence;
            continue;
        }
        out.push(item);
    }
    out
}

/// Characters that make a target a pattern, a variable or a Windows path rather than one literal path.
pub(crate) fn has_pattern(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c, '*' | '?' | '[' | ']' | '$' | '`' | '\\' | '{' | '}') || c.is_control()
    })
}

/// The absolute path a delete or write target names, resolved the way the kernel will: the parent directory
/// physically (symlinks and `..`), the last component as it is (a symlink is removed, not followed).
pub(crate) fn resolve_target(
    target: &str,
    cwd: &Path,
    user_home: Option<&Path>,
) -> Result<PathBuf, String> {
    if target.is_empty() {
        return Err("the target is empty".to_string());
    }
    if has_pattern(target) {
        return Err(
            "the target is a pattern, a variable or a Windows path, not one literal path"
                .to_string(),
        );
    }
    let expanded = if target == "~" || target.starts_with("~/") {
        let Some(home) = user_home else {
            return Err("`~` is used but HOME is not set".to_string());
        };
        home.join(target.trim_start_matches('~').trim_start_matches('/'))
    } else if target.starts_with('~') {
        return Err("`~user` paths are not supported".to_string());
    } else {
        cwd.join(target)
    };
    let trailing_slash = target.len() > 1 && target.ends_with('/');
    // `Path::components` drops a trailing `.` after the first component, so look at the target as written.
    if target != "~"
        && !matches!(
            Path::new(target).components().next_back(),
            Some(Component::Normal(_))
        )
    {
        return Err("the target names a current, parent or root directory".to_string());
    }
    let mut components = expanded.components();
    let Some(Component::Normal(name)) = components.next_back() else {
        return Err("the target names a current, parent or root directory".to_string());
    };
    let name = name.to_os_string();
    let parent = components.as_path();
    let resolved = match std::fs::canonicalize(parent) {
        Ok(parent) => parent.join(name),
        // No parent directory: nothing exists there to lose. Keep the path as written (made lexical).
        Err(_) => lexical(&parent.join(name)),
    };
    if trailing_slash
        && std::fs::symlink_metadata(&resolved).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(
            "the target is a symlink named with a trailing slash, which removes what it points to"
                .to_string(),
        );
    }
    Ok(resolved)
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Why `path` must never be snapshot or restored over, if it is one of those places: the root, a top-level
/// directory, a system directory, a home directory or one of its parents.
pub(crate) fn forbidden_root(path: &Path, user_home: Option<&Path>) -> Option<&'static str> {
    if !path.is_absolute() {
        return Some("a relative path");
    }
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_str().unwrap_or("\u{fffd}")),
            _ => None,
        })
        .collect();
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Some("a path with `.` or `..` in it");
    }
    let Some(first) = parts.first().copied() else {
        return Some("the file system root");
    };
    if parts.len() == 1 {
        return Some("a top-level directory");
    }
    if let Some(home) = user_home
        && home.starts_with(path)
    {
        return Some("a home directory or a directory that contains one");
    }
    const SYSTEM: [&str; 17] = [
        "bin",
        "boot",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "proc",
        "run",
        "sbin",
        "sys",
        "usr",
        "System",
        "Library",
        "Applications",
        "cores",
    ];
    let second = parts.get(1).copied().unwrap_or_default();
    let system = SYSTEM.contains(&first)
        || (first == "var" && !matches!(second, "tmp" | "folders"))
        || (first == "private"
            && !(second == "tmp"
                || (second == "var"
                    && matches!(parts.get(2).copied().unwrap_or_default(), "tmp" | "folders"))));
    if system {
        return Some("a system directory");
    }
    if parts.len() == 2 && matches!(first, "home" | "Users") {
        return Some("a home directory");
    }
    None
}

/// Whether the command moves to another directory (or points git elsewhere) before its targets are used, so
/// a target such as `tree` in `cd sub && rm -r tree` would not mean `CWD/tree`. Quotes and backslashes are
/// dropped first, so `"c"d` still reads as `cd`. `-C` is allowed as many times as planned git actions used it.
fn changes_directory(command: &str, git_dir_options: usize) -> Option<String> {
    let plain: String = command
        .chars()
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect();
    let mut dash_c = 0usize;
    for token in plain.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ';' | '&' | '|' | '(' | ')' | '<' | '>' | '{' | '}' | '`' | '$' | '=' | '!'
            )
    }) {
        let moves = matches!(token, "cd" | "pushd" | "popd" | "chdir")
            || token.starts_with("--chdir")
            || token.starts_with("--directory")
            || token.starts_with("--git-dir")
            || token.starts_with("--work-tree")
            || matches!(
                token,
                "GIT_DIR" | "GIT_WORK_TREE" | "GIT_INDEX_FILE" | "HOME" | "OLDPWD" | "PWD"
            );
        if moves {
            return Some(format!(
                "the command changes directory or git's repository (`{token}`), so its paths cannot be resolved from the working directory"
            ));
        }
        if token == "-C" {
            dash_c = dash_c.saturating_add(1);
        }
    }
    (dash_c > git_dir_options).then(|| {
        "the command runs something in another directory (`-C`), so its paths cannot be resolved from the working directory"
            .to_string()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_places() {
        let home = Path::new("/home/dev");
        for (path, forbidden) in [
            ("/", true),
            ("/data", true),
            ("/home/dev", true),
            ("/home", true),
            ("/home/other", true),
            ("/etc/nginx", true),
            ("/usr/local/lib", true),
            ("/var/lib/docker", true),
            ("/var/tmp/build", false),
            ("/private/tmp/x", false),
            ("/private/etc/hosts", true),
            ("/home/dev/projects/app/build", false),
            ("/tmp/x", false),
            ("/tmp/x/../y", true),
            ("relative/x", true),
        ] {
            assert_eq!(
                forbidden_root(Path::new(path), Some(home)).is_some(),
                forbidden,
                "{path}"
            );
        }
    }

    #[test]
    fn targets_resolve_like_the_kernel() {
        let cwd = std::env::temp_dir();
        let canonical = std::fs::canonicalize(&cwd).unwrap();
        assert_eq!(
            resolve_target("x/../y", &cwd, None).unwrap(),
            lexical(&cwd.join("x/../y"))
        );
        assert_eq!(
            resolve_target("./y/", &cwd, None).unwrap(),
            canonical.join("y")
        );
        assert_eq!(
            resolve_target("~/build", &cwd, Some(Path::new("/home/dev"))).unwrap(),
            PathBuf::from("/home/dev/build")
        );
        for bad in ["", "src/*", "$OUT/x", "~bob/x", ".", "..", "a\\b", "{}"] {
            assert!(resolve_target(bad, &cwd, None).is_err(), "{bad:?}");
        }
        assert!(resolve_target("~", &cwd, None).is_err());
    }

    #[test]
    fn directory_changes_are_seen() {
        for (command, git_c, moves) in [
            ("rm -rf tree", 0, false),
            ("cd sub && rm -rf tree", 0, true),
            ("(cd sub; rm -rf tree)", 0, true),
            ("\"c\"d sub && rm -rf tree", 0, true),
            ("pushd sub && rm -rf tree", 0, true),
            ("env -C sub rm -rf tree", 0, true),
            ("git -C sub reset --hard", 1, false),
            ("env --chdir=sub rm -r tree", 0, true),
            ("GIT_DIR=/x git reset --hard", 0, true),
            ("rm -rf build-cd", 0, false),
        ] {
            assert_eq!(
                changes_directory(command, git_c).is_some(),
                moves,
                "{command}"
            );
        }
    }

    #[test]
    fn nested_paths_fold_into_their_parent() {
        let p = |path: &str, capture, keep_absence| PlannedPath {
            path: path.into(),
            capture,
            keep_absence,
            rule: "R".into(),
        };
        let merged = merge(vec![
            p("/p/a/b", Capture::Copy, true),
            p("/p/a", Capture::Link, false),
            p("/p/ab", Capture::Link, false),
        ]);
        assert_eq!(
            merged,
            vec![
                p("/p/a", Capture::Copy, true),
                p("/p/ab", Capture::Link, false)
            ]
        );
    }
}
