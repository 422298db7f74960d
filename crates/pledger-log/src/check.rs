//! The one path every entry takes, whether appended, replayed or audited: open the envelope,
//! parse the event from its exact payload bytes, find the key the state says must have signed
//! it, verify the signature, and apply the rules.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use pledger_core::event::{Body, PAYLOAD_TYPE};
use pledger_core::{decide, signing_key, Event, Outcome, Recorded, RuleError, StateView};

use crate::dsse::Envelope;
use crate::entry::Entry;
use crate::error::{LogError, Result};
use crate::keys::{from_event_key, KeyCache};

/// An entry whose event parsed and whose signing key is known, signature not yet verified.
#[derive(Clone)]
pub struct Opened {
    /// The entry, with its parsed event.
    pub recorded: Recorded,
    /// The signing key, from the cache.
    pub key: Arc<crate::ed25519::Key>,
}

/// Parses an envelope's event and checks the envelope's form, without any state.
pub fn parse_event(envelope: &Envelope) -> Result<Event> {
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(LogError::Envelope(format!("payloadType is {:?}, not {PAYLOAD_TYPE:?}", envelope.payload_type)));
    }
    let (keyid, _) = envelope.single_signature()?;
    let event = Event::parse(&envelope.payload)?;
    if keyid != event.key.as_str() {
        return Err(LogError::KeyMismatch { envelope: keyid.to_owned(), event: event.key.to_string() });
    }
    let new_keys = match &event.body {
        Body::Genesis(b) => vec![&b.public_key, &b.log_key],
        Body::MemberAdmitted(b) => vec![&b.public_key],
        Body::KeyAdded(b) => vec![&b.public_key],
        _ => vec![],
    };
    if new_keys.into_iter().any(|pk| from_event_key(pk).is_none()) {
        return Err(LogError::Rule(RuleError::Malformed(
            "public key is not a valid Ed25519 key, or is a weak one".into(),
        )));
    }
    Ok(event)
}

/// Opens `entry` against the state before it: the event and the key it must verify under.
pub fn open<V: StateView + ?Sized>(view: &V, entry: &Entry) -> Result<Opened> {
    open_cached(view, entry, &mut KeyCache::new())
}

/// [`open`], with decompressed keys remembered across entries.
pub fn open_cached<V: StateView + ?Sized>(view: &V, entry: &Entry, keys: &mut KeyCache) -> Result<Opened> {
    let event = parse_event(&entry.envelope)?;
    let pk = signing_key(view, &event, entry.seq)?;
    let key = keys
        .get(&pk)
        .ok_or_else(|| LogError::Rule(RuleError::State(format!("stored key {} is not a valid key", event.key))))?;
    Ok(Opened { recorded: Recorded { seq: entry.seq, recorded_at: entry.recorded_at, event }, key })
}

/// Opens, verifies the signature of, and decides `entry` against the state before it.
pub fn check<V: StateView + ?Sized>(view: &V, entry: &Entry) -> Result<(Recorded, Outcome)> {
    check_cached(view, entry, &mut KeyCache::new())
}

/// [`check`], with decompressed keys remembered across entries.
pub fn check_cached<V: StateView + ?Sized>(
    view: &V,
    entry: &Entry,
    keys: &mut KeyCache,
) -> Result<(Recorded, Outcome)> {
    check_preverified(view, entry, keys, None)
}

/// A signature already checked, in parallel with others, under a key looked up before its
/// group was applied: the key, and whether the signature verified under it.
pub type Preverified = Option<(VerifyingKey, bool)>;

/// [`check_cached`], trusting `pre` only when its key is exactly the one the state says must
/// have signed the entry; otherwise the signature is verified here. Either way the signature
/// is checked strictly (`verify_strict`) under the key the rules name, once.
pub fn check_preverified<V: StateView + ?Sized>(
    view: &V,
    entry: &Entry,
    keys: &mut KeyCache,
    pre: Preverified,
) -> Result<(Recorded, Outcome)> {
    let opened = open_cached(view, entry, keys)?;
    let valid = match pre {
        Some((key, valid)) if &key == opened.key.verifying_key() => valid,
        _ => match entry.envelope.single_signature() {
            Ok((_, sig)) => opened.key.verify(&entry.envelope.signed_bytes(), &sig),
            Err(_) => false,
        },
    };
    if !valid {
        return Err(LogError::BadSignature {
            key: opened.recorded.event.key.to_string(),
            member: opened.recorded.event.signer.to_string(),
        });
    }
    let outcome = decide(view, &opened.recorded)?;
    Ok((opened.recorded, outcome))
}

/// Replaying an entry already verified once (on append, or by a full audit), for `--at N` and
/// `rebuild`: its event is parsed and decided, its signature is not checked again. This is the
/// half that needs no state, so that many lines can be parsed in parallel; [`apply_replayed`]
/// is the other.
pub fn parse_replayed(line: &[u8]) -> Result<Recorded> {
    let entry = Entry::parse(line)?;
    let event = parse_event_unchecked(&entry.envelope)?;
    Ok(Recorded { seq: entry.seq, recorded_at: entry.recorded_at, event })
}

/// The other half of a replay (see [`parse_replayed`]): the rules, in log order.
pub fn apply_replayed(state: &mut pledger_core::MemState, recorded: Recorded) -> Result<()> {
    // The signing key must still be the signer's and live (a rule); its point was checked when
    // the entry was appended, and is not decompressed again.
    signing_key(state, &recorded.event, recorded.seq)?;
    let outcome = decide(state, &recorded)?;
    state.commit_owned(outcome);
    Ok(())
}

/// The event of an envelope already verified once: its form, without decompressing new keys.
fn parse_event_unchecked(envelope: &Envelope) -> Result<Event> {
    let (keyid, _) = envelope.single_signature()?;
    let event = Event::parse(&envelope.payload)?;
    if keyid != event.key.as_str() {
        return Err(LogError::KeyMismatch { envelope: keyid.to_owned(), event: event.key.to_string() });
    }
    Ok(event)
}
