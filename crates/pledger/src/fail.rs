//! How the binary fails: one line on stderr and an exit code (0 ok, 1 refused or failed,
//! 2 usage, 75 ledger in use).

use pledger_core::{FieldError, RuleError};
use pledger_log::LogError;
use pledger_store::StoreError;

pub const REFUSED: u8 = 1;
pub const USAGE: u8 = 2;
pub const IN_USE: u8 = 75;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

pub fn usage(message: impl Into<String>) -> Failure {
    Failure { code: USAGE, message: message.into() }
}

pub fn refused(message: impl Into<String>) -> Failure {
    Failure { code: REFUSED, message: message.into() }
}

/// The ledger is held by another process, or its server is busy: exit 75.
pub fn in_use(message: impl Into<String>) -> Failure {
    Failure { code: IN_USE, message: message.into() }
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Self {
        usage(e.to_string())
    }
}

impl From<RuleError> for Failure {
    fn from(e: RuleError) -> Self {
        refused(e.to_string())
    }
}

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        refused(e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        use pledger_store::ErrorKind;
        let code = if e.kind() == ErrorKind::InUse { IN_USE } else { REFUSED };
        let advice = match e.kind() {
            ErrorKind::NoLedger => " (create one with `pledger init`)",
            ErrorKind::RebuildInterrupted => "; run `pledger rebuild` to finish it",
            ErrorKind::Damaged => "; run `pledger verify` and restore from an export",
            _ => "",
        };
        Failure { code, message: format!("{e}{advice}") }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        // A closed pipe (`pledger log | head`) is not worth a message but is still a stop.
        refused(e.to_string())
    }
}

impl From<pledger_log::audit::AuditFailure> for Failure {
    fn from(e: pledger_log::audit::AuditFailure) -> Self {
        refused(format!("verification failed: {e}"))
    }
}
