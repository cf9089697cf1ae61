//! Approver sessions (server-side, in memory), their CSRF tokens, the pre-login CSRF token and the login
//! rate limit (failures per client address per minute).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_store::AuthenticatedApprover;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "airlock_session";
/// The cookie carrying the login form's CSRF token (before there is a session).
pub const LOGIN_COOKIE: &str = "airlock_login";
/// A session lasts this long after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per client address within [`LOGIN_WINDOW`]; the next attempt is refused (429).
pub const MAX_LOGIN_FAILURES: usize = 5;
/// The window of the login rate limit.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// A logged-in approver.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub approver: AuthenticatedApprover,
    /// The token every POST of this session must carry.
    pub csrf: String,
    created: Instant,
}

/// Sessions and login failures.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<Option<IpAddr>, VecDeque<Instant>>>,
}

/// 32 random bytes, hex; `None` when the system has no randomness (the caller refuses the request).
pub fn random_token() -> Option<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).ok()?;
    Some(hex::encode(buf))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    /// Starts a session for `approver`: returns its id (the cookie value).
    pub fn open(&self, approver: AuthenticatedApprover) -> Option<String> {
        let id = random_token()?;
        let csrf = random_token()?;
        let mut sessions = self.sessions.lock().ok()?;
        sessions.retain(|_, s| s.created.elapsed() < SESSION_TTL);
        sessions.insert(
            id.clone(),
            Session {
                approver,
                csrf,
                created: Instant::now(),
            },
        );
        Some(id)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let sessions = self.sessions.lock().ok()?;
        sessions
            .get(id)
            .filter(|s| s.created.elapsed() < SESSION_TTL)
            .cloned()
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }

    /// True when `client` has used up its failed logins for now.
    pub fn login_limited(&self, client: Option<IpAddr>) -> bool {
        let Ok(mut failures) = self.failures.lock() else {
            return true;
        };
        let Some(recent) = failures.get_mut(&client) else {
            return false;
        };
        while recent.front().is_some_and(|t| t.elapsed() >= LOGIN_WINDOW) {
            recent.pop_front();
        }
        recent.len() >= MAX_LOGIN_FAILURES
    }

    /// Counts a failed login from `client`.
    pub fn login_failed(&self, client: Option<IpAddr>) {
        if let Ok(mut failures) = self.failures.lock() {
            failures
                .entry(client)
                .or_default()
                .push_back(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_compares_whole_strings() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn five_failures_limit_that_client_only() {
        let sessions = Sessions::default();
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        for _ in 0..MAX_LOGIN_FAILURES {
            assert!(!sessions.login_limited(a));
            sessions.login_failed(a);
        }
        assert!(sessions.login_limited(a));
        assert!(!sessions.login_limited(b));
    }
}
