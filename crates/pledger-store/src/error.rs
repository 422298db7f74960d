//! The one error type of the store.

use std::path::Path;

use thiserror::Error;

use pledger_log::LogError;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("ledger {path} is in use by another process")]
    InUse { path: String },
    #[error("no ledger at {path} (create one with `pledger init`)")]
    NotALedger { path: String },
    #[error("{path} already exists and is not empty; a new ledger needs a new directory")]
    AlreadyExists { path: String },
    #[error("ledger {path}: storage error: {reason}")]
    Sled { path: String, reason: String },
    #[error("a rebuild of ledger {path} was interrupted; run `pledger rebuild` to finish it")]
    RebuildInterrupted { path: String },
    #[error("ledger is damaged: {0}; run `pledger verify` and restore from an export")]
    Corrupt(String),
    #[error("ledger {path} was not compacted and is as it was: {reason}")]
    NotCompacted { path: String, reason: String },
    #[error("entry {seq} refused: {error}")]
    Refused { seq: u64, error: LogError },
}

impl StoreError {
    pub(crate) fn sled(path: &Path, e: sled::Error) -> StoreError {
        StoreError::Sled { path: path.display().to_string(), reason: e.to_string().replace('\n', " ") }
    }
}
