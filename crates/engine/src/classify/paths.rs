//! Path judgement: what kind of place a path is, shared by the file classifier and by shell commands that
//! delete or overwrite paths (`rm`, `shred`, `truncate`, redirections, `rd /s`).
//!
//! [`classify_path`] works on the text of the path only (no file system access): it understands `~`, `~/`,
//! `$HOME`, `${HOME}`, `$env:USERPROFILE`, `%USERPROFILE%`, `/root`, `/home/<user>`, `/Users/<user>`,
//! `C:\Users\<user>`, drive roots, relative paths, `./`, `..`, trailing slashes and `*` globs. Names are
//! compared case-insensitively (Windows paths are). The checks run in this order, first match wins:
//! broad places (root, homes, system and data directories, collections of checkouts, `.git`, everything in
//! the working directory), temporary directories (disposable), sensitive files (credentials, system
//! configuration, shell startup files, git hooks, agents' and airlock's own settings, database files,
//! infrastructure state), build output and caches (disposable), and everything else (ordinary).
//!
//! The rule ids returned live in `catalog/paths.toml` (family `paths`, prefix `PTH`), except airlock's own
//! files and the agents' hook settings, which are self-protection rules of `catalog/airlock-self.toml`
//! (`ALS012`, `ALS013`).

/// What kind of place a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathClass {
    /// Build output, caches and temporary files: safe to delete (`target/`, `node_modules`, `/tmp/x`).
    Disposable,
    /// An ordinary project file.
    Ordinary,
    /// Credentials, system configuration, shell rc files, git hooks, agents' and airlock's own settings,
    /// database files, infrastructure state: writing or deleting it needs a person. The catalogue rule id
    /// that explains why.
    Sensitive(&'static str),
    /// A place whose deletion destroys a lot: `/`, `~`, a home or data directory, a whole checkout, `.git`,
    /// `*`. The catalogue rule id that explains why.
    Broad(&'static str),
}

impl PathClass {
    /// The catalogue rule id of a sensitive or broad path, `None` for disposable and ordinary ones.
    pub fn rule(self) -> Option<&'static str> {
        match self {
            PathClass::Sensitive(rule) | PathClass::Broad(rule) => Some(rule),
            PathClass::Disposable | PathClass::Ordinary => None,
        }
    }
}

/// Rule ids of `catalog/paths.toml`, for callers that want to name one.
pub mod rules {
    /// The file system root, a drive root or a whole disk device.
    pub const ROOT: &str = "PTH001";
    /// A home directory (or all of them).
    pub const HOME: &str = "PTH002";
    /// A system directory (`/etc`, `/usr`, `C:\Windows`, …).
    pub const SYSTEM: &str = "PTH003";
    /// A data or top-level directory (`/var/lib/x`, `/srv/x`, `/data`, `/mnt/x`).
    pub const DATA_DIR: &str = "PTH004";
    /// Version-control history (`.git`, `.git/objects`, …).
    pub const VCS: &str = "PTH005";
    /// Everything in the working directory (`.`, `*`, `./*`, `..`).
    pub const CWD: &str = "PTH006";
    /// A collection of checkouts or personal files (`~/projects`, `~/Documents`, `C:\Projects`).
    pub const COLLECTION: &str = "PTH007";
    /// One whole checkout inside such a collection (`~/projects/acme-api`).
    pub const CHECKOUT: &str = "PTH008";
    /// A path made of an unknown variable alone (`$DIR`, `$DIR/*`) that may expand to `/`.
    pub const UNKNOWN_VAR: &str = "PTH009";
    /// Credentials and keys.
    pub const CREDENTIALS: &str = "PTH010";
    /// System configuration and files, crontabs.
    pub const SYSTEM_CONFIG: &str = "PTH011";
    /// Shell and session startup files.
    pub const STARTUP: &str = "PTH012";
    /// Git hooks and repository configuration.
    pub const GIT_HOOKS: &str = "PTH013";
    /// Coding agents' settings and hook files.
    pub const AGENT_SETTINGS: &str = "PTH014";
    /// airlock's own configuration, policy, database, snapshots and program (self-protection family
    /// `airlock-self`).
    pub const AIRLOCK: &str = "ALS012";
    /// Database files and backups.
    pub const DATABASE: &str = "PTH016";
    /// Infrastructure state (Terraform, Pulumi).
    pub const INFRA_STATE: &str = "PTH017";
    /// The agents' hook settings files, where airlock's hook is wired in (self-protection family
    /// `airlock-self`).
    pub const AGENT_HOOKS: &str = "ALS013";
    /// The SSH keys allowed to log in (`~/.ssh/authorized_keys`, `authorized_keys2`, root's, the
    /// system-wide `/etc/ssh/authorized_keys/…`): family `login-keys`.
    pub const LOGIN_KEYS: &str = "LGK001";
}

use rules::*;

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    /// `/` (or a UNC share).
    Root,
    /// A drive root such as `C:\`.
    Drive,
    /// A home directory.
    Home,
    /// A temporary directory (`$TMPDIR`, `%TEMP%`).
    Temp,
    /// The working directory.
    Relative,
    /// A variable whose value is unknown (lowercased name).
    Var(String),
}

/// A path reduced to its anchor and its lowercased components (no empty, `.` or resolved `..`
/// components; leading `..` kept for relative paths), plus whether it ended in a `*`-only glob.
#[derive(Debug)]
struct Norm {
    anchor: Anchor,
    comps: Vec<String>,
    glob: bool,
}

/// Judges a path as written by the agent (may start with `~`, `$HOME`, be relative, or be a Windows path).
pub fn classify_path(path: &str) -> PathClass {
    let norm = normalize(path);
    let comps: Vec<&str> = norm.comps.iter().map(String::as_str).collect();
    if norm.comps.is_empty()
        && matches!(norm.anchor, Anchor::Relative)
        && !norm.glob
        && is_blank(path)
    {
        return PathClass::Ordinary;
    }
    // Before the home's dot-files (`~/.ssh/…` is credentials): sshd's list of keys allowed to log in.
    if !norm.glob && is_login_keys(&comps) {
        return PathClass::Sensitive(LOGIN_KEYS);
    }
    if let Some(class) = broad(&norm.anchor, &comps, norm.glob) {
        return class;
    }
    if let Some(class) = vcs(&comps) {
        return class;
    }
    if is_airlock_program(&comps) {
        return PathClass::Sensitive(AIRLOCK);
    }
    if matches!(norm.anchor, Anchor::Root | Anchor::Drive)
        && let Some(class) = root_deep(&comps)
    {
        return class;
    }
    if let Some(class) = sensitive_by_name(&comps) {
        return class;
    }
    if disposable_by_name(&comps) {
        return PathClass::Disposable;
    }
    PathClass::Ordinary
}

fn is_blank(path: &str) -> bool {
    path.trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .is_empty()
}

/// Splits off the anchor and normalises the components.
fn normalize(path: &str) -> Norm {
    let mut text = path.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            text = inner;
        }
    }
    let lower = text.replace('\\', "/").to_lowercase();
    let (mut anchor, rest) = split_anchor(&lower);
    let mut comps: Vec<String> = Vec::new();
    for comp in rest.split('/') {
        match comp {
            "" | "." => {}
            ".." => match comps.last().map(String::as_str) {
                Some(last) if last != ".." => {
                    comps.pop();
                }
                _ => match anchor {
                    Anchor::Relative | Anchor::Var(_) => comps.push("..".to_string()),
                    // `~/..` is the directory of all homes.
                    Anchor::Home => {
                        anchor = Anchor::Root;
                        comps.push("home".to_string());
                    }
                    _ => {}
                },
            },
            other => comps.push(other.to_string()),
        }
    }
    let mut glob = false;
    while comps.last().is_some_and(|c| is_glob_all(c)) {
        comps.pop();
        glob = true;
    }
    // Absolute home directories become the home anchor.
    if matches!(anchor, Anchor::Root | Anchor::Drive) {
        let user_at = match comps.first().map(String::as_str) {
            Some("root") if anchor == Anchor::Root => Some(0),
            Some("home") | Some("users") => Some(1),
            _ => None,
        };
        if let Some(at) = user_at {
            let user_ok = at == 0 || comps.get(at).is_some_and(|u| !u.contains(['*', '?', '[']));
            if user_ok && comps.len() > at {
                comps.drain(..=at);
                anchor = Anchor::Home;
            }
        }
    }
    Norm {
        anchor,
        comps,
        glob,
    }
}

fn is_glob_all(comp: &str) -> bool {
    matches!(comp, "*" | "**" | ".*" | "*.*" | "{*,.*}" | "{.*,*}")
}

/// Recognises the anchor at the start of a lowercased, `/`-separated path; returns it and the rest.
fn split_anchor(lower: &str) -> (Anchor, &str) {
    const HOME_VARS: &[&str] = &[
        "$home",
        "${home}",
        "$env:userprofile",
        "$env:home",
        "${env:userprofile}",
        "%userprofile%",
        "$userprofile",
        "%homedrive%%homepath%",
        "%homepath%",
        "$(echo ~)",
    ];
    const TEMP_VARS: &[&str] = &[
        "$tmpdir",
        "${tmpdir}",
        "%temp%",
        "%tmp%",
        "$env:temp",
        "$env:tmp",
        "$tmp",
        "$temp",
    ];
    const CWD_VARS: &[&str] = &["$pwd", "${pwd}", "$(pwd)", "%cd%", "$pwd.path"];
    let at_boundary = |rest: &str| rest.is_empty() || rest.starts_with('/');
    for (vars, anchor) in [
        (HOME_VARS, Anchor::Home),
        (TEMP_VARS, Anchor::Temp),
        (CWD_VARS, Anchor::Relative),
    ] {
        for var in vars {
            if let Some(rest) = lower.strip_prefix(var).filter(|r| at_boundary(r)) {
                return (anchor, rest);
            }
        }
    }
    if let Some(rest) = lower.strip_prefix('~') {
        // `~`, `~/x`, `~user/x`: all homes.
        let rest = rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("");
        return (Anchor::Home, rest);
    }
    if let Some(after) = lower.strip_prefix('$').or_else(|| lower.strip_prefix('%')) {
        let end = after.find('/').unwrap_or(after.len());
        let name: String = after
            .get(..end)
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let rest = after.get(end..).unwrap_or("");
        return (Anchor::Var(name), rest);
    }
    let mut chars = lower.chars();
    if let (Some(letter), Some(':')) = (chars.next(), chars.next())
        && letter.is_ascii_alphabetic()
    {
        return (Anchor::Drive, lower.get(2..).unwrap_or(""));
    }
    if lower.starts_with('/') {
        return (Anchor::Root, lower);
    }
    (Anchor::Relative, lower)
}

/// Directories of the system (Unix, macOS and Windows), directly under the root.
const SYSTEM_DIRS: &[&str] = &[
    "etc",
    "usr",
    "bin",
    "sbin",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "boot",
    "dev",
    "proc",
    "sys",
    "var",
    "run",
    "snap",
    "nix",
    "system",
    "library",
    "applications",
    "private",
    "cores",
    "tmp",
    "windows",
    "program files",
    "program files (x86)",
    "programdata",
    "system volume information",
    "recovery",
    "efi",
];

/// Directory names (directly under home or a root) that hold many checkouts or a person's files.
const COLLECTIONS: &[&[&str]] = &[
    &["projects"],
    &["project"],
    &["code"],
    &["src"],
    &["dev"],
    &["work"],
    &["workspace"],
    &["workspaces"],
    &["repos"],
    &["repositories"],
    &["git"],
    &["github"],
    &["gitlab"],
    &["sites"],
    &["source"],
    &["source", "repos"],
    &["go"],
    &["go", "src"],
    &["documents"],
    &["documents", "github"],
    &["desktop"],
    &["downloads"],
    &["pictures"],
    &["music"],
    &["videos"],
    &["movies"],
    &["onedrive"],
    &["dropbox"],
    &["library"],
    &["appdata"],
    &["sandbox"],
];

/// Broad places, judged on the anchor and the number of components.
fn broad(anchor: &Anchor, comps: &[&str], glob: bool) -> Option<PathClass> {
    let first = comps.first().copied();
    match anchor {
        Anchor::Root | Anchor::Drive => match comps {
            [] => Some(PathClass::Broad(ROOT)),
            ["tmp"] | ["var", "tmp"] if glob => Some(PathClass::Disposable),
            ["home"] | ["users"] => Some(PathClass::Broad(HOME)),
            [name] if SYSTEM_DIRS.contains(name) => Some(PathClass::Broad(SYSTEM)),
            [_] if is_collection(comps) => Some(PathClass::Broad(COLLECTION)),
            [_] => Some(PathClass::Broad(DATA_DIR)),
            ["dev", device] if is_block_device(device) => Some(PathClass::Broad(ROOT)),
            ["var", "lib"]
            | ["var", "log"]
            | ["var", "spool"]
            | ["var", "www"]
            | ["var", "backups"] => Some(PathClass::Broad(DATA_DIR)),
            ["var", "lib", _] | ["var", "www", _] | ["var", "opt", _] => {
                Some(PathClass::Broad(DATA_DIR))
            }
            [
                "srv" | "data" | "mnt" | "media" | "backup" | "backups" | "volumes" | "opt"
                | "storage",
                _,
            ] => Some(PathClass::Broad(DATA_DIR)),
            [sys, _]
                if SYSTEM_DIRS.contains(sys)
                    && !matches!(*sys, "tmp" | "etc" | "dev" | "private") =>
            {
                Some(PathClass::Broad(SYSTEM))
            }
            [_, _] if is_collection(comps) => Some(PathClass::Broad(COLLECTION)),
            _ => None,
        },
        Anchor::Home => {
            if comps.is_empty() {
                return Some(PathClass::Broad(HOME));
            }
            if matches!(comps, [".config"] | [".local"] | [".local", "share"]) {
                return Some(PathClass::Broad(HOME));
            }
            home_deep(comps).or_else(|| collection_or_checkout(comps))
        }
        Anchor::Relative => {
            if comps.iter().all(|c| *c == "..") {
                Some(PathClass::Broad(CWD))
            } else {
                None
            }
        }
        Anchor::Var(name) => {
            if name == "airlock_home" {
                return Some(PathClass::Sensitive(AIRLOCK));
            }
            if comps.is_empty() || (first == Some("..") && comps.iter().all(|c| *c == "..")) {
                Some(PathClass::Broad(UNKNOWN_VAR))
            } else {
                None
            }
        }
        Anchor::Temp => Some(PathClass::Disposable),
    }
}

fn is_collection(comps: &[&str]) -> bool {
    COLLECTIONS.contains(&comps)
}

/// `~/projects` (a collection) or `~/projects/acme-api` (one checkout in it).
fn collection_or_checkout(comps: &[&str]) -> Option<PathClass> {
    if is_collection(comps) {
        return Some(PathClass::Broad(COLLECTION));
    }
    let (_, parent) = comps.split_last()?;
    // Caches and other disposable things inside a collection stay disposable.
    if is_collection(parent) && !disposable_by_name(comps) {
        return Some(PathClass::Broad(CHECKOUT));
    }
    None
}

fn is_block_device(name: &str) -> bool {
    [
        "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk", "rdisk", "md", "dm-", "loop", "mapper",
        "root",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// `.git` and other version-control metadata.
fn vcs(comps: &[&str]) -> Option<PathClass> {
    let at = comps
        .iter()
        .position(|c| matches!(*c, ".git" | ".hg" | ".svn" | ".jj"))?;
    match comps.get(at + 1).copied() {
        None => Some(PathClass::Broad(VCS)),
        Some("hooks" | "config" | "hgrc") => Some(PathClass::Sensitive(GIT_HOOKS)),
        Some("objects" | "refs" | "logs" | "head" | "packed-refs" | "store" | "repo" | "wc.db") => {
            Some(PathClass::Broad(VCS))
        }
        Some(_) => Some(PathClass::Ordinary),
    }
}

/// Paths at least two levels under a root (shorter ones were judged by [`broad`]).
fn root_deep(comps: &[&str]) -> Option<PathClass> {
    match comps {
        ["tmp", ..]
        | ["var", "tmp", ..]
        | ["private", "tmp", ..]
        | ["private", "var", "folders", ..] => Some(PathClass::Disposable),
        ["var", "folders", ..]
        | ["dev", "shm", ..]
        | ["windows", "temp", ..]
        | ["var", "cache", ..] => Some(PathClass::Disposable),
        [
            "dev",
            "null" | "stdout" | "stderr" | "stdin" | "tty" | "zero" | "random" | "urandom" | "fd"
            | "pts",
            ..,
        ] => Some(PathClass::Ordinary),
        ["var", "lib", service, ..] if is_db_service(service) => {
            Some(PathClass::Sensitive(DATABASE))
        }
        ["var", "spool", "cron" | "crontabs", ..] => Some(PathClass::Sensitive(SYSTEM_CONFIG)),
        ["var", "log", ..] | ["var", "www", ..] | ["var", "backups", ..] => None,
        [first, ..] if SYSTEM_DIRS.contains(first) && *first != "tmp" => {
            Some(PathClass::Sensitive(SYSTEM_CONFIG))
        }
        _ => None,
    }
}

fn is_db_service(name: &str) -> bool {
    matches!(
        name,
        "mysql"
            | "mariadb"
            | "postgresql"
            | "postgres"
            | "pgsql"
            | "mongodb"
            | "mongo"
            | "redis"
            | "cassandra"
            | "elasticsearch"
            | "opensearch"
            | "clickhouse"
            | "etcd"
            | "influxdb"
            | "couchdb"
            | "neo4j"
    )
}

/// Dot-files and directories of a home.
fn home_deep(comps: &[&str]) -> Option<PathClass> {
    let class = match comps {
        [
            ".ssh" | ".aws" | ".gnupg" | ".kube" | ".azure" | ".password-store" | ".terraform.d",
            ..,
        ]
        | [
            ".config",
            "gcloud" | "gh" | "hub" | "doctl" | "op" | "rclone",
            ..,
        ]
        | [".docker", "config.json"]
        | [".cargo", "credentials" | "credentials.toml"]
        | [".gem", "credentials"]
        | [".m2", "settings.xml"]
        | [".local", "share", "keyrings", ..]
        | [".fly", "config.yml"]
        | [
            ".config",
            "heroku" | "railway" | "vercel" | "netlify" | "supabase",
            ..,
        ]
        | [
            ".netrc" | ".npmrc" | ".pypirc" | ".pgpass" | ".my.cnf" | ".git-credentials"
            | ".vault-token",
        ] => PathClass::Sensitive(CREDENTIALS),
        [
            ".bashrc" | ".bash_profile" | ".bash_login" | ".bash_logout" | ".profile" | ".zshrc"
            | ".zshenv" | ".zprofile" | ".zlogin" | ".zlogout" | ".cshrc" | ".tcshrc" | ".kshrc"
            | ".xprofile" | ".xinitrc" | ".gitconfig" | ".inputrc" | ".envrc",
        ]
        | [
            ".config",
            "fish" | "powershell" | "autostart" | "systemd" | "git",
            ..,
        ]
        | ["documents", "powershell" | "windowspowershell", ..]
        | ["library", "launchagents", ..]
        | [".oh-my-zsh", "custom", ..] => PathClass::Sensitive(STARTUP),
        [".airlock", ..] => PathClass::Sensitive(AIRLOCK),
        [".codex", "hooks.json" | "config.toml"] | [".cursor", "hooks.json"] => {
            PathClass::Sensitive(AGENT_HOOKS)
        }
        [".claude.json"]
        | [".codex", ..]
        | [
            ".cursor",
            "hooks.json" | "mcp.json" | "cli-config.json" | "hooks",
            ..,
        ] => PathClass::Sensitive(AGENT_SETTINGS),
        [".cache", ..] | ["library", "caches", ..] | ["appdata", "local", "temp", ..] => {
            PathClass::Disposable
        }
        [".npm", "_cacache", ..] | [".cargo", "registry", ..] | [".gradle", "caches", ..] => {
            PathClass::Disposable
        }
        _ => return None,
    };
    Some(class)
}

/// Sensitive files recognised by name wherever they are.
fn sensitive_by_name(comps: &[&str]) -> Option<PathClass> {
    let last = comps.last().copied()?;
    if let Some(class) = agent_or_airlock(comps, last) {
        return Some(class);
    }
    if is_credential_name(last) || comps.contains(&".ssh") {
        return Some(PathClass::Sensitive(CREDENTIALS));
    }
    if comps
        .windows(2)
        .any(|w| matches!(w, [".kube", "config"] | [".docker", "config.json"]))
    {
        return Some(PathClass::Sensitive(CREDENTIALS));
    }
    if matches!(last, "crontab" | "crontabs" | "sudoers" | "sshd_config") {
        return Some(PathClass::Sensitive(SYSTEM_CONFIG));
    }
    if last.ends_with(".tfstate")
        || last.contains(".tfstate.")
        || last.starts_with("terraform.tfstate")
        || last.ends_with(".tfvars")
        || last.ends_with(".tfvars.json")
        || comps.iter().any(|c| matches!(*c, ".terraform" | ".pulumi"))
    {
        return Some(PathClass::Sensitive(INFRA_STATE));
    }
    if is_database_name(last)
        || comps
            .iter()
            .any(|c| matches!(*c, "pgdata" | "pg_data" | "backups" | "backup"))
    {
        return Some(PathClass::Sensitive(DATABASE));
    }
    None
}

/// The files sshd reads the keys allowed to log in from: `authorized_keys` or `authorized_keys2` in a
/// `.ssh` directory (any home, root's, or relative to a working directory that may be a home), and the
/// system-wide `/etc/ssh/authorized_keys` (a file or a directory of per-user files). Only these exact
/// names: a backup (`authorized_keys.bak`) or a project file named `authorized_keys` is not read by sshd
/// and stays a credentials path.
fn is_login_keys(comps: &[&str]) -> bool {
    let is_keys_file = |c: &str| matches!(c, "authorized_keys" | "authorized_keys2");
    match comps {
        [.., ".ssh", last] => is_keys_file(last),
        ["etc", "ssh", keys, ..] => is_keys_file(keys),
        _ => false,
    }
}

/// The airlock program itself in a `bin` directory (`/usr/local/bin/airlock`, `~/.cargo/bin/airlock`).
fn is_airlock_program(comps: &[&str]) -> bool {
    let mut rev = comps.iter().rev();
    matches!(rev.next(), Some(&("airlock" | "airlock.exe"))) && rev.next() == Some(&"bin")
}

fn agent_or_airlock(comps: &[&str], last: &str) -> Option<PathClass> {
    if comps.contains(&".airlock")
        || matches!(
            last,
            "airlock.toml" | "airlock.db" | "airlock.db-wal" | "airlock.db-shm" | "airlock.cedar"
        )
    {
        return Some(PathClass::Sensitive(AIRLOCK));
    }
    // The files airlock's hook is wired into (`airlock install`).
    let hooks = comps.windows(2).any(|w| {
        matches!(
            w,
            [".claude", "settings.json" | "settings.local.json"]
                | [".cursor", "hooks.json"]
                | [".codex", "hooks.json" | "config.toml"]
                | [".gemini", "settings.json"]
        )
    });
    if hooks {
        return Some(PathClass::Sensitive(AGENT_HOOKS));
    }
    let agent = comps.windows(2).any(|w| {
        matches!(
            w,
            [".claude", "settings.json" | "settings.local.json" | "hooks"]
                | [
                    ".cursor",
                    "hooks.json"
                        | "mcp.json"
                        | "environment.json"
                        | "settings.json"
                        | "cli.json"
                        | "hooks"
                ]
                | [".codex", _]
                | [".gemini", "settings.json" | "hooks"]
                | [".vscode", "settings.json" | "mcp.json"]
                | [".windsurf", "hooks.json" | "mcp.json"]
                | [".continue", _]
        )
    });
    if agent || matches!(last, ".mcp.json" | ".claude.json" | "mcp_config.json") {
        return Some(PathClass::Sensitive(AGENT_SETTINGS));
    }
    None
}

/// Start of the names of SSH key files (and the SSH files beside them).
pub(crate) const KEY_PREFIXES: &[&str] = &[
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "authorized_keys",
    "known_hosts",
];

/// Endings of private-key and keystore files.
pub(crate) const KEY_SUFFIXES: &[&str] = &[
    ".pem",
    ".key",
    ".p12",
    ".pfx",
    ".jks",
    ".keystore",
    ".ppk",
    ".kdbx",
];

/// Names of files that hold credentials wherever they are.
pub(crate) const CREDENTIAL_NAMES: &[&str] = &[
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".my.cnf",
    ".git-credentials",
    ".vault-token",
    ".htpasswd",
    ".envrc",
    ".s3cfg",
    ".boto",
    ".terraformrc",
    "credentials",
    "credentials.json",
    "credentials.csv",
    "credentials.yml",
    "credentials.yaml",
    "application_default_credentials.json",
    "service-account.json",
    "keyfile.json",
    "kubeconfig",
    "secrets.json",
    "secrets.yml",
    "secrets.yaml",
    "master.key",
    "shadow",
    "gshadow",
];

fn is_credential_name(name: &str) -> bool {
    if KEY_PREFIXES.iter().any(|p| name.starts_with(p))
        || KEY_SUFFIXES.iter().any(|s| name.ends_with(s))
    {
        return true;
    }
    if CREDENTIAL_NAMES.contains(&name)
        || (name.starts_with("service-account") && name.ends_with(".json"))
    {
        return true;
    }
    is_env_file(name)
}

/// `.env` and `.env.production`, but not the committed templates (`.env.example`, `.env.sample`, …).
pub(crate) fn is_env_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(".env") else {
        return name.ends_with(".env")
            && !name.ends_with(".example.env")
            && !name.ends_with(".sample.env");
    };
    if rest.is_empty() {
        return true;
    }
    let Some(suffix) = rest.strip_prefix('.') else {
        return false;
    };
    !suffix.split('.').any(|part| {
        matches!(
            part,
            "example"
                | "sample"
                | "template"
                | "dist"
                | "defaults"
                | "default"
                | "schema"
                | "tpl"
                | "in"
        )
    })
}

fn is_database_name(name: &str) -> bool {
    if matches!(name, "thumbs.db" | "desktop.ini") {
        return false;
    }
    const EXTS: &[&str] = &[
        ".sqlite",
        ".sqlite3",
        ".db",
        ".db3",
        ".s3db",
        ".sl3",
        ".mdb",
        ".accdb",
        ".mdf",
        ".ldf",
        ".ndf",
        ".ibd",
        ".myd",
        ".myi",
        ".dump",
        ".rdb",
        ".aof",
        ".db-wal",
        ".db-shm",
        ".sqlite-wal",
        ".sqlite-shm",
        ".sqlite3-wal",
        ".sqlite3-shm",
        ".db-journal",
        ".sqlite-journal",
        ".duckdb",
        ".realm",
    ];
    EXTS.iter().any(|e| name.ends_with(e))
        || name.starts_with("ibdata")
        || name.starts_with("ib_logfile")
}

/// Build output, caches, temporary directories and generated files.
fn disposable_by_name(comps: &[&str]) -> bool {
    const DIRS: &[&str] = &[
        "node_modules",
        "target",
        "dist",
        "build",
        "out",
        ".next",
        ".nuxt",
        ".output",
        ".svelte-kit",
        ".turbo",
        ".parcel-cache",
        ".angular",
        ".expo",
        ".dart_tool",
        ".gradle",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "coverage",
        "htmlcov",
        ".nyc_output",
        ".cache",
        "tmp",
        "temp",
        ".tmp",
        ".temp",
        "bower_components",
        ".sass-cache",
        "_build",
        ".build",
        ".eggs",
        ".ipynb_checkpoints",
        ".serverless",
        ".vercel",
        ".docusaurus",
        "storybook-static",
        "cmake-build-debug",
        "cmake-build-release",
        ".webpack",
        ".vite",
        "obj",
    ];
    const FILES: &[&str] = &[
        ".coverage",
        "coverage.xml",
        "lcov.info",
        ".ds_store",
        "thumbs.db",
        ".eslintcache",
        ".stylelintcache",
        "npm-debug.log",
        "yarn-error.log",
        "junit.xml",
    ];
    const EXTS: &[&str] = &[
        ".pyc",
        ".pyo",
        ".o",
        ".class",
        ".log",
        ".tsbuildinfo",
        ".tmp",
        ".swp",
        ".egg-info",
    ];
    let Some((last, parents)) = comps.split_last() else {
        return false;
    };
    parents
        .iter()
        .chain(std::iter::once(last))
        .any(|c| DIRS.contains(c))
        || FILES.contains(last)
        || last.starts_with(".coverage.")
        || EXTS.iter().any(|e| last.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(path: &str) -> PathClass {
        classify_path(path)
    }

    #[test]
    fn broad_places() {
        for (path, rule) in [
            ("/", ROOT),
            ("/*", ROOT),
            ("C:\\", ROOT),
            ("d:\\", ROOT),
            ("d:", ROOT),
            ("/dev/sda", ROOT),
            ("~", HOME),
            ("~/", HOME),
            ("~/*", HOME),
            ("$HOME", HOME),
            ("${HOME}/", HOME),
            ("$env:USERPROFILE", HOME),
            ("%USERPROFILE%", HOME),
            ("/root", HOME),
            ("/home/dev", HOME),
            ("/home/dev/", HOME),
            ("/Users/alice", HOME),
            ("/home", HOME),
            ("/Users", HOME),
            ("/home/*", HOME),
            ("C:\\Users\\dev", HOME),
            ("~/..", HOME),
            ("/etc", SYSTEM),
            ("/usr", SYSTEM),
            ("/usr/lib", SYSTEM),
            ("/var", SYSTEM),
            ("/boot", SYSTEM),
            ("C:\\Windows", SYSTEM),
            ("/tmp", SYSTEM),
            ("/var/lib/postgresql", DATA_DIR),
            ("/var/lib/docker", DATA_DIR),
            ("/srv/uploads", DATA_DIR),
            ("/srv/data", DATA_DIR),
            ("/data", DATA_DIR),
            ("/mnt/backups", DATA_DIR),
            ("/build", DATA_DIR),
            (".git", VCS),
            (".git/", VCS),
            ("./.git", VCS),
            ("repo/.git/objects", VCS),
            (".", CWD),
            ("./", CWD),
            ("*", CWD),
            ("./*", CWD),
            ("..", CWD),
            ("../..", CWD),
            ("~/projects", COLLECTION),
            ("~/code/", COLLECTION),
            ("~/src", COLLECTION),
            ("C:\\Projects\\*", COLLECTION),
            ("C:\\Users\\dev\\source\\repos", COLLECTION),
            ("~/Documents", COLLECTION),
            ("~/projects/acme-api", CHECKOUT),
            ("/home/dev/code/shop", CHECKOUT),
            ("$DIR", UNKNOWN_VAR),
            ("$STEAMROOT/*", UNKNOWN_VAR),
        ] {
            assert_eq!(class(path), PathClass::Broad(rule), "{path}");
        }
    }

    #[test]
    fn sensitive_places() {
        for (path, rule) in [
            ("~/.ssh/id_ed25519", CREDENTIALS),
            ("~/.ssh/authorized_keys", LOGIN_KEYS),
            ("/root/.ssh/authorized_keys2", LOGIN_KEYS),
            ("/home/deploy/.ssh/authorized_keys", LOGIN_KEYS),
            ("$HOME/.SSH/Authorized_Keys", LOGIN_KEYS),
            (".ssh/authorized_keys", LOGIN_KEYS),
            ("/etc/ssh/authorized_keys/deploy", LOGIN_KEYS),
            ("~/.ssh/authorized_keys.bak", CREDENTIALS),
            ("provisioning/files/authorized_keys", CREDENTIALS),
            ("/home/dev/.aws/credentials", CREDENTIALS),
            ("~/.ssh", CREDENTIALS),
            (
                "~/.config/gcloud/application_default_credentials.json",
                CREDENTIALS,
            ),
            ("~/.kube/config", CREDENTIALS),
            ("~/.docker/config.json", CREDENTIALS),
            ("~/.netrc", CREDENTIALS),
            ("~/.pgpass", CREDENTIALS),
            ("certs/server.pem", CREDENTIALS),
            ("deploy/tls.key", CREDENTIALS),
            ("backup/id_rsa", CREDENTIALS),
            (".env", CREDENTIALS),
            ("app/.env.production", CREDENTIALS),
            ("/etc/passwd", SYSTEM_CONFIG),
            ("/etc/ssh/sshd_config", SYSTEM_CONFIG),
            ("/etc/cron.d/backup", SYSTEM_CONFIG),
            ("/var/spool/cron/crontabs/root", SYSTEM_CONFIG),
            ("/usr/local/bin/tool", SYSTEM_CONFIG),
            ("C:\\Windows\\System32\\drivers\\etc\\hosts", SYSTEM_CONFIG),
            ("~/.bashrc", STARTUP),
            ("~/.zshrc", STARTUP),
            ("$HOME/.profile", STARTUP),
            ("~/.config/fish/config.fish", STARTUP),
            (".git/hooks/pre-commit", GIT_HOOKS),
            (".git/config", GIT_HOOKS),
            ("~/.claude/settings.json", AGENT_HOOKS),
            (".claude/settings.local.json", AGENT_HOOKS),
            ("~/.cursor/hooks.json", AGENT_HOOKS),
            (".cursor/hooks.json", AGENT_HOOKS),
            (".cursor/mcp.json", AGENT_SETTINGS),
            ("~/.codex/config.toml", AGENT_HOOKS),
            ("~/.codex/hooks.json", AGENT_HOOKS),
            ("~/.codex/auth.json", AGENT_SETTINGS),
            ("~/.gemini/settings.json", AGENT_HOOKS),
            (".gemini/settings.json", AGENT_HOOKS),
            (".claude/hooks/guard.sh", AGENT_SETTINGS),
            (".mcp.json", AGENT_SETTINGS),
            (".vscode/settings.json", AGENT_SETTINGS),
            ("~/.airlock/airlock.toml", AIRLOCK),
            ("~/.airlock/policy.cedar", AIRLOCK),
            ("$AIRLOCK_HOME/airlock.db", AIRLOCK),
            ("airlock.toml", AIRLOCK),
            ("/usr/local/bin/airlock", AIRLOCK),
            ("~/.cargo/bin/airlock", AIRLOCK),
            ("/opt/homebrew/bin/airlock", AIRLOCK),
            ("db/production.sqlite3", DATABASE),
            ("data/app.db", DATABASE),
            ("/var/lib/mysql/ibdata1", DATABASE),
            ("/var/lib/postgresql/data", DATABASE),
            ("terraform.tfstate", INFRA_STATE),
            ("infra/prod.tfstate.backup", INFRA_STATE),
            (".terraform/", INFRA_STATE),
        ] {
            assert_eq!(class(path), PathClass::Sensitive(rule), "{path}");
        }
    }

    #[test]
    fn disposable_places() {
        for path in [
            "node_modules",
            "./node_modules/",
            "target",
            "./target",
            "dist/main.js",
            "build",
            "out/",
            ".next",
            "__pycache__",
            "app/__pycache__/x.pyc",
            "x.pyc",
            ".pytest_cache",
            "coverage",
            ".coverage",
            "coverage.xml",
            "htmlcov",
            ".cache",
            "tmp/",
            "/tmp/build-123",
            "/tmp/*",
            "/var/tmp/x",
            "$TMPDIR/x",
            "~/.cache/pip",
            "~/projects/acme/node_modules",
            "~/projects/node_modules",
            "build\\",
        ] {
            assert_eq!(class(path), PathClass::Disposable, "{path}");
        }
    }

    #[test]
    fn ordinary_places() {
        for path in [
            "src/utils/slugify.ts",
            "README.md",
            "scripts/clean.sh",
            "tests/test_orders.py",
            ".env.example",
            ".env.sample",
            ".env.template",
            "docs/notes.md",
            ".git/index.lock",
            ".github/workflows/ci.yml",
            "/dev/null",
            "~/projects/acme/src/main.rs",
            "",
            ".claude/commands/review.md",
        ] {
            assert_eq!(class(path), PathClass::Ordinary, "{path}");
        }
    }

    #[test]
    fn rule_accessor() {
        assert_eq!(PathClass::Broad(ROOT).rule(), Some(ROOT));
        assert_eq!(PathClass::Ordinary.rule(), None);
    }

    #[test]
    fn odd_input_never_panics() {
        for path in [
            "\u{0}",
            "~~",
            "$",
            "%",
            "${",
            "c:",
            "é/ü",
            "//server/share",
            "../../../../etc",
            "ß:\\x",
        ] {
            let _ = classify_path(path);
        }
    }
}
