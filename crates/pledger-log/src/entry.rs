//! Log entries: a sequence number, the recording time and the envelope, written as one line of
//! JSON. Those exact bytes are the entry's Merkle leaf and its line in an export bundle
//! (docs/format.md §"Entries").

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::dsse::Envelope;
use crate::error::{LogError, Result};

/// One recorded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub envelope: Envelope,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn<'a> {
    seq: u64,
    #[serde(borrow)]
    recorded: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    envelope: &'a RawValue,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    seq: u64,
    recorded: String,
    envelope: &'a RawValue,
}

/// Writes a recording time as entries carry it: RFC 3339, UTC, milliseconds.
pub fn format_recorded(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Entry {
    /// The entry's line, without a trailing newline: its Merkle leaf bytes.
    pub fn to_line(&self) -> Vec<u8> {
        let env = self.envelope.to_json();
        // The envelope's JSON is always valid, so this cannot fail.
        let raw = RawValue::from_string(env).unwrap_or_else(|_| RawValue::NULL.to_owned());
        let out = EntryOut { seq: self.seq, recorded: format_recorded(&self.recorded_at), envelope: &raw };
        serde_json::to_vec(&out).unwrap_or_default()
    }

    /// Parses an entry's line.
    pub fn parse(line: &[u8]) -> Result<Entry> {
        let wire: EntryIn =
            serde_json::from_slice(line).map_err(|e| LogError::Entry(pledger_core::event::one_line(&e)))?;
        let recorded_at = DateTime::parse_from_rfc3339(&wire.recorded)
            .map_err(|_| LogError::Entry(format!("recorded time {:?} is not RFC 3339", wire.recorded)))?
            .with_timezone(&Utc);
        // pledger alone writes entries, in one form: one spelling per entry, or two leaves
        // could tell the same story.
        if format_recorded(&recorded_at) != wire.recorded {
            return Err(LogError::Entry(format!(
                "recorded time {:?} is not written as pledger writes it (UTC, milliseconds: {})",
                wire.recorded,
                format_recorded(&recorded_at)
            )));
        }
        let envelope = Envelope::parse(wire.envelope.get().as_bytes())?;
        Ok(Entry { seq: wire.seq, recorded_at, envelope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn line_round_trips() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let env = Envelope::sign("t", b"x".to_vec(), &key, "k");
        let at = DateTime::parse_from_rfc3339("2026-11-28T10:00:00.250Z").unwrap().with_timezone(&Utc);
        let e = Entry { seq: 7, recorded_at: at, envelope: env };
        let line = e.to_line();
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.starts_with(
            r#"{"seq":7,"recorded":"2026-11-28T10:00:00.250Z","envelope":{"payloadType":"t","payload":"eA==","#
        ));
        assert_eq!(Entry::parse(&line).unwrap(), e);
        assert!(Entry::parse(&line[..line.len() - 1]).is_err());
    }

    #[test]
    fn a_recording_time_has_one_spelling() {
        // Found by the `entry` fuzz target: microseconds parsed, then wrote back as milliseconds.
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let env = Envelope::sign("t", b"x".to_vec(), &key, "k");
        let at = DateTime::parse_from_rfc3339("2026-01-15T09:00:01.250Z").unwrap().with_timezone(&Utc);
        let line = String::from_utf8(Entry { seq: 0, recorded_at: at, envelope: env }.to_line()).unwrap();
        for other in ["2026-01-15T09:00:01.250100Z", "2026-01-15T09:00:01.25Z", "2026-01-15T10:00:01.250+01:00"] {
            let variant = line.replace("2026-01-15T09:00:01.250Z", other);
            assert!(Entry::parse(variant.as_bytes()).is_err(), "{other} accepted");
        }
    }
}
