//! C2SP tlog-checkpoints: `origin\nsize\nbase64(root)\n`, signed as a note by the ledger's log
//! key under the key name `origin` (docs/format.md §9).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::error::{LogError, Result};
use crate::merkle::Hash;
use crate::note::{Note, Verifier, TYPE_ED25519};

/// A tree head: the log's origin, its size and its root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The ledger's origin: the note's first line.
    pub origin: String,
    /// The number of entries.
    pub size: u64,
    /// The root of the tree over them.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint's note text.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }

    /// Parses a checkpoint's note text. Extension lines are refused: pledger writes none, and
    /// nothing in them would be audited.
    pub fn parse_text(text: &str) -> Result<Checkpoint> {
        let bad = |why: &str| LogError::Note(format!("not a checkpoint: {why}"));
        let lines: Vec<&str> =
            text.strip_suffix('\n').ok_or_else(|| bad("text must end in a newline"))?.split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(bad("a checkpoint is three lines: origin, size, root"));
        };
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) || !size.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("the size is a decimal number without leading zeros"));
        }
        let size: u64 = size.parse().map_err(|_| bad("the size is too large"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root is not base64 of 32 bytes"))?;
        Ok(Checkpoint { origin: (*origin).to_owned(), size, root })
    }

    /// The checkpoint signed by the log key.
    pub fn sign(&self, log_key: &SigningKey) -> Result<Note> {
        Note::sign(&self.text(), &self.origin, log_key)
    }

    /// The verifier of the log key for checkpoints of `origin`.
    pub fn verifier(origin: &str, log_key: VerifyingKey) -> Result<Verifier> {
        Verifier::new(origin, TYPE_ED25519, log_key)
    }

    /// Opens a signed checkpoint: parses it and checks that `log_key` signed it.
    pub fn open(note: &Note, log_key: &VerifyingKey) -> Result<Checkpoint> {
        let cp = Checkpoint::parse_text(&note.text)?;
        let v = Checkpoint::verifier(&cp.origin, *log_key)?;
        match note.verified_by(&v)? {
            Some(_) => Ok(cp),
            None => Err(LogError::Note(format!(
                "the checkpoint is not signed by the log key {} of {}",
                crate::keys::key_id(log_key),
                cp.origin
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_is_strict() {
        let cp = Checkpoint { origin: "hmis.sante.gov.ml/pledges".into(), size: 60, root: [7u8; 32] };
        let text = cp.text();
        assert_eq!(text, "hmis.sante.gov.ml/pledges\n60\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n");
        assert_eq!(Checkpoint::parse_text(&text).unwrap(), cp);
        for bad in [
            text.replace("\n60\n", "\n060\n"),
            text.replace("\n60\n", "\n-1\n"),
            text.replace("\n60\n", "\n\n"),
            format!("{text}extension\n"),
            text.trim_end().to_owned(),
        ] {
            assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
        }
        assert!(Checkpoint::parse_text("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").is_ok());
    }

    #[test]
    fn only_the_log_key_opens_it() {
        let key = SigningKey::from_bytes(&[4u8; 32]);
        let cp = Checkpoint { origin: "o.example/l".into(), size: 3, root: [1u8; 32] };
        let note = cp.sign(&key).unwrap();
        assert_eq!(Checkpoint::open(&note, &key.verifying_key()).unwrap(), cp);
        let other = SigningKey::from_bytes(&[5u8; 32]);
        assert!(Checkpoint::open(&note, &other.verifying_key()).is_err());
        let mut altered = note.clone();
        altered.text = altered.text.replace("\n3\n", "\n4\n");
        assert!(Checkpoint::open(&altered, &key.verifying_key()).is_err());
    }
}
