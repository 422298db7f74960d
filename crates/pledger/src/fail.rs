//! How the binary fails: one line on stderr and an exit code (0 ok, 1 refused or failed,
//! 2 usage, 3 a bundle consistent with itself but anchored to nothing, 75 ledger in use) — both from the kind of the application's error, in one match,
//! with the advice a person needs added here, not in the libraries.

use pledger_app::{Advice, Kind};
use serde::{Deserialize, Serialize};

pub const REFUSED: u8 = 1;
pub const USAGE: u8 = 2;
/// `verify --bundle` found the bundle consistent with itself, with no key, checkpoint or witness
/// of the auditor's to anchor it: anyone could have made it.
pub const UNANCHORED: u8 = 3;
pub const IN_USE: u8 = 75;

/// A failure as the command line reports it, and as the ledger's server sends it to a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// An exit code of its own, where the kind's would not say enough ([`UNANCHORED`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<u8>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure { kind, message: message.into(), exit: None }
    }

    /// The exit code of this kind of failure.
    pub fn code(&self) -> u8 {
        if let Some(code) = self.exit {
            return code;
        }
        match self.kind {
            Kind::Usage => USAGE,
            Kind::InUse => IN_USE,
            _ => REFUSED,
        }
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

pub fn usage(message: impl Into<String>) -> Failure {
    Failure::new(Kind::Usage, message)
}

pub fn input(message: impl Into<String>) -> Failure {
    Failure::new(Kind::Input, message)
}

/// The ledger is held by another process, or its server is busy: exit 75.
pub fn in_use(message: impl Into<String>) -> Failure {
    Failure::new(Kind::InUse, message)
}

/// What to do about a failure, in the command line's words.
fn advice(a: Advice) -> &'static str {
    match a {
        Advice::Init => " (create one with `pledger init`)",
        Advice::Rebuild => "; run `pledger rebuild`",
        Advice::FinishRebuild => "; run `pledger rebuild` to finish it",
        Advice::VerifyAndRestore => "; run `pledger verify` and restore from an export",
    }
}

impl From<pledger_app::Error> for Failure {
    fn from(e: pledger_app::Error) -> Self {
        let said = e.advice().map(advice).unwrap_or_default();
        Failure { kind: e.kind(), message: format!("{e}{said}"), exit: None }
    }
}

impl From<pledger_core::FieldError> for Failure {
    fn from(e: pledger_core::FieldError) -> Self {
        usage(e.to_string())
    }
}

impl From<pledger_log::LogError> for Failure {
    fn from(e: pledger_log::LogError) -> Self {
        pledger_app::Error::from(e).into()
    }
}

impl From<pledger_store::StoreError> for Failure {
    fn from(e: pledger_store::StoreError) -> Self {
        pledger_app::Error::from(e).into()
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(Kind::Storage, e.to_string())
    }
}
