//! Refusals over HTTP, as RFC 9457 problem details (`application/problem+json`): the command
//! line's one-line text as `detail`, a stable `type` per kind of refusal, and the status that
//! fits it.

use pledger_app::{Error, Kind};
use pledger_core::RuleError;
use pledger_log::LogError;
use serde::{Deserialize, Serialize};

/// The media type of a problem.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem, as RFC 9457 has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI reference naming the kind of problem, resolved against the server's address:
    /// `/v1/problems/<slug>` (each answers with what the kind means).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem, the same for every occurrence.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence, in one line.
    pub detail: String,
}

/// Every kind of problem: its slug, title and status.
pub const KINDS: &[(&str, &str, u16)] = &[
    ("bad-request", "The request is malformed", 400),
    ("bad-envelope", "An envelope or event is malformed", 400),
    ("unsupported-media-type", "The body is not of a type this endpoint reads", 415),
    ("payload-too-large", "The body is larger than allowed", 413),
    ("bad-signature", "A signature does not verify under the key the ledger names", 403),
    ("not-authorized", "The signer may not do this", 403),
    ("duplicate", "This is already recorded", 409),
    ("conflict", "A precondition of the request does not hold", 409),
    ("refused", "The ledger's rules refuse this event", 422),
    ("verification-failed", "A verification failed", 422),
    ("not-found", "Nothing in the ledger answers to this", 404),
    ("unavailable", "The ledger is busy or cannot take writes now", 503),
    ("storage", "The ledger's storage failed", 500),
];

impl Problem {
    /// A problem of kind `slug` (one of [`KINDS`]) with `detail`.
    pub fn new(slug: &str, detail: impl Into<String>) -> Problem {
        let (slug, title, status) =
            KINDS.iter().find(|k| k.0 == slug).copied().unwrap_or(("storage", "The ledger's storage failed", 500));
        Problem { kind: format!("/v1/problems/{slug}"), title: title.to_owned(), status, detail: detail.into() }
    }

    /// The slug of its type.
    pub fn slug(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or_default()
    }
}

/// The kind of a refusal by the rules: who may not, what exists already, or what the rules
/// refuse otherwise.
fn refusal_slug(e: &LogError) -> &'static str {
    match e {
        LogError::BadSignature { .. } | LogError::KeyMismatch { .. } => "bad-signature",
        LogError::Envelope(_) | LogError::Entry(_) => "bad-envelope",
        LogError::Rule(r) => match r {
            RuleError::Malformed(_) | RuleError::Field(_) | RuleError::UnsupportedVersion(_) => "bad-envelope",
            RuleError::NotConvener { .. }
            | RuleError::NotKeyManager { .. }
            | RuleError::KeyNotHeld { .. }
            | RuleError::KeyRevoked { .. }
            | RuleError::LogKeyHolder(_)
            | RuleError::NotPledger { .. }
            | RuleError::NotAttester { .. }
            | RuleError::SelfAttestation { .. } => "not-authorized",
            RuleError::DuplicateEvent { .. }
            | RuleError::MemberExists(_)
            | RuleError::AreaExists(_)
            | RuleError::CategoryExists(_)
            | RuleError::DuplicateKey(_)
            | RuleError::KeyAlreadyRevoked { .. }
            | RuleError::IatiOrgHeld { .. } => "duplicate",
            _ => "refused",
        },
        _ => "refused",
    }
}

impl From<&Error> for Problem {
    fn from(e: &Error) -> Self {
        let slug = match (e.kind(), e) {
            (_, Error::Refused { error, .. }) => refusal_slug(error),
            (Kind::Usage | Kind::Input, _) => "bad-request",
            (Kind::NotFound, _) => "not-found",
            (Kind::Conflict, _) => "conflict",
            (Kind::Verification, _) => "verification-failed",
            (Kind::InUse | Kind::Cancelled, _) => "unavailable",
            (Kind::Refused, _) => "refused",
            (Kind::Storage, _) => "storage",
        };
        Problem::new(slug, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_one_slug_and_a_status_that_fits() {
        let mut slugs: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), KINDS.len());
        let p = Problem::from(&Error::Refused {
            at: None,
            error: LogError::Rule(RuleError::NotConvener {
                member: pledger_core::MemberId::parse("psi").unwrap(),
                action: "admits members",
            }),
        });
        assert_eq!((p.status, p.slug()), (403, "not-authorized"));
        assert_eq!(p.detail, "refused: member psi is not a convener; only a convener admits members");
        let own = Problem::from(&Error::Refused {
            at: None,
            error: LogError::Rule(RuleError::SelfAttestation {
                member: pledger_core::MemberId::parse("psi").unwrap(),
                pledge: pledger_core::PledgeId::parse("P-000001").unwrap(),
                fulfillment: pledger_core::FulfillmentId::parse("F-000001").unwrap(),
            }),
        });
        assert_eq!((own.status, own.slug()), (403, "not-authorized"));
        assert_eq!(Problem::from(&Error::usage("bad")).status, 400);
        assert_eq!(Problem::from(&Error::InUse("busy".into())).status, 503);
    }
}
