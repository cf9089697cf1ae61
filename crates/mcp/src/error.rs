//! Why a proxy session ended badly. The CLI prints these on stderr and exits non-zero.

/// A proxy session that could not start or did not end with the client closing the connection.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The server's program could not be started.
    #[error("cannot start the MCP server `{command}`: {reason}")]
    Spawn {
        /// The program as given.
        command: String,
        /// Why (part of the message, so not repeated as a source).
        reason: std::io::Error,
    },
    /// The server stopped (or was stopped) before the client closed the connection; every request in
    /// flight was answered with an error.
    #[error(
        "the MCP server `{name}` {what}; {in_flight} request(s) in flight were answered with an error"
    )]
    ServerStopped {
        /// The server's `--name`.
        name: String,
        /// What happened, e.g. `exited with exit status: 3`.
        what: String,
        /// How many requests were waiting for an answer.
        in_flight: usize,
    },
    /// Reading the client's messages failed.
    #[error("cannot read the MCP client's messages: {0}")]
    ClientRead(std::io::Error),
}
