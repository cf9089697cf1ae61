//! Errors that stop the gateway from starting: a configuration that does not load, a certificate file that
//! cannot be read, an address that cannot be bound. Per-request refusals are not errors here: they are
//! answers, declared in [`crate::reply`].

use std::path::PathBuf;

/// The configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the gateway configuration `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("`{}`: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A listen address does not parse.
    #[error("`{key}` = `{value}` is not an address such as `127.0.0.1:8787`")]
    BadAddress {
        /// The key.
        key: &'static str,
        /// What was written.
        value: String,
    },
    /// A value is out of range or malformed.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The key, e.g. `upstreams.railway.url`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No `[upstreams.NAME]` table.
    #[error("`{}` configures no upstream: add an `[upstreams.NAME]` (or `[mcp_servers.NAME]`) table with a `url`", path.display())]
    NoUpstreams {
        /// The file.
        path: PathBuf,
    },
    /// An upstream's name cannot appear in `/u/NAME/`.
    #[error(
        "upstream name `{0}` is not allowed: use letters, digits, `-`, `_` and `.` (at most 64 characters)"
    )]
    BadUpstreamName(String),
    /// A `${VAR}` names a variable that is not set in airlock's environment.
    #[error(
        "environment variable `{variable}` (used by upstream `{upstream}`) is not set: export it before `airlock serve`"
    )]
    MissingVariable {
        /// The variable.
        variable: String,
        /// The upstream using it.
        upstream: String,
    },
    /// A `${VAR}` names a variable that is set but empty.
    #[error(
        "environment variable `{variable}` (used by upstream `{upstream}`) is empty: set it to the credential"
    )]
    EmptyVariable {
        /// The variable.
        variable: String,
        /// The upstream using it.
        upstream: String,
    },
    /// A `${…}` that is not a variable reference.
    #[error("upstream `{upstream}` `{key}`: {message}")]
    BadVariable {
        /// The upstream.
        upstream: String,
        /// The key holding it.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An upstream's `ca_file` could not be read or holds no certificate.
    #[error("upstream `{upstream}`: cannot use `ca_file` `{}`: {message}", path.display())]
    CaFile {
        /// The upstream.
        upstream: String,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No root certificate was found on the system for an https upstream without `ca_file`.
    #[error(
        "upstream `{upstream}`: no trusted root certificates found on this system ({message}); install the system's CA certificates or set `ca_file`"
    )]
    NoRoots {
        /// The upstream.
        upstream: String,
        /// What the loader said.
        message: String,
    },
    /// TLS could not be set up.
    #[error("upstream `{upstream}`: TLS set-up failed: {message}")]
    Tls {
        /// The upstream.
        upstream: String,
        /// Why.
        message: String,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Which listener.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A listener failed while serving.
    #[error("the {what} listener stopped: {source}")]
    Serve {
        /// Which listener.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}
