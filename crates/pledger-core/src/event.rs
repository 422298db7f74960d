//! The eleven kinds of event and their JSON form (docs/format.md §"Events"). An event is parsed
//! from exactly the bytes its signer signed; [`Event::to_bytes`] is how pledger writes new ones.

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::{FieldError, RuleError};
use crate::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, KeyId, MemberId, PledgeId};
use crate::measure::Measure;

/// DSSE `payloadType` of a pledger event.
pub const PAYLOAD_TYPE: &str = "application/vnd.pledger.event+json";
/// Format version written in every event's `v`.
pub const EVENT_VERSION: u64 = 1;
/// Largest event payload accepted, in bytes; checked before parsing. Its envelope, in base64
/// (64,000 bytes) with its signature, then fits the envelope bound, and its entry an entry
/// bundle (docs/format.md §3, §12).
pub const MAX_EVENT_BYTES: usize = 48_000;

/// An event's kind, as written in its `kind` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Names the ledger, its first convener and its log key (entry 0 only).
    Genesis,
    /// A convener admits a member.
    MemberAdmitted,
    /// A further key for a member, or the ledger's next log key.
    KeyAdded,
    /// A member's key stops signing.
    KeyRevoked,
    /// A place pledges may cover.
    AreaDefined,
    /// A further category of what is pledged.
    CategoryDefined,
    /// A promise of an amount to a member, by a date.
    Pledge,
    /// A change to a pledge's due date, title, areas, or an increase.
    Amendment,
    /// The pledger's claim that part of a pledge was delivered.
    Fulfillment,
    /// A verdict on a fulfillment by its beneficiary or an auditor.
    Attestation,
    /// The pledger takes back what is still undelivered of a pledge.
    Withdrawal,
    /// The pledger takes back part of a fulfillment it claimed.
    Reversal,
    /// A further IATI organisation identifier for a member.
    IatiOrgAdded,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 13] = [
        Kind::Genesis,
        Kind::MemberAdmitted,
        Kind::KeyAdded,
        Kind::KeyRevoked,
        Kind::AreaDefined,
        Kind::CategoryDefined,
        Kind::Pledge,
        Kind::Amendment,
        Kind::Fulfillment,
        Kind::Attestation,
        Kind::Withdrawal,
        Kind::Reversal,
        Kind::IatiOrgAdded,
    ];

    /// The kind of numbered record an event of this kind creates, if any.
    pub fn numbered(self) -> Option<crate::ids::Numbered> {
        use crate::ids::Numbered;
        match self {
            Kind::Pledge => Some(Numbered::Pledge),
            Kind::Fulfillment => Some(Numbered::Fulfillment),
            Kind::Attestation => Some(Numbered::Attestation),
            Kind::Amendment => Some(Numbered::Amendment),
            Kind::Withdrawal => Some(Numbered::Withdrawal),
            _ => None,
        }
    }

    /// The kind as written in the event's `kind` field (`member-admitted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Genesis => "genesis",
            Kind::MemberAdmitted => "member-admitted",
            Kind::KeyAdded => "key-added",
            Kind::KeyRevoked => "key-revoked",
            Kind::AreaDefined => "area-defined",
            Kind::CategoryDefined => "category-defined",
            Kind::Pledge => "pledge",
            Kind::Amendment => "amendment",
            Kind::Fulfillment => "fulfillment",
            Kind::Attestation => "attestation",
            Kind::Withdrawal => "withdrawal",
            Kind::Reversal => "reversal",
            Kind::IatiOrgAdded => "iati-org-added",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberKind {
    /// A ministry or other public body of the country.
    Government,
    /// A funder.
    Donor,
    /// An organisation that carries out work (an NGO, a contractor).
    Implementer,
    /// An organisation that checks deliveries; it may attest any fulfillment.
    Auditor,
    /// Any other partner.
    Other,
}

impl MemberKind {
    /// Parses the kind as written in the event (`donor`).
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| FieldError::new("member kind", s, "one of government, donor, implementer, auditor, other"))
    }
    /// The kind as written in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Government => "government",
            MemberKind::Donor => "donor",
            MemberKind::Implementer => "implementer",
            MemberKind::Auditor => "auditor",
            MemberKind::Other => "other",
        }
    }
}

/// An area's level, from the largest to the smallest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A whole country.
    Country,
    /// A region of a country.
    Region,
    /// A district of a region.
    District,
    /// One health facility.
    Facility,
}

impl Level {
    /// Parses the level as written in the event (`district`).
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| FieldError::new("area level", s, "one of country, region, district, facility"))
    }
    /// The level as written in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Country => "country",
            Level::Region => "region",
            Level::District => "district",
            Level::Facility => "facility",
        }
    }
}

/// An attester's verdict on a fulfillment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The delivery happened as claimed.
    Confirmed,
    /// The delivery did not happen as claimed.
    Disputed,
}

impl Verdict {
    /// The verdict as written in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Disputed => "disputed",
        }
    }
}

macro_rules! text {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:expr, $max:expr, $multiline:expr, $rule:literal) => {
        $(#[$doc])*
        // Shared text: records holding it are cloned by the rules at every event that touches
        // them, and a clone is then a count, not a copy.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Parses and validates the text.
            pub fn parse(s: &str) -> Result<Self, FieldError> {
                let n = s.chars().count();
                let multiline: bool = $multiline;
                let ok = ($min..=$max).contains(&n)
                    && s.trim() == s
                    && !s.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')));
                if ok {
                    Ok($name(s.into()))
                } else {
                    Err(FieldError::new($what, s, $rule))
                }
            }
            /// The text itself.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text!(
    /// A name (of a member, area or category): 1–200 characters on one line.
    Name, "name", 1, 200, false, "1-200 characters on one line, without outer spaces"
);
text!(
    /// A pledge's title: 1–300 characters on one line.
    Title, "title", 1, 300, false, "1-300 characters on one line, without outer spaces"
);
text!(
    /// A note or reason: up to 4000 characters; may span lines.
    Note, "note", 0, 4000, true, "at most 4000 characters, without outer spaces"
);
text!(
    /// An IATI organisation identifier (`reporting-org/@ref`, e.g. XM-DAC-41114): 1–150
    /// characters on one line.
    OrgRef, "IATI organisation identifier", 1, 150, false, "1-150 characters on one line, without outer spaces"
);
text!(
    /// A URL pointing to evidence: up to 2000 characters.
    Url, "url", 1, 2000, false, "1-2000 characters on one line"
);

/// A raw Ed25519 public key, written in JSON as standard base64 of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key id of this key: the first 16 bytes of its blake3 hash, in hex (docs/format.md §2).
    pub fn key_id(&self) -> KeyId {
        KeyId::of_public_key(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", B64.encode(self.0))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        let bytes = B64
            .decode(s.as_bytes())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| serde::de::Error::custom(FieldError::new("public key", &s, "base64 of 32 bytes")))?;
        Ok(PublicKey(bytes))
    }
}

/// A file's blake3 hash offered as evidence: 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Blake3Hex(String);

impl Blake3Hex {
    /// Parses 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        if s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            Ok(Blake3Hex(s.to_owned()))
        } else {
            Err(FieldError::new("blake3 hash", s, "64 lowercase hex digits"))
        }
    }
    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Blake3Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blake3Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        Blake3Hex::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `genesis`: names the ledger's first convener, its first key, and the log key that signs the
/// ledger's checkpoints (held by the convener; often the same key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The first member's id (a convener).
    pub member: MemberId,
    /// The first member's name.
    pub name: Name,
    /// The first member's kind.
    pub kind: MemberKind,
    /// The first member's first key.
    pub public_key: PublicKey,
    /// The key that signs the ledger's checkpoints.
    pub log_key: PublicKey,
}

/// `member-admitted`: a convener admits an organisation with its first key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberAdmitted {
    /// The new member's id, unique in the ledger.
    pub member: MemberId,
    /// The new member's name.
    pub name: Name,
    /// The new member's kind.
    pub kind: MemberKind,
    /// Whether the new member is a convener: it may admit members and define areas and categories.
    pub convener: bool,
    /// The new member's first key.
    pub public_key: PublicKey,
    /// The IATI organisation identifiers the member publishes under: the only activities its
    /// `import iati` takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iati_orgs: Vec<OrgRef>,
}

/// `iati-org-added`: a convener records that a member publishes IATI activities under one more
/// organisation identifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IatiOrgAdded {
    /// The member the identifier is added to.
    pub member: MemberId,
    /// The IATI organisation identifier (`reporting-org/@ref`).
    pub iati_org: OrgRef,
}

/// `key-added`: a further key for a member. With `log`, added by a convener to a convener, the
/// key becomes the ledger's log key: it signs the checkpoints from this entry on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAdded {
    /// The member the key is added to.
    pub member: MemberId,
    /// The new key.
    pub public_key: PublicKey,
    /// Whether the key becomes the ledger's log key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log: bool,
}

/// `key-revoked`: a member's key signs nothing recorded after this event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoked {
    /// The member whose key is revoked.
    pub member: MemberId,
    /// The id of the revoked key.
    pub key: KeyId,
    /// Why, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Note>,
}

/// `area-defined`: a place pledges may cover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaDefined {
    /// The area's code, unique in the ledger (`ML`, `ML-3`).
    pub code: AreaCode,
    /// The area's name.
    pub name: Name,
    /// The area's level.
    pub level: Level,
    /// The area it lies in, of a larger level; none for a country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<AreaCode>,
}

/// `category-defined`: a further category of what is pledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDefined {
    /// The category's code, unique in the ledger.
    pub code: CategoryCode,
    /// The category's name.
    pub name: Name,
}

/// `pledge`: the signer promises `amount` to member `to`, by `due` — or, with `tranches`, in
/// parts each due by its own date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PledgeBody {
    /// The beneficiary: the member the pledge is made to.
    pub to: MemberId,
    /// What is pledged.
    pub category: CategoryCode,
    /// Where: the areas the pledge covers (none for the whole ledger).
    pub areas: Vec<AreaCode>,
    /// How much: money in minor units of a currency, or a count of a unit.
    pub amount: Measure,
    /// When it is due; no tranche is due after it.
    pub due: Date,
    /// What the pledge is, in one line.
    pub title: Title,
    /// The schedule in parts, dates strictly increasing, amounts adding up to `amount`; empty
    /// for one amount due by `due`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tranches: Vec<Tranche>,
}

/// One part of a pledge's schedule: `amount`, due by `due`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tranche {
    /// When this part is due.
    pub due: Date,
    /// How much of the pledge this part is, in the pledge's unit.
    pub amount: Measure,
}

/// `amendment`: a change to a pledge; an amount only ever increases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentBody {
    /// The pledge amended.
    pub pledge: PledgeId,
    /// The new due date, if it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Date>,
    /// The new title, if it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Title>,
    /// The new areas, if they change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub areas: Option<Vec<AreaCode>>,
    /// How much the pledge grows by, in its unit, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increase: Option<Measure>,
}

/// Evidence of a delivery: a file's blake3 hash and/or a URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The blake3 hash of a file that shows the delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<Blake3Hex>,
    /// Where the evidence can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
}

/// `fulfillment`: the pledger claims `amount` of a pledge was delivered on the effective date.
/// With `beyond`, the pledger says the delivery goes past what the pledge leaves undelivered:
/// the excess is recorded as delivered beyond the words (as real aid data has it), and a
/// withdrawn pledge may still be delivered on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfillmentBody {
    /// The pledge delivered on.
    pub pledge: PledgeId,
    /// How much was delivered, in the pledge's unit.
    pub amount: Measure,
    /// Whether the delivery goes beyond what the pledge leaves undelivered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub beyond: bool,
    /// What shows the delivery, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// A note, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

/// `attestation`: the beneficiary's or an auditor's verdict on one fulfillment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationBody {
    /// The fulfillment judged.
    pub fulfillment: FulfillmentId,
    /// The verdict.
    pub verdict: Verdict,
    /// A note, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

/// `withdrawal`: the pledger takes back `amount`, or all that is still undelivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    /// The pledge withdrawn from.
    pub pledge: PledgeId,
    /// How much is taken back; all that is still undelivered when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Measure>,
    /// Why.
    pub reason: Note,
}

/// `reversal`: the pledger takes back `amount` of a fulfillment it claimed (a refund, a
/// cancelled payment, a corrected expenditure). The fulfillment stays in the history; what it
/// counts for is reduced from the effective date on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    /// The fulfillment reversed.
    pub fulfillment: FulfillmentId,
    /// How much of it no longer counts, in the pledge's unit.
    pub amount: Measure,
    /// Why.
    pub reason: Note,
}

/// The kind-specific part of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A `genesis` body.
    Genesis(Genesis),
    /// A `member-admitted` body.
    MemberAdmitted(MemberAdmitted),
    /// A `key-added` body.
    KeyAdded(KeyAdded),
    /// A `key-revoked` body.
    KeyRevoked(KeyRevoked),
    /// An `area-defined` body.
    AreaDefined(AreaDefined),
    /// A `category-defined` body.
    CategoryDefined(CategoryDefined),
    /// A `pledge` body.
    Pledge(PledgeBody),
    /// An `amendment` body.
    Amendment(AmendmentBody),
    /// A `fulfillment` body.
    Fulfillment(FulfillmentBody),
    /// An `attestation` body.
    Attestation(AttestationBody),
    /// A `withdrawal` body.
    Withdrawal(WithdrawalBody),
    /// A `reversal` body.
    Reversal(ReversalBody),
    /// An `iati-org-added` body.
    IatiOrgAdded(IatiOrgAdded),
}

impl Body {
    /// The kind of event the body is for.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Genesis(_) => Kind::Genesis,
            Body::MemberAdmitted(_) => Kind::MemberAdmitted,
            Body::KeyAdded(_) => Kind::KeyAdded,
            Body::KeyRevoked(_) => Kind::KeyRevoked,
            Body::AreaDefined(_) => Kind::AreaDefined,
            Body::CategoryDefined(_) => Kind::CategoryDefined,
            Body::Pledge(_) => Kind::Pledge,
            Body::Amendment(_) => Kind::Amendment,
            Body::Fulfillment(_) => Kind::Fulfillment,
            Body::Attestation(_) => Kind::Attestation,
            Body::Withdrawal(_) => Kind::Withdrawal,
            Body::Reversal(_) => Kind::Reversal,
            Body::IatiOrgAdded(_) => Kind::IatiOrgAdded,
        }
    }

    /// Parses the body of an event of `kind` from its JSON text.
    pub fn parse(kind: Kind, json: &str) -> Result<Body, serde_json::Error> {
        Ok(match kind {
            Kind::Genesis => Body::Genesis(serde_json::from_str(json)?),
            Kind::MemberAdmitted => Body::MemberAdmitted(serde_json::from_str(json)?),
            Kind::KeyAdded => Body::KeyAdded(serde_json::from_str(json)?),
            Kind::KeyRevoked => Body::KeyRevoked(serde_json::from_str(json)?),
            Kind::AreaDefined => Body::AreaDefined(serde_json::from_str(json)?),
            Kind::CategoryDefined => Body::CategoryDefined(serde_json::from_str(json)?),
            Kind::Pledge => Body::Pledge(serde_json::from_str(json)?),
            Kind::Amendment => Body::Amendment(serde_json::from_str(json)?),
            Kind::Fulfillment => Body::Fulfillment(serde_json::from_str(json)?),
            Kind::Attestation => Body::Attestation(serde_json::from_str(json)?),
            Kind::Withdrawal => Body::Withdrawal(serde_json::from_str(json)?),
            Kind::Reversal => Body::Reversal(serde_json::from_str(json)?),
            Kind::IatiOrgAdded => Body::IatiOrgAdded(serde_json::from_str(json)?),
        })
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Genesis(b) => b.serialize(s),
            Body::MemberAdmitted(b) => b.serialize(s),
            Body::KeyAdded(b) => b.serialize(s),
            Body::KeyRevoked(b) => b.serialize(s),
            Body::AreaDefined(b) => b.serialize(s),
            Body::CategoryDefined(b) => b.serialize(s),
            Body::Pledge(b) => b.serialize(s),
            Body::Amendment(b) => b.serialize(s),
            Body::Fulfillment(b) => b.serialize(s),
            Body::Attestation(b) => b.serialize(s),
            Body::Withdrawal(b) => b.serialize(s),
            Body::Reversal(b) => b.serialize(s),
            Body::IatiOrgAdded(b) => b.serialize(s),
        }
    }
}

/// A calendar date, `YYYY-MM-DD`, year 1900 to 2999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    /// Parses `YYYY-MM-DD` between 1900 and 2999.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("date", s, "a calendar date YYYY-MM-DD between 1900 and 2999");
        if s.len() != 10 {
            return Err(bad());
        }
        // The written form, read without chrono's format interpreter (records hold thousands
        // of dates); any other spelling goes to chrono, which decides as it always has.
        let d = match digits_at(s.as_bytes(), &[(0, 4), (5, 2), (8, 2)], &[4, 7], b'-') {
            Some([y, m, d]) => NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(bad)?,
            None => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?,
        };
        if !(1900..=2999).contains(&d.year()) {
            return Err(bad());
        }
        Ok(Date(d))
    }
}

/// The numbers at `fields` (start, width) of `b`, when every one of them is ASCII digits and
/// every byte at `separators` is `sep`; `None` otherwise.
pub fn digits_at<const N: usize>(
    b: &[u8],
    fields: &[(usize, usize); N],
    separators: &[usize],
    sep: u8,
) -> Option<[u32; N]> {
    if separators.iter().any(|&i| b.get(i) != Some(&sep)) {
        return None;
    }
    let mut out = [0u32; N];
    for (slot, &(start, width)) in out.iter_mut().zip(fields) {
        for &c in b.get(start..start + width)? {
            if !c.is_ascii_digit() {
                return None;
            }
            *slot = *slot * 10 + u32::from(c - b'0');
        }
    }
    Some(out)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.year() {
            y @ 0..=9999 => write!(f, "{y:04}-{:02}-{:02}", self.0.month(), self.0.day()),
            _ => write!(f, "{}", self.0.format("%Y-%m-%d")),
        }
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses an RFC 3339 time (`2026-11-28T09:30:00Z`, any offset), as UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FieldError::new("time", s, "an RFC 3339 time like 2026-11-28T09:30:00Z"))
}

/// Writes a time as pledger does: RFC 3339, UTC, whole seconds (`2026-11-28T09:30:00Z`), with
/// the fraction of a second only when there is one (as a time read from another signer may have).
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A signed statement of one thing that happened, with who signed it and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's unique id, chosen by its signer.
    pub id: EventId,
    /// The ledger the event is for: it cannot be replayed into another.
    pub origin: String,
    /// The member who signed it.
    pub signer: MemberId,
    /// The id of the key it was signed with.
    pub key: KeyId,
    /// When it was signed, by the signer's clock.
    pub signed_at: DateTime<Utc>,
    /// The date the event takes effect in the world (a delivery's date, say), which may be in the past.
    pub effective: Date,
    /// What happened.
    pub body: Body,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn<'a> {
    v: u64,
    id: EventId,
    #[serde(borrow)]
    origin: Cow<'a, str>,
    kind: Kind,
    signer: MemberId,
    key: KeyId,
    #[serde(borrow)]
    signed_at: Cow<'a, str>,
    effective: Date,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u64,
    id: &'a EventId,
    origin: &'a str,
    kind: Kind,
    signer: &'a MemberId,
    key: &'a KeyId,
    signed_at: String,
    effective: &'a Date,
    body: &'a Body,
}

/// Longest ledger origin, in bytes.
pub const MAX_ORIGIN_LEN: usize = 200;

/// Checks a ledger origin: 1–200 printable ASCII characters, no spaces (like
/// `hmis.sante.gov.ml/pledges`), as C2SP tlog-checkpoint origins are written.
pub fn check_origin(s: &str) -> Result<(), FieldError> {
    if !s.is_empty() && s.len() <= MAX_ORIGIN_LEN && s.bytes().all(|c| c.is_ascii_graphic()) && !s.contains('+') {
        Ok(())
    } else {
        Err(FieldError::new("origin", s, "1-200 printable ASCII characters without spaces or '+'"))
    }
}

impl Event {
    /// Parses an event from the exact payload bytes that were signed. Refuses payloads over
    /// [`MAX_EVENT_BYTES`], unknown fields, unknown kinds and any value of the wrong syntax.
    pub fn parse(payload: &[u8]) -> Result<Event, RuleError> {
        if payload.len() > MAX_EVENT_BYTES {
            return Err(RuleError::Malformed(format!(
                "event is {} bytes, more than the {MAX_EVENT_BYTES} allowed",
                payload.len()
            )));
        }
        let text = std::str::from_utf8(payload).map_err(|_| RuleError::Malformed("event is not UTF-8".into()))?;
        let wire: WireIn = serde_json::from_str(text).map_err(|e| RuleError::Malformed(one_line(&e)))?;
        if wire.v != EVENT_VERSION {
            return Err(RuleError::UnsupportedVersion(wire.v));
        }
        check_origin(&wire.origin)?;
        let signed_at = parse_time(&wire.signed_at)?;
        let body = Body::parse(wire.kind, wire.body.get())
            .map_err(|e| RuleError::Malformed(format!("{} body: {}", wire.kind, one_line(&e))))?;
        Ok(Event {
            id: wire.id,
            origin: wire.origin.into_owned(),
            signer: wire.signer,
            key: wire.key,
            signed_at,
            effective: wire.effective,
            body,
        })
    }

    /// The canonical bytes pledger signs: compact JSON, fields in the order of
    /// docs/format.md §"Events", `signed_at` in whole UTC seconds.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = WireOut {
            v: EVENT_VERSION,
            id: &self.id,
            origin: &self.origin,
            kind: self.body.kind(),
            signer: &self.signer,
            key: &self.key,
            signed_at: format_time(&self.signed_at),
            effective: &self.effective,
            body: &self.body,
        };
        serde_json::to_vec(&wire).expect("an event of strings, integers and dates serialises to JSON")
    }

    /// The event's kind.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }
}

/// A serde_json error as one line, without the position noise for short inputs.
pub fn one_line(e: &serde_json::Error) -> String {
    e.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Unit;

    fn pledge_event() -> Event {
        Event {
            id: EventId([0x11; 16]),
            origin: "hmis.sante.gov.ml/pledges".into(),
            signer: MemberId::parse("psi").unwrap(),
            key: KeyId::parse("00112233445566778899aabbccddeeff").unwrap(),
            signed_at: parse_time("2026-11-28T09:30:00Z").unwrap(),
            effective: Date::parse("2014-03-01").unwrap(),
            body: Body::Pledge(PledgeBody {
                to: MemberId::parse("dns").unwrap(),
                category: CategoryCode::parse("software").unwrap(),
                areas: vec![AreaCode::parse("ML-3").unwrap()],
                amount: Measure::new(25_000_000, Unit::currency("XOF").unwrap()).unwrap(),
                due: Date::parse("2015-06-30").unwrap(),
                title: Title::parse("DHIS 2 roll-out in Sikasso").unwrap(),
                tranches: Vec::new(),
            }),
        }
    }

    #[test]
    fn canonical_bytes_are_exact_and_round_trip() {
        let e = pledge_event();
        let bytes = e.to_bytes();
        let expected = concat!(
            r#"{"v":1,"id":"11111111111111111111111111111111","origin":"hmis.sante.gov.ml/pledges","#,
            r#""kind":"pledge","signer":"psi","key":"00112233445566778899aabbccddeeff","#,
            r#""signed_at":"2026-11-28T09:30:00Z","effective":"2014-03-01","body":{"to":"dns","#,
            r#""category":"software","areas":["ML-3"],"amount":{"minor":25000000,"currency":"XOF"},"#,
            r#""due":"2015-06-30","title":"DHIS 2 roll-out in Sikasso"}}"#
        );
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        assert_eq!(Event::parse(&bytes).unwrap(), e);
    }

    #[test]
    fn refuses_malformed_events_in_one_line() {
        let good = String::from_utf8(pledge_event().to_bytes()).unwrap();
        let cases = [
            good.replace("\"v\":1", "\"v\":2"),
            good.replace("pledge\",\"signer", "promise\",\"signer"),
            good.replace("\"due\":\"2015-06-30\"", "\"due\":\"2015-02-30\""),
            good.replace("25000000", "-5"),
            good.replace("\"title\"", "\"extra\":1,\"title\""),
            good.replace("hmis.sante.gov.ml/pledges", "has space"),
            good[..good.len() - 2].to_owned(),
            "[]".to_owned(),
            "{".repeat(10_000),
        ];
        for case in cases {
            let err = Event::parse(case.as_bytes()).unwrap_err().to_string();
            assert!(!err.contains('\n'), "{err}");
        }
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_EVENT_BYTES));
        assert!(Event::parse(big.as_bytes()).unwrap_err().to_string().contains("bytes"));
    }

    #[test]
    fn signing_times_from_other_signers_keep_their_precision() {
        let mut e = pledge_event();
        e.signed_at = parse_time("2026-11-28T10:30:00.123456+01:00").unwrap();
        let bytes = e.to_bytes();
        assert!(String::from_utf8(bytes.clone()).unwrap().contains("\"signed_at\":\"2026-11-28T09:30:00.123456Z\""));
        assert_eq!(Event::parse(&bytes).unwrap(), e);
    }

    #[test]
    fn dates_are_checked() {
        assert!(Date::parse("2014-02-28").is_ok());
        for bad in ["2014-02-29", "2014-2-28", "14-02-28", "3014-01-01", "2014-02-28T00:00:00Z", ""] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// The written form is read and written without chrono's format interpreter; every
        /// string is accepted or refused exactly as chrono's `%Y-%m-%d` does, and written back
        /// as chrono writes it.
        #[test]
        fn dates_read_and_write_as_chrono_does(s in "[0-9 +-]{0,3}[0-9]{1,4}[-/ ][0-9 ]{1,2}[- ][0-9 +]{1,3}") {
            let chrono = (s.len() == 10)
                .then(|| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
                .flatten()
                .filter(|d| (1900..=2999).contains(&d.year()));
            let ours = Date::parse(&s).ok();
            proptest::prop_assert_eq!(ours.map(|d| d.0), chrono);
            if let Some(d) = ours {
                proptest::prop_assert_eq!(d.to_string(), d.0.format("%Y-%m-%d").to_string());
            }
        }

        #[test]
        fn any_day_is_written_as_chrono_writes_it(days in -800_000i32..3_000_000) {
            let d = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            let written = d.format("%Y-%m-%d").to_string();
            proptest::prop_assert_eq!(Date(d).to_string(), written.clone());
            // And read back exactly when chrono reads it back (years 1900 to 2999).
            let chrono = (written.len() == 10)
                .then(|| NaiveDate::parse_from_str(&written, "%Y-%m-%d").ok())
                .flatten()
                .filter(|d| (1900..=2999).contains(&d.year()));
            proptest::prop_assert_eq!(Date::parse(&written).ok().map(|d| d.0), chrono);
        }
    }
}
