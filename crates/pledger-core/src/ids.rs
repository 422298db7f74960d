//! Identifiers: members, keys, events, areas, categories, and the short ids the log assigns
//! (`P-000012`). Syntax is in docs/format.md §"Identifiers".

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::FieldError;

/// Longest member id, category code or area code.
pub const MAX_CODE_LEN: usize = 64;

fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_CODE_LEN
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.' || *c == b'_')
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr, $rule:literal) => {
        $(#[$doc])*
        ///
        /// Shared, not copied, when cloned: projections hand the same ids out many times over.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Parses and validates the id.
            pub fn parse(s: &str) -> Result<Self, FieldError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(std::sync::Arc::from(s)))
                } else {
                    Err(FieldError::new($what, s, $rule))
                }
            }
            /// The id as written.
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
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A member's id: `dns`, `psi`, `measure`.
    MemberId,
    "member id",
    is_slug,
    "1-64 characters a-z 0-9 - . _, starting with a letter or digit"
);
string_id!(
    /// A category's code: `funding`, `dhis2-rollout`.
    CategoryCode,
    "category",
    is_slug,
    "1-64 characters a-z 0-9 - . _, starting with a letter or digit"
);
string_id!(
    /// An area's code, ISO 3166-2 where one exists: `ML-3`, `ML-BKO`.
    AreaCode,
    "area code",
    |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_CODE_LEN
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
    },
    "1-64 characters A-Z a-z 0-9 - . _"
);
string_id!(
    /// A key id: 32 lowercase hex digits, the first 16 bytes of blake3 over the raw 32-byte
    /// Ed25519 public key (docs/format.md §"Keys").
    KeyId,
    "key id",
    |s: &str| s.len() == 32 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
    "32 lowercase hex digits"
);

impl KeyId {
    /// The key id of a raw Ed25519 public key.
    pub fn of_public_key(public_key: &[u8; 32]) -> KeyId {
        let hash = blake3::hash(public_key);
        let mut s = String::with_capacity(32);
        for b in &hash.as_bytes()[..16] {
            s.push_str(&format!("{b:02x}"));
        }
        KeyId(std::sync::Arc::from(s))
    }
}

/// An event's unique id, chosen by its signer: 16 random bytes, written as 32 lowercase hex
/// digits. Two events with one id are never both recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// Parses 32 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("event id", s, "32 lowercase hex digits");
        if s.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or_else(bad)?;
            let lo = hex_digit(pair[1]).ok_or_else(bad)?;
            out[i] = hi << 4 | lo;
        }
        Ok(EventId(out))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        EventId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The kinds of record the log numbers in order of recording, each with its own counter and
/// prefix: the 12th pledge recorded is `P-000012`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Numbered {
    /// Pledges, numbered `P-`.
    Pledge,
    /// Fulfillments, numbered `F-`.
    Fulfillment,
    /// Attestations, numbered `A-`.
    Attestation,
    /// Amendments, numbered `M-`.
    Amendment,
    /// Withdrawals, numbered `W-`.
    Withdrawal,
}

impl Numbered {
    /// Every numbered kind.
    pub const ALL: [Numbered; 5] =
        [Numbered::Pledge, Numbered::Fulfillment, Numbered::Attestation, Numbered::Amendment, Numbered::Withdrawal];

    /// The letter its short ids start with.
    pub fn prefix(self) -> char {
        match self {
            Numbered::Pledge => 'P',
            Numbered::Fulfillment => 'F',
            Numbered::Attestation => 'A',
            Numbered::Amendment => 'M',
            Numbered::Withdrawal => 'W',
        }
    }

    /// The kind in words, as messages name it.
    pub fn noun(self) -> &'static str {
        match self {
            Numbered::Pledge => "pledge",
            Numbered::Fulfillment => "fulfillment",
            Numbered::Attestation => "attestation",
            Numbered::Amendment => "amendment",
            Numbered::Withdrawal => "withdrawal",
        }
    }
}

/// A short id the log assigns: a prefix letter and an ordinal from 1, written with at least six
/// digits (`P-000012`). Stable: the ordinal is the record's rank among its kind in log order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortId {
    /// The kind of record.
    pub kind: Numbered,
    /// Its rank among its kind, from 1.
    pub n: u64,
}

impl ShortId {
    /// The short id of the `n`th record of `kind`.
    pub fn new(kind: Numbered, n: u64) -> Self {
        ShortId { kind, n }
    }

    /// Parses `P-000012` (or `P-12`, `p-12`) of any numbered kind.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("id", s, "a letter P, F, A, M or W, a dash and a number from 1, like P-000012");
        let (prefix, digits) = s.split_once('-').ok_or_else(bad)?;
        let kind =
            Numbered::ALL.into_iter().find(|k| prefix.eq_ignore_ascii_case(&k.prefix().to_string())).ok_or_else(bad)?;
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(ShortId { kind, n })
    }

    /// Parses an id that must be of `kind`.
    pub fn parse_as(kind: Numbered, s: &str) -> Result<Self, FieldError> {
        let id = Self::parse(s)?;
        if id.kind != kind {
            return Err(FieldError::new(
                kind.noun(),
                s,
                match kind {
                    Numbered::Pledge => "a pledge id, like P-000012",
                    Numbered::Fulfillment => "a fulfillment id, like F-000031",
                    Numbered::Attestation => "an attestation id, like A-000004",
                    Numbered::Amendment => "an amendment id, like M-000002",
                    Numbered::Withdrawal => "a withdrawal id, like W-000001",
                },
            ));
        }
        Ok(id)
    }
}

impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:06}", self.kind.prefix(), self.n)
    }
}

macro_rules! typed_short_id {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl $name {
            /// Parses a short id of this kind (`P-000012`, `P-12`).
            pub fn parse(s: &str) -> Result<Self, FieldError> {
                ShortId::parse_as($kind, s).map(|id| $name(id.n))
            }
            /// The id as a short id of its kind.
            pub fn short(self) -> ShortId {
                ShortId::new($kind, self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.short().fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_short_id!(
    /// A pledge's short id, `P-000012`.
    PledgeId,
    Numbered::Pledge
);
typed_short_id!(
    /// A fulfillment's short id, `F-000031`.
    FulfillmentId,
    Numbered::Fulfillment
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_round_trip_and_reject_junk() {
        let id = ShortId::parse("P-000012").unwrap();
        assert_eq!(id, ShortId::new(Numbered::Pledge, 12));
        assert_eq!(id.to_string(), "P-000012");
        assert_eq!(ShortId::parse("f-31").unwrap().to_string(), "F-000031");
        assert_eq!(ShortId::new(Numbered::Withdrawal, 1_234_567).to_string(), "W-1234567");
        for bad in ["", "P", "P-", "P-0", "X-1", "P-1a", "P--1", "P-99999999999999999999"] {
            assert!(ShortId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(PledgeId::parse("F-000001").is_err());
        assert_eq!(PledgeId::parse("P-7").unwrap(), PledgeId(7));
    }

    #[test]
    fn member_ids_are_lowercase_slugs() {
        assert!(MemberId::parse("dns").is_ok());
        assert!(MemberId::parse("usaid-ssgi").is_ok());
        for bad in ["", "DNS", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(MemberId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AreaCode::parse("ML-BKO").is_ok());
        assert!(AreaCode::parse("ML BKO").is_err());
    }

    #[test]
    fn event_ids_are_32_hex_digits() {
        let s = "00112233445566778899aabbccddeeff";
        assert_eq!(EventId::parse(s).unwrap().to_string(), s);
        assert!(EventId::parse(&s.to_uppercase()).is_err());
        assert!(EventId::parse(&s[..30]).is_err());
    }

    #[test]
    fn key_id_is_blake3_prefix() {
        let pk = [7u8; 32];
        let id = KeyId::of_public_key(&pk);
        assert_eq!(id.as_str(), &blake3::hash(&pk).to_hex()[..32]);
        assert!(KeyId::parse(id.as_str()).is_ok());
    }
}
