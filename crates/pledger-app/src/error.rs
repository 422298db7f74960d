//! The one error type of the application layer, in kinds a front maps to an exit code or an
//! HTTP status with one match.

use pledger_core::{FieldError, RuleError};
use pledger_log::LogError;
use pledger_store::{ErrorKind, StoreError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The application layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request was not answered. Each message is one line and says what happened; what a
/// person should do about it is the front's to add ([`Error::advice`]).
#[derive(Debug, Error)]
pub enum Error {
    /// The request itself is wrong: a value of the wrong form, an option missing or conflicting.
    #[error("{0}")]
    Usage(String),
    /// A file or body given is not what it must be, or cannot be read.
    #[error("{0}")]
    Input(String),
    /// What the request names is not in the ledger.
    #[error("{0}")]
    NotFound(String),
    /// A rule of the ledger refused an event; nothing was written. `at` names where the event
    /// came from (a file and line) when it came from one.
    #[error("{}refused: {error}", at.as_deref().map(|a| format!("{a}: ")).unwrap_or_default())]
    Refused {
        /// Where the event came from, when from a file: its name and line.
        at: Option<String>,
        /// The rule's refusal.
        #[source]
        error: LogError,
    },
    /// A precondition of the request does not hold (a ledger that changed under it, a
    /// checkpoint that is not the one kept).
    #[error("{0}")]
    Conflict(String),
    /// A verification found the ledger, bundle or proof not as it must be.
    #[error("verification failed: {message}")]
    Verification {
        /// What was found.
        message: String,
        /// Whether only the stored state (not the entries) differs from what the entries
        /// build: a rebuild repairs it.
        altered_store: bool,
    },
    /// Another process holds the ledger, or its server is busy.
    #[error("{0}")]
    InUse(String),
    /// The store failed, or holds what pledger never writes.
    #[error(transparent)]
    Store(StoreError),
    /// The operating system failed a read or a write.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Whoever asked went away before the work was done; what was not yet durable was not
    /// written.
    #[error("{0}")]
    Cancelled(String),
}

/// What kind of failure an [`enum@Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The request is malformed or incomplete.
    Usage,
    /// An input (a file, an envelope, a key) is not what it must be.
    Input,
    /// What the request names is not in the ledger.
    NotFound,
    /// A rule of the ledger refused an event.
    Refused,
    /// A precondition does not hold.
    Conflict,
    /// A verification failed.
    Verification,
    /// The ledger is held by another process.
    InUse,
    /// The store or the disk failed.
    Storage,
    /// The work was stopped before it finished.
    Cancelled,
}

/// What a person can do about a failure, for a front to say in its own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// Create a ledger first.
    Init,
    /// Recompute the stored state from the entries.
    Rebuild,
    /// Finish the rebuild that was interrupted.
    FinishRebuild,
    /// Verify the ledger and restore it from an export.
    VerifyAndRestore,
}

impl Error {
    /// The kind of failure, for an exit status or an HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Usage(_) => Kind::Usage,
            Error::Input(_) => Kind::Input,
            Error::NotFound(_) => Kind::NotFound,
            Error::Refused { .. } => Kind::Refused,
            Error::Conflict(_) => Kind::Conflict,
            Error::Verification { .. } => Kind::Verification,
            Error::InUse(_) => Kind::InUse,
            Error::Store(_) | Error::Io(_) => Kind::Storage,
            Error::Cancelled(_) => Kind::Cancelled,
        }
    }

    /// What a person can do about it, if anything.
    pub fn advice(&self) -> Option<Advice> {
        match self {
            Error::Verification { altered_store: true, .. } => Some(Advice::Rebuild),
            Error::Store(e) => match e.kind() {
                ErrorKind::NoLedger => Some(Advice::Init),
                ErrorKind::RebuildInterrupted => Some(Advice::FinishRebuild),
                ErrorKind::Damaged => Some(Advice::VerifyAndRestore),
                _ => None,
            },
            _ => None,
        }
    }

    /// The request is malformed or incomplete.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }

    /// An input is not what it must be.
    pub fn input(message: impl Into<String>) -> Error {
        Error::Input(message.into())
    }

    /// What the request names is not in the ledger.
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::NotFound(message.into())
    }

    /// A failed verification.
    pub fn failed(message: impl std::fmt::Display) -> Error {
        Error::Verification { message: message.to_string(), altered_store: false }
    }

    /// A failed verification that found the store altered behind pledger's back.
    pub fn altered(message: impl std::fmt::Display) -> Error {
        Error::Verification { message: message.to_string(), altered_store: true }
    }

    /// A refusal of an event that came from `at` (a file and line).
    pub fn refused_at(at: impl Into<String>, error: LogError) -> Error {
        Error::Refused { at: Some(at.into()), error }
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused { error, .. } => Error::Refused { at: None, error },
            StoreError::InUse { .. } => Error::InUse(e.to_string()),
            e => Error::Store(e),
        }
    }
}

/// A rule read from a state view: a refusal, unless the state could not be read.
impl From<RuleError> for Error {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::State(why) => Error::Store(StoreError::Corrupt(why)),
            RuleError::Field(f) => Error::Usage(f.to_string()),
            e => Error::Refused { at: None, error: LogError::Rule(e) },
        }
    }
}

impl From<LogError> for Error {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Rule(r) => r.into(),
            LogError::BadSignature { .. } | LogError::KeyMismatch { .. } => Error::Refused { at: None, error: e },
            LogError::Io(io) => Error::Io(io),
            LogError::Proof(_) => Error::failed(e),
            e => Error::Input(e.to_string()),
        }
    }
}
