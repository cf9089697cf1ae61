//! The store's one error type. Every message names the problem and, where there is one, what to do about
//! it; database locations are shown with any password removed.

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is not one the store understands.
    #[error("unsupported database url `{url}`: use `sqlite://PATH` or `postgres://…`")]
    BadUrl {
        /// The URL, password removed.
        url: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("cannot read `{path}`: {message}")]
    Config {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot open database `{location}`: {source}")]
    Open {
        /// The database, password removed.
        location: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The file exists but is not a readable airlock database; it is never re-created silently.
    #[error(
        "database `{location}` is corrupt or not an SQLite database ({detail}); restore it from a backup or move it aside — airlock will not replace it"
    )]
    Corrupt {
        /// The database file.
        location: String,
        /// The driver's message.
        detail: String,
    },
    /// The database was written by a newer airlock.
    #[error(
        "database `{location}` has schema version {found}, newer than this airlock ({supported}); upgrade airlock"
    )]
    SchemaTooNew {
        /// The database, password removed.
        location: String,
        /// The newest migration applied to the database.
        found: i64,
        /// The newest migration this build knows.
        supported: i64,
    },
    /// Applying the schema migrations failed.
    #[error("cannot migrate database `{location}`: {source}")]
    Migrate {
        /// The database, password removed.
        location: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed (disk full, server down, lock timeout, …).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row does not have the shape this airlock expects.
    #[error("stored {what} is malformed: {message}")]
    Malformed {
        /// Which kind of row.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No approval has this id.
    #[error("no approval `{0}`")]
    ApprovalNotFound(String),
    /// The approval is no longer pending (or no longer approved, for consume).
    #[error("approval `{id}` is {state}, not {wanted}")]
    ApprovalState {
        /// The approval.
        id: String,
        /// Its state now.
        state: String,
        /// The state the operation needs.
        wanted: &'static str,
    },
    /// Only `ask` decisions are held for approval.
    #[error("a `{0}` decision cannot be held for approval; only `ask` decisions can")]
    NotApprovable(String),
    /// The approval's time to live has passed.
    #[error("approval `{0}` has expired; the agent must ask again")]
    ApprovalExpired(String),
    /// The approver asked for the approval.
    #[error(
        "`{approver}` requested approval `{id}` and cannot approve or deny it; another approver must"
    )]
    SelfApproval {
        /// The approval.
        id: String,
        /// The approver (also the requester).
        approver: String,
    },
    /// The same approver voted twice.
    #[error(
        "`{approver}` has already decided on approval `{id}`; the two-person rule needs a different approver"
    )]
    AlreadyVoted {
        /// The approval.
        id: String,
        /// The approver.
        approver: String,
    },
    /// The request presented does not match the approved request byte for byte.
    #[error(
        "the request does not match approval `{id}`: it was approved for digest `{approved}`, not `{presented}`"
    )]
    DigestMismatch {
        /// The approval.
        id: String,
        /// The digest the approval is bound to.
        approved: String,
        /// The digest of the request presented.
        presented: String,
    },
    /// The credential presented is not a valid approver secret.
    #[error("not a valid approver secret; use the secret printed by `airlock approver add`")]
    BadApproverSecret,
    /// An agent token was presented where an approver secret is needed.
    #[error("an agent token can never approve; use an approver secret from `airlock approver add`")]
    AgentTokenCannotApprove,
    /// The approver was removed.
    #[error("approver `{0}` has been removed")]
    ApproverRevoked(String),
    /// The agent token is unknown, revoked or expired.
    #[error("agent token rejected: {0}")]
    BadToken(&'static str),
    /// A token or approver name is taken.
    #[error("the name `{0}` is already used by a token or an approver; choose another")]
    NameTaken(String),
    /// A name that cannot be used.
    #[error("invalid name `{0}`: use 1–64 letters, digits, `-`, `_` or `.`")]
    BadName(String),
    /// No token has this name.
    #[error("no agent token named `{0}`")]
    TokenNotFound(String),
    /// No approver has this name.
    #[error("no approver named `{0}`")]
    ApproverNotFound(String),
    /// The operating system's random source failed.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    /// Hashing a secret failed.
    #[error("cannot hash the secret: {0}")]
    Hash(String),
    /// A group-committed audit append failed (see [`crate::Store::with_group_commit`]); nothing of its batch
    /// was recorded.
    #[error("cannot append to the audit log: {0}")]
    AuditBatch(String),
    /// No deferred request has this id.
    #[error("no deferred request `{0}`; `airlock deferred list --all` shows them")]
    DeferredNotFound(String),
    /// Only a pending deferred request can be cancelled.
    #[error(
        "deferred request `{id}` is {state} and can no longer be cancelled; only pending requests can"
    )]
    DeferredNotCancellable {
        /// The deferred request.
        id: String,
        /// Its state now.
        state: String,
    },
    /// The deferred request is not in the state the operation needs.
    #[error("deferred request `{id}` is {state}, not {wanted}")]
    DeferredState {
        /// The deferred request.
        id: String,
        /// Its state now.
        state: String,
        /// The state the operation needs.
        wanted: &'static str,
    },
    /// A credential was passed to be stored with a deferred request.
    #[error(
        "refusing to store the `{0}` header with a deferred request: credentials are never stored; the upstream's is injected when it runs"
    )]
    CredentialInDeferred(String),
    /// Circuit breaker limits that cannot work.
    #[error("invalid circuit breaker limits: {0}")]
    BadBreakerLimits(String),
    /// A duration or time given by the user could not be parsed.
    #[error("invalid {what} `{input}`: {hint}")]
    BadTime {
        /// duration or time.
        what: &'static str,
        /// The input.
        input: String,
        /// What is accepted.
        hint: &'static str,
    },
    /// A snapshot could not be taken, read, restored or pruned.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshots::SnapshotError),
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
