//! Where airlock keeps its files (`$AIRLOCK_HOME`, default `~/.airlock`) and loading the engine with the
//! user's policy from there.

use std::path::PathBuf;

use airlock_engine::Engine;
use anyhow::Context as _;

/// `$AIRLOCK_HOME`, or `~/.airlock`.
pub fn airlock_home() -> PathBuf {
    if let Some(home) = std::env::var_os("AIRLOCK_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    let user_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    user_home.join(".airlock")
}

/// The user's policy file: `$AIRLOCK_HOME/policy.cedar`.
pub fn user_policy_path() -> PathBuf {
    airlock_home().join("policy.cedar")
}

/// The engine with the default policy and, when it exists, the user's policy (or `explicit`, if given).
/// A policy that cannot be read, parsed or validated is an error: airlock does not run on a bad policy.
pub fn load_engine(explicit: Option<&PathBuf>) -> anyhow::Result<Engine> {
    let path = match explicit {
        Some(path) => Some(path.clone()),
        None => Some(user_policy_path()).filter(|p| p.exists()),
    };
    match path {
        None => engine_with_policy(None),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read policy file `{}`", path.display()))?;
            engine_with_policy(Some((&path, &text)))
        }
    }
}

/// The engine with the default policy and, when given, the user's policy `(file, text)`.
pub fn engine_with_policy(policy: Option<(&std::path::Path, &str)>) -> anyhow::Result<Engine> {
    match policy {
        None => Ok(Engine::new()?),
        Some((path, text)) => Ok(Engine::with_user_policy(&path.display().to_string(), text)?),
    }
}

/// The database URL: `AIRLOCK_DATABASE_URL`, else `database_url` in `$AIRLOCK_HOME/airlock.toml`, else the
/// SQLite file `$AIRLOCK_HOME/airlock.db`.
pub fn database_url() -> anyhow::Result<String> {
    let env = std::env::var(airlock_store::config::DATABASE_URL_ENV).ok();
    Ok(airlock_store::config::database_url(
        &airlock_home(),
        env.as_deref(),
    )?)
}

/// Opens the store (creating the SQLite database on first use) and runs `work` with it on a single-threaded
/// runtime. An unreadable, corrupt or newer database is an error, never replaced.
pub fn with_store<T, F, Fut>(work: F) -> anyhow::Result<T>
where
    F: FnOnce(airlock_store::Store) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let url = database_url()?;
        let store = airlock_store::Store::open(&url).await?;
        let result = work(store.clone()).await;
        store.close().await;
        result
    })
}

/// The approver secret from `AIRLOCK_APPROVER_SECRET`, or typed at a prompt when stdin is a terminal.
pub fn approver_secret() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if let Some(secret) = std::env::var("AIRLOCK_APPROVER_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(secret);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "an approver secret is required: set AIRLOCK_APPROVER_SECRET or run in a terminal to be prompted (see `airlock approver add`)"
        );
    }
    let secret = rpassword::prompt_password("approver secret: ")
        .context("cannot read the approver secret")?;
    if secret.trim().is_empty() {
        anyhow::bail!("no approver secret given");
    }
    Ok(secret)
}
