//! The one error type of the log crate.

use thiserror::Error;

use pledger_core::RuleError;

/// The log's result.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Why a key, envelope, entry or proof was refused. Each message is one line.
#[derive(Debug, Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
pub enum LogError {
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
    /// A file of outside input that could not be read, or was larger than allowed.
    #[error("{0}")]
    Input(String),
    #[error("malformed envelope: {0}")]
    Envelope(String),
    #[error("malformed entry: {0}")]
    Entry(String),
    #[error("bad signature: the envelope's signature does not verify under key {key} of {member}")]
    BadSignature { key: String, member: String },
    #[error("envelope is signed with key {envelope} but the event names key {event}")]
    KeyMismatch { envelope: String, event: String },
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("bad proof: {0}")]
    Proof(String),
    #[error("{0}")]
    Note(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
