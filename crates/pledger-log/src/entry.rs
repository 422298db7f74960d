//! Log entries: a sequence number, the recording time and the envelope, written as one line of
//! JSON. Those exact bytes are the entry's Merkle leaf and its line in an export bundle
//! (docs/format.md §"Entries").

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::dsse::Envelope;
use crate::error::{LogError, Result};

/// Largest entry line, in bytes: an entry bundle (C2SP tlog-tiles) gives each entry's length as
/// a big-endian uint16. An envelope within [`crate::dsse::MAX_ENVELOPE_BYTES`] makes an entry
/// within it, with room for the sequence number and the recording time.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// One recorded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the log, from 0.
    pub seq: u64,
    /// When the log recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The envelope as submitted.
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

/// An entry line read in one pass, its envelope included.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryWhole<'a> {
    seq: u64,
    #[serde(borrow)]
    recorded: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    envelope: crate::dsse::EnvelopeWire<'a>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    seq: u64,
    recorded: String,
    envelope: &'a RawValue,
}

/// Writes a recording time as entries carry it: RFC 3339, UTC, milliseconds.
pub fn format_recorded(t: &DateTime<Utc>) -> String {
    let (d, time) = (t.date_naive(), t.time());
    match (d.year(), time.nanosecond()) {
        // chrono's own writer, spelled out: a million entries are read in an audit.
        (y @ 0..=9999, ns @ 0..=999_999_999) => format!(
            "{y:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.month(),
            d.day(),
            time.hour(),
            time.minute(),
            time.second(),
            ns / 1_000_000
        ),
        // Years beyond four digits, leap seconds: as chrono writes them.
        _ => t.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// Reads a recording time in the form pledger writes (`2026-11-28T10:00:00.250Z`) without
/// chrono's parser, or with it for any other spelling; says which (`true`: read in pledger's
/// form, so [`format_recorded`] writes it back exactly — property-tested below).
fn parse_recorded(s: &str) -> Option<(DateTime<Utc>, bool)> {
    let fields = [(0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2), (20, 3)];
    let fast = (s.len() == 24 && s.ends_with('Z') && s.as_bytes().get(10) == Some(&b'T'))
        .then(|| pledger_core::event::digits_at(s.as_bytes(), &fields, &[4, 7], b'-'))
        .flatten()
        .filter(|_| [13, 16].iter().all(|&i| s.as_bytes()[i] == b':') && s.as_bytes()[19] == b'.')
        .and_then(|[y, mo, d, h, mi, sec, ms]| {
            chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_milli_opt(h, mi, sec, ms)
        });
    match fast {
        Some(t) => Some((t.and_utc(), true)),
        None => DateTime::parse_from_rfc3339(s).ok().map(|t| (t.with_timezone(&Utc), false)),
    }
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
        if line.len() > MAX_ENTRY_BYTES {
            return Err(LogError::Entry(format!(
                "{} bytes, more than the {MAX_ENTRY_BYTES} an entry holds",
                line.len()
            )));
        }
        // One pass over a line too short to hold an oversized envelope (a million lines are read
        // in an audit); whatever fails there is read again below, which names the problem.
        if line.len() <= crate::dsse::MAX_ENVELOPE_BYTES {
            if let Ok(wire) = serde_json::from_slice::<EntryWhole>(line) {
                if let Ok(entry) = Self::of(wire.seq, &wire.recorded, || Envelope::from_wire(wire.envelope)) {
                    return Ok(entry);
                }
            }
        }
        Self::parse_apart(line)
    }

    /// [`Entry::parse`] with the envelope read apart from the line: what names the problem in a
    /// bad line, and checks the envelope's size.
    fn parse_apart(line: &[u8]) -> Result<Entry> {
        let wire: EntryIn =
            serde_json::from_slice(line).map_err(|e| LogError::Entry(pledger_core::event::one_line(&e)))?;
        Self::of(wire.seq, &wire.recorded, || Envelope::parse(wire.envelope.get().as_bytes()))
    }

    /// An entry of its parts as read, its recording time checked, its envelope opened last.
    fn of(seq: u64, recorded: &str, envelope: impl FnOnce() -> Result<Envelope>) -> Result<Entry> {
        let (recorded_at, ours) = parse_recorded(recorded)
            .ok_or_else(|| LogError::Entry(format!("recorded time {recorded:?} is not RFC 3339")))?;
        // pledger alone writes entries, in one form: one spelling per entry, or two leaves
        // could tell the same story. Read in that form, it is that form (a million entries are
        // read in an audit); otherwise it must be what pledger would have written.
        if !ours && format_recorded(&recorded_at) != recorded {
            return Err(LogError::Entry(format!(
                "recorded time {recorded:?} is not written as pledger writes it (UTC, milliseconds: {})",
                format_recorded(&recorded_at)
            )));
        }
        Ok(Entry { seq, recorded_at, envelope: envelope()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn the_largest_event_makes_an_entry_an_entry_bundle_holds() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let payload = vec![b'x'; pledger_core::event::MAX_EVENT_BYTES];
        let env = Envelope::sign(pledger_core::event::PAYLOAD_TYPE, payload, &key, &"a".repeat(32));
        assert!(env.to_json().len() <= crate::dsse::MAX_ENVELOPE_BYTES, "{}", env.to_json().len());
        // The longest sequence number and recording time an entry written now can have.
        let recorded = DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999Z").unwrap().with_timezone(&Utc);
        let envelope_bytes = env.to_json().len();
        let line = Entry { seq: u64::MAX, recorded_at: recorded, envelope: env }.to_line();
        assert!(line.len() <= MAX_ENTRY_BYTES, "{}", line.len());
        // And any envelope within its bound, too: the entry adds the same around it.
        let around = line.len() - envelope_bytes;
        assert!(crate::dsse::MAX_ENVELOPE_BYTES + around <= MAX_ENTRY_BYTES, "{around}");
        // A line beyond the bound is refused for its size, before it is read.
        let long = vec![b' '; MAX_ENTRY_BYTES + 1];
        let err = Entry::parse(&long).unwrap_err().to_string();
        assert!(err.contains("more than the 65535"), "{err}");
    }

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

    /// An entry's line recorded at 2026-01-15T09:00:01.250Z.
    fn sample_line() -> String {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let env = Envelope::sign("t", b"x".to_vec(), &key, "k");
        let at = DateTime::parse_from_rfc3339("2026-01-15T09:00:01.250Z").unwrap().with_timezone(&Utc);
        String::from_utf8(Entry { seq: 0, recorded_at: at, envelope: env }.to_line()).unwrap()
    }

    #[test]
    fn a_recording_time_has_one_spelling() {
        // Found by the `entry` fuzz target: microseconds parsed, then wrote back as milliseconds.
        let line = sample_line();
        assert!(Entry::parse(line.as_bytes()).is_ok());
        for other in ["2026-01-15T09:00:01.250100Z", "2026-01-15T09:00:01.25Z", "2026-01-15T10:00:01.250+01:00"] {
            let variant = line.replace("2026-01-15T09:00:01.250Z", other);
            assert!(Entry::parse(variant.as_bytes()).is_err(), "{other} accepted");
        }
    }

    /// Read in one pass or with the envelope apart, a line gives the same entry or error.
    fn read_alike(line: &[u8]) {
        let one = Entry::parse(line).map_err(|e| e.to_string());
        assert_eq!(one, Entry::parse_apart(line).map_err(|e| e.to_string()), "{}", String::from_utf8_lossy(line));
    }

    #[test]
    fn one_pass_reads_as_the_envelope_read_apart() {
        let line = sample_line();
        // An envelope past its bound in an entry within its own.
        let big = format!("\"{}\"", "QUFB".repeat(16_320));
        for variant in [
            line.clone(),
            line.replace(r#""payloadType":"t","payload":"eA==""#, r#""payload":"eA==","payloadType":"t""#),
            line.replace(r#""payload":"eA==""#, r#""payload":"eA\u003d=""#),
            line.replace(r#""payloadType":"t""#, r#""payloadType":"t","extra":1"#),
            line.replace(r#""seq":0"#, r#""seq":0,"extra":1"#),
            line.replace(r#""seq":0"#, r#""seq":0,"seq":0"#),
            line.replace(r#""payload":"eA==""#, r#""payload":"eA=""#),
            line.replace(r#""payload":"eA==""#, &format!(r#""payload":{big}"#)),
            line.replace(r#"{"payloadType""#, r#"{ "payloadType""#),
            line.replace(r#""recorded":"2026-01-15T09:00:01.250Z""#, r#""recorded":"2026-01-15T09:00:01.25Z""#),
            r#"{"seq":0,"recorded":"2026-01-15T09:00:01.250Z","envelope":"x"}"#.to_owned(),
        ] {
            read_alike(variant.as_bytes());
        }
        assert!(Entry::parse(line.replace(r#""payload":"eA==""#, &format!(r#""payload":{big}"#)).as_bytes())
            .is_err_and(|e| e.to_string().contains("more than the 65400 allowed")));
        let long = line.replace(r#""payload":"eA==""#, &format!(r#""payload":"{}""#, "QUFB".repeat(25_000)));
        assert!(Entry::parse(long.as_bytes()).is_err_and(|e| e.to_string().contains("an entry holds")));
    }

    proptest::proptest! {
        /// Any byte of a line changed: one pass and the envelope apart agree.
        #[test]
        fn a_damaged_line_reads_alike_both_ways(at in 0usize..200, byte in proptest::num::u8::ANY) {
            let mut line = sample_line().into_bytes();
            let at = at % line.len();
            line[at] = byte;
            read_alike(&line);
        }

        /// Recording times are written as chrono's RFC 3339 writer would, and read as its parser
        /// reads them, for every instant (leap seconds and five-digit years included).
        #[test]
        fn recording_times_match_chrono(secs in -70_000_000_000i64..300_000_000_000, nanos in 0u32..2_000_000_000) {
            if let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) {
                let written = format_recorded(&t);
                proptest::prop_assert_eq!(&written, &t.to_rfc3339_opts(SecondsFormat::Millis, true));
                let chrono = DateTime::parse_from_rfc3339(&written).ok().map(|t| t.with_timezone(&Utc));
                proptest::prop_assert_eq!(parse_recorded(&written).map(|(t, _)| t), chrono);
            }
        }

        #[test]
        fn odd_spellings_are_read_as_chrono_reads_them(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,4})?([Zz]|[+-][0-9]{2}:[0-9]{2})") {
            let chrono = DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc));
            let read = parse_recorded(&s);
            proptest::prop_assert_eq!(read.map(|(t, _)| t), chrono);
            // Read in pledger's form only if pledger writes it so.
            if let Some((t, true)) = read {
                proptest::prop_assert_eq!(format_recorded(&t), s);
            }
        }

        /// Whatever the spelling, an entry is accepted exactly when its time is written as
        /// pledger writes it.
        #[test]
        fn an_entry_is_accepted_only_in_pledgers_spelling(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,4})?([Zz]|[+-][0-9]{2}:[0-9]{2})") {
            let line = sample_line().replace("2026-01-15T09:00:01.250Z", &s);
            let canonical = DateTime::parse_from_rfc3339(&s).ok().is_some_and(|t| format_recorded(&t.with_timezone(&Utc)) == s);
            proptest::prop_assert_eq!(Entry::parse(line.as_bytes()).is_ok(), canonical);
        }
    }
}
