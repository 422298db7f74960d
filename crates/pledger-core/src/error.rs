//! The one error type of the core: every variant names the rule of docs/format.md §3 that was broken.

use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

use crate::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, KeyId, MemberId, PledgeId};

/// The core's result: refused with the rule an event broke.
pub type Result<T, E = RuleError> = std::result::Result<T, E>;

/// A value that does not have the syntax its field requires.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad {what} {value:?}: {rule}")]
pub struct FieldError {
    /// What the value is for (`date`, `key id`).
    pub what: &'static str,
    /// The value, or its first 40 characters.
    pub value: String,
    /// The syntax the value must have.
    pub rule: &'static str,
}

impl FieldError {
    /// An error quoting `value`, cut to its first 40 characters: a hostile value may be megabytes long.
    pub fn new(what: &'static str, value: &str, rule: &'static str) -> Self {
        // A hostile value may be megabytes long: the message quotes only its start.
        let mut chars = value.chars();
        let mut value: String = chars.by_ref().take(40).collect();
        if chars.next().is_some() {
            value.push('…');
        }
        FieldError { what, value, rule }
    }
}

/// Why an event was refused. Each message is one line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
pub enum RuleError {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("event format version {0} is not supported (this pledger reads version 1)")]
    UnsupportedVersion(u64),
    #[error("genesis must be entry 0 and only entry 0; this is entry {seq}")]
    GenesisNotFirst { seq: u64 },
    #[error("entry 0 must be a genesis, not a {kind}")]
    FirstNotGenesis { kind: &'static str },
    #[error("event is for ledger {found:?}, not this ledger {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("duplicate event: id {id} is already recorded as entry {seq}")]
    DuplicateEvent { id: EventId, seq: u64 },
    #[error("signing time {signed_at} is more than 5 minutes after the recording time {recorded_at}")]
    SignedInFuture { signed_at: DateTime<Utc>, recorded_at: DateTime<Utc> },
    #[error("recording time {recorded_at} is before the previous entry's {previous}")]
    RecordedBackwards { recorded_at: DateTime<Utc>, previous: DateTime<Utc> },
    #[error("unknown member {0}")]
    UnknownMember(MemberId),
    #[error("key {key} is not a key of member {member}")]
    KeyNotHeld { key: KeyId, member: MemberId },
    #[error("key {key} of member {member} was revoked at entry {revoked_at}")]
    KeyRevoked { key: KeyId, member: MemberId, revoked_at: u64 },
    #[error("key id {claimed} does not match its public key (whose key id is {derived})")]
    KeyIdMismatch { claimed: KeyId, derived: KeyId },
    #[error("key {0} is already registered")]
    DuplicateKey(KeyId),
    #[error("member {member} is not a convener; only a convener {action}")]
    NotConvener { member: MemberId, action: &'static str },
    #[error("member {0} already exists")]
    MemberExists(MemberId),
    #[error("member {signer} may not add or revoke keys of member {member}; only that member or a convener may")]
    NotKeyManager { signer: MemberId, member: MemberId },
    #[error("key {key} of member {member} is already revoked")]
    KeyAlreadyRevoked { key: KeyId, member: MemberId },
    #[error("revoking key {0} would leave no convener with a live key")]
    LastConvenerKey(KeyId),
    #[error("key {0} is the ledger's log key; name another log key (key add --log) before revoking it")]
    LogKeyRevoked(KeyId),
    #[error("a log key is held by a convener, and {0} is not one")]
    LogKeyHolder(MemberId),
    #[error("area {0} already exists")]
    AreaExists(AreaCode),
    #[error("unknown area {0}")]
    UnknownArea(AreaCode),
    #[error("area {code} is a {level} and cannot lie inside {parent}, a {parent_level}")]
    AreaLevel { code: AreaCode, level: &'static str, parent: AreaCode, parent_level: &'static str },
    #[error("category {0} already exists")]
    CategoryExists(CategoryCode),
    #[error("unknown category {0}")]
    UnknownCategory(CategoryCode),
    #[error("a member cannot pledge to itself ({0})")]
    PledgeToSelf(MemberId),
    #[error("unknown pledge {0}")]
    UnknownPledge(PledgeId),
    #[error("unknown fulfillment {0}")]
    UnknownFulfillment(FulfillmentId),
    #[error("member {member} is not the pledger of {pledge} ({pledger} is); only the pledger {action}")]
    NotPledger { member: MemberId, pledge: PledgeId, pledger: MemberId, action: &'static str },
    #[error("member {member} may not attest {fulfillment}: only its beneficiary {beneficiary} or an auditor attests")]
    NotAttester { member: MemberId, fulfillment: FulfillmentId, beneficiary: MemberId },
    #[error("member {member} pledged {pledge} and may not attest its own delivery {fulfillment}")]
    SelfAttestation { member: MemberId, pledge: PledgeId, fulfillment: FulfillmentId },
    #[error("{what} is in {found} but pledge {pledge} is in {expected}")]
    MeasureMismatch { what: &'static str, pledge: PledgeId, expected: String, found: String },
    #[error("fulfillment of {asked} exceeds what remains of pledge {pledge}: {available}")]
    FulfillmentExceedsOutstanding { pledge: PledgeId, asked: String, available: String },
    #[error("fulfillment of {asked} is marked beyond the words, but pledge {pledge} still leaves {available} undelivered: a delivery beyond it claims more than that")]
    NotBeyond { pledge: PledgeId, asked: String, available: String },
    #[error("tranche {n}: {why}")]
    Tranche { n: usize, why: String },
    #[error("IATI organisation {org} is already registered to member {member}")]
    IatiOrgHeld { org: String, member: MemberId },
    #[error("reversal of {asked} exceeds what fulfillment {fulfillment} still counts for: {available}")]
    ReversalExceedsFulfillment { fulfillment: FulfillmentId, asked: String, available: String },
    #[error("withdrawal of {asked} exceeds what of pledge {pledge} is neither withdrawn nor claimed as delivered: {available}")]
    WithdrawalExceedsUndelivered { pledge: PledgeId, asked: String, available: String },
    #[error("nothing of pledge {0} is left to withdraw")]
    NothingToWithdraw(PledgeId),
    #[error("pledge {0} is fully withdrawn: nothing is fulfilled, amended or withdrawn on it")]
    PledgeWithdrawn(PledgeId),
    #[error("{what} dated {date} precedes {of}, dated {of_date}")]
    DateOrder { what: &'static str, date: NaiveDate, of: String, of_date: NaiveDate },
    #[error("an amendment must change something: --due, --title, --area or --increase")]
    EmptyAmendment,
    #[error("{0} overflows: amounts must stay below 2^53")]
    Overflow(String),
    #[error("ledger state unreadable: {0}")]
    State(String),
}

impl RuleError {
    /// Short name of the rule, stable for scripts and tests.
    pub fn rule(&self) -> &'static str {
        match self {
            RuleError::Malformed(_) | RuleError::Field(_) | RuleError::UnsupportedVersion(_) => "malformed",
            RuleError::GenesisNotFirst { .. } | RuleError::FirstNotGenesis { .. } => "genesis",
            RuleError::WrongOrigin { .. } => "origin",
            RuleError::DuplicateEvent { .. } => "duplicate",
            RuleError::SignedInFuture { .. } | RuleError::RecordedBackwards { .. } => "time",
            RuleError::UnknownMember(_)
            | RuleError::UnknownArea(_)
            | RuleError::UnknownCategory(_)
            | RuleError::UnknownPledge(_)
            | RuleError::UnknownFulfillment(_) => "unknown",
            RuleError::KeyNotHeld { .. }
            | RuleError::KeyRevoked { .. }
            | RuleError::KeyIdMismatch { .. }
            | RuleError::DuplicateKey(_)
            | RuleError::KeyAlreadyRevoked { .. }
            | RuleError::LastConvenerKey(_)
            | RuleError::LogKeyRevoked(_)
            | RuleError::LogKeyHolder(_) => "key",
            RuleError::NotConvener { .. }
            | RuleError::NotKeyManager { .. }
            | RuleError::NotPledger { .. }
            | RuleError::NotAttester { .. }
            | RuleError::SelfAttestation { .. } => "authority",
            RuleError::MemberExists(_)
            | RuleError::AreaExists(_)
            | RuleError::CategoryExists(_)
            | RuleError::IatiOrgHeld { .. } => "exists",
            _ => "amounts",
        }
    }
}
