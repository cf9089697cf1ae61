//! Agent token checks with a short memory. Looking a token up in the store costs a database round trip on
//! every request; the gateway remembers a token it found valid for [`TOKEN_RECHECK`] (one second) and then
//! asks the store again. So a token revoked with `airlock token revoke` is refused by a running gateway
//! within one second (at once by a new one); an expiry time is checked on every request; an unknown, revoked
//! or expired token is never remembered, so a new token works at once. Only the SHA-256 of a token is kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_store::{AgentToken, Store, StoreError};
use sha2::{Digest as _, Sha256};

/// How long a valid token is trusted without asking the store again.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(1);

/// The SHA-256 of a token, the key of the memory.
type TokenHash = [u8; 32];

/// Most tokens remembered; the memory is emptied when it is full.
const MAX_REMEMBERED: usize = 10_000;

/// Valid tokens seen recently, by the SHA-256 of the token.
#[derive(Debug)]
pub struct TokenChecker {
    recheck: Duration,
    seen: Mutex<HashMap<TokenHash, (Arc<AgentToken>, Instant)>>,
}

impl TokenChecker {
    /// A checker that trusts a valid token for `recheck` (zero: ask the store every time).
    pub fn new(recheck: Duration) -> Self {
        Self {
            recheck,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The token's record if `token` is a live agent token (shared with the memory, not copied).
    pub async fn check(&self, store: &Store, token: &str) -> Result<Arc<AgentToken>, StoreError> {
        let key: TokenHash = Sha256::digest(token.trim().as_bytes()).into();
        let now = Instant::now();
        if !self.recheck.is_zero() {
            let remembered = self
                .seen
                .lock()
                .ok()
                .and_then(|seen| seen.get(&key).cloned());
            if let Some((record, at)) = remembered
                && now.duration_since(at) < self.recheck
            {
                if record.expires_ms.is_some_and(|e| store.now_ms() >= e) {
                    self.forget(&key);
                    return Err(StoreError::BadToken("the token has expired"));
                }
                return Ok(record);
            }
        }
        match store.authenticate_token(token).await {
            Ok(record) => {
                let record = Arc::new(record);
                if !self.recheck.is_zero()
                    && let Ok(mut seen) = self.seen.lock()
                {
                    if seen.len() >= MAX_REMEMBERED {
                        seen.clear();
                    }
                    seen.insert(key, (Arc::clone(&record), now));
                }
                Ok(record)
            }
            Err(e) => {
                self.forget(&key);
                Err(e)
            }
        }
    }

    fn forget(&self, key: &TokenHash) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(key);
        }
    }
}
