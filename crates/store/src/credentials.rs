//! Credentials: agent tokens (`alt_` + 64 hex digits; only their SHA-256 is stored — they are 256-bit random,
//! so a fast hash is enough) and approver secrets (`ala_<id>_` + 64 hex digits; an argon2id hash is stored, and
//! the public `<id>` part selects the row to check against). Token and approver names share one namespace.
//! An [`AuthenticatedApprover`] can only be obtained from an approver secret, so an agent token can never
//! approve anything.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::canonical::sha256_hex;
use crate::clock::Millis;
use crate::db::{Store, WritePool as _, on_pool, random_bytes};
use crate::error::{Result, StoreError};

/// Prefix of every agent token.
pub const TOKEN_PREFIX: &str = "alt_";
/// Prefix of every approver secret.
pub const APPROVER_PREFIX: &str = "ala_";

/// An agent token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentToken {
    /// Its name (shown in the audit log as the agent).
    pub name: String,
    /// Upstreams it may call (empty: none configured).
    pub scopes: Vec<String>,
    /// Created at, ms since the epoch.
    pub created_ms: Millis,
    /// Expires at, if it does.
    pub expires_ms: Option<Millis>,
    /// Revoked at, if it was.
    pub revoked_ms: Option<Millis>,
}

/// An approver as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// Name.
    pub name: String,
    /// The public id inside the secret.
    pub id: String,
    /// Created at.
    pub created_ms: Millis,
    /// Removed at, if they were.
    pub revoked_ms: Option<Millis>,
}

/// An approver who just proved their identity with their secret. Only [`Store::authenticate_approver`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedApprover {
    name: String,
}

impl AuthenticatedApprover {
    /// The approver's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// name, scopes JSON, created, expires, revoked.
type TokenRow = (String, String, i64, Option<i64>, Option<i64>);

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

fn hash_secret(secret: &str) -> Result<String> {
    let salt_bytes = random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| StoreError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

fn scopes_from_json(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Malformed {
        what: "token scopes",
        message: e.to_string(),
    })
}

impl Store {
    async fn name_taken(&self, name: &str) -> Result<bool> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM agent_tokens WHERE name = $1) + (SELECT COUNT(*) FROM approvers WHERE name = $1)",
            )
            .bind(name)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// Creates an agent token. Returns what is stored and the token itself, which is shown once and never again.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &[String],
        ttl_ms: Option<Millis>,
    ) -> Result<(AgentToken, String)> {
        check_name(name)?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(random_bytes::<32>()?));
        let now = self.clock.now_ms();
        let record = AgentToken {
            name: name.to_string(),
            scopes: scopes.to_vec(),
            created_ms: now,
            expires_ms: ttl_ms.map(|t| now.saturating_add(t)),
            revoked_ms: None,
        };
        let scopes_json = serde_json::to_string(&record.scopes).unwrap_or_else(|_| "[]".into());
        if self.name_taken(name).await? {
            return Err(StoreError::NameTaken(name.to_string()));
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO agent_tokens (name, token_hash, scopes, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(name)
            .bind(sha256_hex(token.as_bytes()))
            .bind(&scopes_json)
            .bind(now)
            .bind(record.expires_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::NameTaken(name.to_string()),
                _ => StoreError::Database(e),
            })?;
            tx.commit().await?;
        });
        Ok((record, token))
    }

    /// Every agent token, by name.
    pub async fn list_tokens(&self) -> Result<Vec<AgentToken>> {
        let rows: Vec<TokenRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT name, scopes, created_ms, expires_ms, revoked_ms FROM agent_tokens ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(name, scopes, created_ms, expires_ms, revoked_ms)| {
                Ok(AgentToken {
                    name,
                    scopes: scopes_from_json(&scopes)?,
                    created_ms,
                    expires_ms,
                    revoked_ms,
                })
            })
            .collect()
    }

    /// Revokes a token: it stops working at once. Revoking twice is not an error.
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let affected = on_pool!(self, pool => {
            sqlx::query("UPDATE agent_tokens SET revoked_ms = COALESCE(revoked_ms, $1) WHERE name = $2")
                .bind(now)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            Err(StoreError::TokenNotFound(name.to_string()))
        } else {
            Ok(())
        }
    }

    /// The token's record if `token` is a live agent token.
    pub async fn authenticate_token(&self, token: &str) -> Result<AgentToken> {
        let hash = sha256_hex(token.trim().as_bytes());
        let row: Option<TokenRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT name, scopes, created_ms, expires_ms, revoked_ms FROM agent_tokens WHERE token_hash = $1",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await?
        });
        let Some((name, scopes, created_ms, expires_ms, revoked_ms)) = row else {
            return Err(StoreError::BadToken("unknown token"));
        };
        if revoked_ms.is_some() {
            return Err(StoreError::BadToken("the token was revoked"));
        }
        if expires_ms.is_some_and(|e| self.clock.now_ms() >= e) {
            return Err(StoreError::BadToken("the token has expired"));
        }
        Ok(AgentToken {
            name,
            scopes: scopes_from_json(&scopes)?,
            created_ms,
            expires_ms,
            revoked_ms,
        })
    }

    /// Adds an approver. Returns what is stored and the secret, which is shown once and never again.
    pub async fn add_approver(&self, name: &str) -> Result<(Approver, String)> {
        check_name(name)?;
        let id = hex::encode(random_bytes::<4>()?);
        let secret = format!(
            "{APPROVER_PREFIX}{id}_{}",
            hex::encode(random_bytes::<32>()?)
        );
        let hash = hash_secret(&secret)?;
        let now = self.clock.now_ms();
        if self.name_taken(name).await? {
            return Err(StoreError::NameTaken(name.to_string()));
        }
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO approvers (id, name, secret_hash, created_ms) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(name)
                .bind(&hash)
                .bind(now)
                .execute(pool)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::NameTaken(name.to_string()),
                    _ => StoreError::Database(e),
                })?;
        });
        Ok((
            Approver {
                name: name.to_string(),
                id,
                created_ms: now,
                revoked_ms: None,
            },
            secret,
        ))
    }

    /// Every approver, by name.
    pub async fn list_approvers(&self) -> Result<Vec<Approver>> {
        let rows: Vec<(String, String, i64, Option<i64>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT name, id, created_ms, revoked_ms FROM approvers ORDER BY name").fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(name, id, created_ms, revoked_ms)| Approver {
                name,
                id,
                created_ms,
                revoked_ms,
            })
            .collect())
    }

    /// Removes an approver: their secret stops working at once.
    pub async fn remove_approver(&self, name: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let affected = on_pool!(self, pool => {
            sqlx::query("UPDATE approvers SET revoked_ms = COALESCE(revoked_ms, $1) WHERE name = $2")
                .bind(now)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            Err(StoreError::ApproverNotFound(name.to_string()))
        } else {
            Ok(())
        }
    }

    /// Checks an approver secret. An agent token is refused as such, whatever its form.
    pub async fn authenticate_approver(&self, secret: &str) -> Result<AuthenticatedApprover> {
        let secret = secret.trim();
        let is_token: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM agent_tokens WHERE token_hash = $1")
                .bind(sha256_hex(secret.as_bytes()))
                .fetch_one(pool)
                .await?
        });
        if is_token > 0 || secret.starts_with(TOKEN_PREFIX) {
            return Err(StoreError::AgentTokenCannotApprove);
        }
        let Some(id) = secret
            .strip_prefix(APPROVER_PREFIX)
            .and_then(|rest| rest.split('_').next())
        else {
            return Err(StoreError::BadApproverSecret);
        };
        let row = on_pool!(self, pool => {
            sqlx::query("SELECT name, secret_hash, revoked_ms FROM approvers WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|row| -> Result<(String, String, Option<i64>)> {
                    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
                })
                .transpose()?
        });
        let Some((name, stored, revoked_ms)) = row else {
            return Err(StoreError::BadApproverSecret);
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| StoreError::Malformed {
            what: "approver secret hash",
            message: e.to_string(),
        })?;
        if Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_err()
        {
            return Err(StoreError::BadApproverSecret);
        }
        if revoked_ms.is_some() {
            return Err(StoreError::ApproverRevoked(name));
        }
        Ok(AuthenticatedApprover { name })
    }
}
