//! Errors the engine reports when it cannot start: a broken catalogue or a policy that does not parse or
//! validate. Classifying and deciding never fail: what cannot be understood becomes an `ask` decision.

/// Why the engine refused to start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A catalogue file is malformed.
    #[error("catalogue file `{family}.toml` is invalid: {message}")]
    Catalog {
        /// The family (file stem).
        family: String,
        /// What is wrong.
        message: String,
    },
    /// A policy file does not parse.
    #[error("policy `{source_name}` does not parse: {message}")]
    PolicyParse {
        /// Where the policy came from (a path or `default.cedar`).
        source_name: String,
        /// The parser's message.
        message: String,
    },
    /// A policy file parses but does not validate against the schema, or breaks an airlock convention.
    #[error("policy `{source_name}` is invalid: {message}")]
    PolicyInvalid {
        /// Where the policy came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}
