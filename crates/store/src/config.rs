//! Which database to use: `AIRLOCK_DATABASE_URL` if set, else `database_url` in `$AIRLOCK_HOME/airlock.toml`,
//! else the SQLite file `$AIRLOCK_HOME/airlock.db`. The caller passes the home directory and the environment
//! value in, so this is testable without touching the process environment.

use std::path::Path;

use crate::error::{Result, StoreError};

/// The configuration file's name inside `$AIRLOCK_HOME`.
pub const CONFIG_FILE: &str = "airlock.toml";
/// The default SQLite file's name inside `$AIRLOCK_HOME`.
pub const DEFAULT_DB_FILE: &str = "airlock.db";
/// The environment variable that overrides the configured database.
pub const DATABASE_URL_ENV: &str = "AIRLOCK_DATABASE_URL";

/// The database URL for `home`, given the value of [`DATABASE_URL_ENV`] (if any).
pub fn database_url(home: &Path, env_override: Option<&str>) -> Result<String> {
    if let Some(url) = env_override.map(str::trim).filter(|u| !u.is_empty()) {
        return Ok(url.to_string());
    }
    let config = home.join(CONFIG_FILE);
    match std::fs::read_to_string(&config) {
        Ok(text) => {
            let table: toml::Table = toml::from_str(&text).map_err(|e| StoreError::Config {
                path: config.display().to_string(),
                message: e.message().to_string(),
            })?;
            match table.get("database_url") {
                None => {}
                Some(toml::Value::String(url)) => return Ok(url.clone()),
                Some(_) => {
                    return Err(StoreError::Config {
                        path: config.display().to_string(),
                        message: "`database_url` must be a string such as \"postgres://user@host/airlock\"".into(),
                    });
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StoreError::Config {
                path: config.display().to_string(),
                message: e.to_string(),
            });
        }
    }
    Ok(format!("sqlite://{}", home.join(DEFAULT_DB_FILE).display()))
}

/// The circuit breaker's limits: the `[breaker]` table of `$AIRLOCK_HOME/airlock.toml` (keys `per_agent`,
/// `per_upstream`, `window_seconds`; each defaults to [`crate::breaker::BreakerLimits::default`]'s value).
/// A missing file or table gives the defaults; a malformed table or a limit of 0 is an error.
pub fn breaker_limits(home: &Path) -> Result<crate::breaker::BreakerLimits> {
    let config = home.join(CONFIG_FILE);
    let bad = |message: String| StoreError::Config {
        path: config.display().to_string(),
        message,
    };
    let text = match std::fs::read_to_string(&config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(crate::breaker::BreakerLimits::default());
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
    let limits = match table.get("breaker") {
        None => crate::breaker::BreakerLimits::default(),
        Some(value) => value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| bad(format!("[breaker]: {}", e.message())))?,
    };
    limits.validate().map_err(|e| bad(e.to_string()))?;
    Ok(limits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn env_then_file_then_default() {
        let home = std::env::temp_dir().join(format!("airlock-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        assert_eq!(
            database_url(&home, None).unwrap(),
            format!("sqlite://{}/airlock.db", home.display())
        );
        std::fs::write(
            home.join(CONFIG_FILE),
            "database_url = \"postgres://u@h/db\"\n",
        )
        .unwrap();
        assert_eq!(database_url(&home, None).unwrap(), "postgres://u@h/db");
        assert_eq!(
            database_url(&home, Some("sqlite:///x.db")).unwrap(),
            "sqlite:///x.db"
        );
        std::fs::write(home.join(CONFIG_FILE), "database_url = 5\n").unwrap();
        assert!(database_url(&home, None).is_err());
        std::fs::write(home.join(CONFIG_FILE), "database_url = \n").unwrap();
        assert!(database_url(&home, None).is_err());
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn breaker_limits_default_then_file() {
        let home =
            std::env::temp_dir().join(format!("airlock-breaker-config-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        assert_eq!(
            breaker_limits(&home).unwrap(),
            crate::breaker::BreakerLimits::default()
        );
        std::fs::write(home.join(CONFIG_FILE), "[breaker]\nper_agent = 2\n").unwrap();
        let limits = breaker_limits(&home).unwrap();
        assert_eq!(
            (limits.per_agent, limits.per_upstream, limits.window_seconds),
            (2, 10, 60)
        );
        std::fs::write(home.join(CONFIG_FILE), "[breaker]\nper_agent = 0\n").unwrap();
        assert!(
            breaker_limits(&home)
                .unwrap_err()
                .to_string()
                .contains("per_agent")
        );
        std::fs::write(home.join(CONFIG_FILE), "[breaker]\nper_agnet = 3\n").unwrap();
        assert!(breaker_limits(&home).is_err());
        std::fs::remove_dir_all(&home).unwrap();
    }
}
