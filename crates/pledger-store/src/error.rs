//! The one error type of the store.

use std::path::Path;

use thiserror::Error;

use pledger_log::LogError;

/// The store's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why the store did not do what was asked. A rule's refusal ([`StoreError::Refused`]) is kept
/// apart from every failure of the store itself: an import or a submit records a refusal and goes
/// on, and stops at anything else. What a person should do next is the front's to say (see
/// [`StoreError::kind`]); the messages here state what happened.
#[derive(Debug, Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
pub enum StoreError {
    #[error("ledger {path} is in use by another process")]
    InUse { path: String },
    #[error("no ledger at {path}")]
    NotALedger { path: String },
    #[error("{path} already exists and is not empty; a new ledger needs a new directory")]
    AlreadyExists { path: String },
    #[error("ledger {path}: storage error: {reason}")]
    Sled { path: String, reason: String },
    #[error("a rebuild of ledger {path} was interrupted")]
    RebuildInterrupted { path: String },
    #[error("ledger is damaged: {0}")]
    Corrupt(String),
    #[error("ledger {path} was not compacted and is as it was: {reason}")]
    NotCompacted { path: String, reason: String },
    #[error("entry {seq} refused: {error}")]
    Refused { seq: u64, error: LogError },
}

/// What kind of failure a [`StoreError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A rule refused the entry: nothing was written.
    Refused,
    /// Another process holds the ledger.
    InUse,
    /// There is no ledger there.
    NoLedger,
    /// A ledger is already where a new one was to be made.
    AlreadyExists,
    /// A rebuild was interrupted and must be finished before anything else.
    RebuildInterrupted,
    /// The stored bytes are not what pledger writes: verify, rebuild or restore.
    Damaged,
    /// The storage engine or the disk failed.
    Storage,
    /// A compaction stopped, leaving the ledger as it was.
    NotCompacted,
}

impl StoreError {
    /// The kind of failure, for what a person can do about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::InUse { .. } => ErrorKind::InUse,
            StoreError::NotALedger { .. } => ErrorKind::NoLedger,
            StoreError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            StoreError::Sled { .. } => ErrorKind::Storage,
            StoreError::RebuildInterrupted { .. } => ErrorKind::RebuildInterrupted,
            StoreError::Corrupt(_) => ErrorKind::Damaged,
            StoreError::NotCompacted { .. } => ErrorKind::NotCompacted,
            StoreError::Refused { .. } => ErrorKind::Refused,
        }
    }
}

impl StoreError {
    pub(crate) fn sled(path: &Path, e: sled::Error) -> StoreError {
        StoreError::Sled { path: path.display().to_string(), reason: e.to_string().replace('\n', " ") }
    }
}
