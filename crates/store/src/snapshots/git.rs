//! Asking git what a destructive git command would change: the invocation is read from the action's target
//! (the engine's words of the command, joined by spaces), then `git diff --name-only -z` (reset, checkout,
//! restore) or `git clean --dry-run` with the same flags lists the paths. One git process per action.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::plan::{Capture, PlannedPath, has_pattern, resolve_target};

/// A git invocation read from an action's target (`git -C sub reset --hard`).
#[derive(Debug)]
pub(crate) struct GitCall {
    /// The directory git runs in (`cwd`, or `cwd/<-C dir>`).
    dir: PathBuf,
    /// Whether `-C` was used.
    pub(crate) changed_dir: bool,
    /// The subcommand.
    sub: String,
    /// Its arguments.
    args: Vec<String>,
}

/// Reads the git invocation in `target`. The engine joins the words of the command with spaces, so quoting
/// is lost; the target must therefore appear verbatim in the command (no quoted or escaped words).
pub(crate) fn parse_git(
    rule: &str,
    target: &str,
    command: Option<&str>,
    cwd: &Path,
) -> Result<GitCall, String> {
    let Some(command) = command else {
        return Err("a git rule on a request that is not a shell command".to_string());
    };
    if !command.contains(target) {
        return Err(
            "the git command has quoted or escaped words, which airlock cannot pass on exactly"
                .to_string(),
        );
    }
    let mut words = target.split_whitespace().map(str::to_string);
    if words.next().as_deref() != Some("git") {
        return Err("the target is not a git command".to_string());
    }
    let mut dir = cwd.to_path_buf();
    let mut changed_dir = false;
    let sub = loop {
        let Some(word) = words.next() else {
            return Err("the git command has no subcommand".to_string());
        };
        match word.as_str() {
            "-C" => {
                let Some(path) = words.next() else {
                    return Err("`-C` without a directory".to_string());
                };
                if has_pattern(&path) || path.starts_with('~') {
                    return Err("the `-C` directory is not a literal path".to_string());
                }
                dir = dir.join(path);
                changed_dir = true;
            }
            "--no-pager" | "-P" | "--no-optional-locks" => {}
            other if other.starts_with('-') => {
                return Err(format!("the git option `{other}` is not supported"));
            }
            _ => break word,
        }
    };
    let expected: &[&str] = match rule {
        "GIT001" => &["reset"],
        "GIT002" => &["clean"],
        "GIT003" => &["checkout", "restore"],
        "GIT004" => &["restore"],
        _ => &["rm"],
    };
    if !expected.contains(&sub.as_str()) {
        return Err(format!(
            "expected `git {}`, found `git {sub}`",
            expected.join("` or `git ")
        ));
    }
    let args: Vec<String> = words.collect();
    if let Some(bad) = args
        .iter()
        .find(|a| has_pattern(a) || a.starts_with('~') || (a.starts_with(':') && a.len() > 2))
    {
        return Err(format!(
            "the argument `{bad}` is a pattern, a variable or pathspec magic"
        ));
    }
    Ok(GitCall {
        dir,
        changed_dir,
        sub,
        args,
    })
}

/// Asks git which paths the call would change.
pub(crate) fn plan_git(rule: &str, call: &GitCall) -> Result<Vec<PlannedPath>, String> {
    for var in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"] {
        if std::env::var_os(var).is_some() {
            return Err(format!(
                "`{var}` is set, so git may work on another repository"
            ));
        }
    }
    let item = |path: PathBuf, capture: Capture, keep_absence: bool| PlannedPath {
        path,
        capture,
        keep_absence,
        rule: rule.to_string(),
    };
    match call.sub.as_str() {
        "reset" => {
            let mut rev: Option<&str> = None;
            for arg in &call.args {
                match arg.as_str() {
                    "--hard" | "-q" | "--quiet" | "--no-recurse-submodules" => {}
                    a if a.starts_with('-') => {
                        return Err(format!("`git reset {a}` is not supported"));
                    }
                    a if rev.is_none() => rev = Some(a),
                    _ => return Err("`git reset --hard` with paths is not supported".to_string()),
                }
            }
            let root = repo_root(&call.dir)?;
            let listed = git_changed(&call.dir, Some(rev.unwrap_or("HEAD")), None)?;
            Ok(listed
                .into_iter()
                .map(|p| item(root.join(p), Capture::Copy, true))
                .collect())
        }
        "checkout" | "restore" => {
            let (rev, paths) = checkout_args(&call.sub, &call.args)?;
            let root = repo_root(&call.dir)?;
            let listed = git_changed(&call.dir, rev.as_deref(), Some(&paths))?;
            Ok(listed
                .into_iter()
                .map(|p| item(root.join(p), Capture::Copy, true))
                .collect())
        }
        "clean" => {
            let removed = git_clean_dry_run(&call.dir, &call.args)?;
            removed
                .into_iter()
                .map(|p| {
                    resolve_target(&p, &call.dir, None).map(|path| item(path, Capture::Link, false))
                })
                .collect()
        }
        _ => {
            // git rm -r -f PATHS: tracked files under PATHS go, untracked ones stay; keep each tree as copies.
            let mut paths = Vec::new();
            let mut after_dashes = false;
            for arg in &call.args {
                if after_dashes || !arg.starts_with('-') {
                    paths.push(arg.as_str());
                } else if arg == "--" {
                    after_dashes = true;
                } else if !(arg == "--force"
                    || arg == "--quiet"
                    || arg.len() > 1 && arg.chars().skip(1).all(|c| matches!(c, 'r' | 'f' | 'q')))
                {
                    return Err(format!("`git rm {arg}` is not supported"));
                }
            }
            if paths.is_empty() {
                return Err("`git rm` without paths".to_string());
            }
            paths
                .into_iter()
                .map(|p| {
                    resolve_target(p, &call.dir, None).map(|path| item(path, Capture::Copy, false))
                })
                .collect()
        }
    }
}

/// The source revision and the pathspecs of `git checkout [REV] -- PATHS`, `git checkout .` or
/// `git restore [--source=REV] PATHS`.
fn checkout_args(sub: &str, args: &[String]) -> Result<(Option<String>, Vec<String>), String> {
    let mut rev = None;
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut dashes = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let a = arg.as_str();
        if dashes {
            after.push(arg.clone());
            continue;
        }
        match (sub, a) {
            (_, "--") => dashes = true,
            (_, "-q" | "--quiet") => {}
            ("checkout", "-f" | "--force") => {}
            ("restore", "-W" | "--worktree") => {}
            ("restore", "-s" | "--source") => {
                rev = Some(
                    iter.next()
                        .ok_or("`--source` without a revision")?
                        .to_string(),
                );
            }
            ("restore", s) if s.starts_with("--source=") => {
                rev = Some(s.trim_start_matches("--source=").to_string());
            }
            (_, s) if s.starts_with('-') => {
                return Err(format!("`git {sub} {s}` is not supported"));
            }
            _ => before.push(arg.clone()),
        }
    }
    let paths = if sub == "restore" {
        before.extend(after);
        before
    } else if dashes {
        if before.len() > 1 {
            return Err("`git checkout` with more than one revision".to_string());
        }
        rev = before.pop();
        after
    } else if before.len() == 1
        && before
            .first()
            .is_some_and(|p| matches!(p.as_str(), "." | "./" | ":/"))
    {
        before
    } else {
        return Err(
            "`git checkout` without `--` is ambiguous between revisions and paths".to_string(),
        );
    };
    if paths.is_empty() {
        return Err(format!("`git {sub}` without paths"));
    }
    Ok((rev, paths))
}

/// The working-tree root: the nearest directory at or above `dir` with a `.git` entry.
fn repo_root(dir: &Path) -> Result<PathBuf, String> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    dir.ancestors()
        .find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("`{}` is not inside a git repository", dir.display()))
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("LC_ALL", "C")
        .env_remove("LANGUAGE")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .args(["--no-pager", "-c", "core.quotePath=false"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run git for {what}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git could not list what {what} changes: {}",
            stderr.lines().next().unwrap_or("no message").trim()
        ));
    }
    Ok(out.stdout)
}

/// Paths (relative to the repository root) whose working-tree version differs from `rev` (or, without one,
/// from the index), limited to `paths` when given: `git diff --name-only -z --no-renames`.
fn git_changed(
    dir: &Path,
    rev: Option<&str>,
    paths: Option<&[String]>,
) -> Result<Vec<String>, String> {
    let mut cmd = git(dir);
    cmd.args([
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        "--no-ext-diff",
        "--ignore-submodules=all",
    ]);
    if let Some(rev) = rev {
        cmd.arg(rev);
    }
    cmd.arg("--");
    if let Some(paths) = paths {
        cmd.args(paths);
    }
    let out = run(cmd, "the checkout")?;
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            String::from_utf8(p.to_vec())
                .map_err(|_| "git listed a path that is not UTF-8".to_string())
        })
        .collect()
}

/// What `git clean ARGS` would remove (relative to `dir`): the same flags with `--dry-run` (and without
/// `-q`, which would silence the list).
fn git_clean_dry_run(dir: &Path, args: &[String]) -> Result<Vec<String>, String> {
    let mut pass = vec!["clean".to_string(), "--dry-run".to_string()];
    let mut dashes = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let a = arg.as_str();
        if dashes || !a.starts_with('-') {
            pass.push(arg.clone());
            continue;
        }
        match a {
            "--" => {
                dashes = true;
                pass.push(arg.clone());
            }
            "-q" | "--quiet" => {}
            "--force" => pass.push(arg.clone()),
            "-e" | "--exclude" => {
                pass.push(arg.clone());
                pass.push(iter.next().ok_or("`-e` without a pattern")?.clone());
            }
            s if s.starts_with("--exclude=") => pass.push(arg.clone()),
            s if !s.starts_with("--") && s.len() > 1 => {
                let flags: String = s.chars().skip(1).filter(|c| *c != 'q').collect();
                if let Some(bad) = flags.chars().find(|c| !matches!(c, 'f' | 'd' | 'x' | 'X')) {
                    return Err(format!("`git clean -{bad}` is not supported"));
                }
                if !flags.is_empty() {
                    pass.push(format!("-{flags}"));
                }
            }
            other => return Err(format!("`git clean {other}` is not supported")),
        }
    }
    let mut cmd = git(dir);
    cmd.args(&pass);
    let out = run(cmd, "`git clean`")?;
    let text = String::from_utf8(out).map_err(|_| "git listed a path that is not UTF-8")?;
    let mut paths = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("Would skip repository ") {
            continue;
        }
        let Some(path) = line.strip_prefix("Would remove ") else {
            return Err(format!(
                "unexpected output from `git clean --dry-run`: `{line}`"
            ));
        };
        if path.starts_with('"') {
            return Err(format!(
                "git quoted the path {path}; airlock does not unquote it"
            ));
        }
        paths.push(path.trim_end_matches('/').to_string());
    }
    Ok(paths)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn checkout_and_restore_arguments() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            checkout_args("checkout", &s(&["--", "."])).unwrap(),
            (None, s(&["."]))
        );
        assert_eq!(
            checkout_args("checkout", &s(&["HEAD~1", "--", "src", "a.txt"])).unwrap(),
            (Some("HEAD~1".into()), s(&["src", "a.txt"]))
        );
        assert_eq!(
            checkout_args("checkout", &s(&["."])).unwrap(),
            (None, s(&["."]))
        );
        assert!(checkout_args("checkout", &s(&["main", "src"])).is_err());
        assert!(checkout_args("checkout", &s(&["-p", "--", "."])).is_err());
        assert_eq!(
            checkout_args("restore", &s(&["--source=HEAD", "-W", "src/app.ts"])).unwrap(),
            (Some("HEAD".into()), s(&["src/app.ts"]))
        );
        assert!(checkout_args("restore", &s(&["-W"])).is_err());
    }
}
