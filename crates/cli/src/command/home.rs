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
        None => Ok(Engine::new()?),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read policy file `{}`", path.display()))?;
            Ok(Engine::with_user_policy(
                &path.display().to_string(),
                &text,
            )?)
        }
    }
}
