//! Making signed events: a fresh event id, the canonical payload bytes, the DSSE envelope.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use pledger_core::event::PAYLOAD_TYPE;
use pledger_core::{Body, Date, Event, EventId, MemberId};
use rand_core::{OsRng, RngCore};

use crate::dsse::Envelope;
use crate::keys::key_id;

/// A fresh event id: 16 bytes from the operating system's random source.
pub fn new_event_id() -> EventId {
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    EventId(id)
}

/// Who signs, for which ledger, with which key.
pub struct Signer {
    /// The ledger the events are for.
    pub origin: String,
    /// The member signing.
    pub member: MemberId,
    /// Its key.
    pub key: SigningKey,
}

impl Signer {
    /// A new event from this signer, with a fresh id.
    pub fn event(&self, signed_at: DateTime<Utc>, effective: Date, body: Body) -> Event {
        Event {
            id: new_event_id(),
            origin: self.origin.clone(),
            signer: self.member.clone(),
            key: key_id(&self.key.verifying_key()),
            signed_at,
            effective,
            body,
        }
    }

    /// A new event, signed.
    pub fn sign(&self, signed_at: DateTime<Utc>, effective: Date, body: Body) -> Envelope {
        sign_event(&self.event(signed_at, effective, body), &self.key)
    }
}

/// Signs an event's canonical bytes.
pub fn sign_event(event: &Event, key: &SigningKey) -> Envelope {
    Envelope::sign(PAYLOAD_TYPE, event.to_bytes(), key, event.key.as_str())
}
