//! Receipts (docs/format.md §13): what a partner keeps of each write to hold the operator to
//! it — the entry as recorded, a checkpoint signed by the log key of a tree that holds it, and
//! the inclusion proof of the entry in that tree.

use ed25519_dalek::VerifyingKey;
use pledger_log::checkpoint::Checkpoint;
use pledger_log::merkle::{self, Blake3, NodeReader};
use pledger_log::note::Note;
use pledger_log::{Entry, Envelope};
use serde::{Deserialize, Serialize};

/// A write, recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The entry's position in the log.
    pub seq: u64,
    /// The event's id.
    pub event_id: String,
    /// What the entry is known by: the short id it was given (`P-000001`), or what it is about.
    pub id: String,
    /// The entry line, exactly as its leaf hashes it.
    pub entry: String,
    /// A checkpoint of a tree that holds the entry, signed by the log key (a C2SP note).
    pub checkpoint: String,
    /// The entry's inclusion proof in that tree: base64 hashes, from the leaf up.
    pub inclusion: Vec<String>,
}

/// Why a receipt does not hold the operator to a write.
#[derive(Debug, thiserror::Error)]
#[error("the receipt does not hold: {0}")]
pub struct BadReceipt(pub String);

impl Receipt {
    /// The receipt of entry `seq` of `log` in the tree of the checkpoint `note` (of size `size`
    /// and signed), the entry known by `id`.
    pub fn of<R: NodeReader>(
        log: &R,
        seq: u64,
        id: &str,
        line: &[u8],
        note: &Note,
        size: u64,
    ) -> Result<Receipt, R::Error> {
        let path = merkle::inclusion_proof::<Blake3, _>(log, seq, size)?;
        let entry = String::from_utf8_lossy(line).into_owned();
        let event_id = Entry::parse(line)
            .ok()
            .and_then(|e| pledger_log::parse_event(&e.envelope).ok())
            .map(|e| e.id.to_string())
            .unwrap_or_default();
        Ok(Receipt {
            seq,
            event_id,
            id: id.to_owned(),
            entry,
            checkpoint: note.to_text(),
            inclusion: pledger_log::proof::encode_path(&path),
        })
    }

    /// Checks the receipt: its checkpoint is of `origin` and signed by `log_key`; its entry holds
    /// `envelope` (if given) at `seq`; the inclusion proof puts the entry's leaf at `seq` in the
    /// checkpoint's tree. Returns the checkpoint.
    pub fn verify(
        &self,
        origin: &str,
        log_key: &VerifyingKey,
        envelope: Option<&Envelope>,
    ) -> Result<Checkpoint, BadReceipt> {
        let bad = |why: String| BadReceipt(why);
        let note = Note::parse(self.checkpoint.as_bytes()).map_err(|e| bad(format!("its checkpoint: {e}")))?;
        let cp = Checkpoint::open(&note, log_key).map_err(|e| bad(format!("its checkpoint: {e}")))?;
        if cp.origin != origin {
            return Err(bad(format!("its checkpoint is of {}, not of {origin}", cp.origin)));
        }
        let entry = Entry::parse(self.entry.as_bytes()).map_err(|e| bad(format!("its entry: {e}")))?;
        if entry.seq != self.seq {
            return Err(bad(format!("its entry is number {}, the receipt says {}", entry.seq, self.seq)));
        }
        if let Some(sent) = envelope {
            if &entry.envelope != sent {
                return Err(bad("its entry holds another envelope than the one sent".into()));
            }
        }
        let event = pledger_log::parse_event(&entry.envelope).map_err(|e| bad(format!("its entry: {e}")))?;
        if event.id.to_string() != self.event_id {
            return Err(bad(format!("its entry's event is {}, the receipt says {}", event.id, self.event_id)));
        }
        let path = pledger_log::proof::decode_path(&self.inclusion).map_err(|e| bad(e.to_string()))?;
        let leaf = merkle::leaf_hash(self.entry.as_bytes());
        if self.seq >= cp.size || !merkle::verify_inclusion::<Blake3>(&leaf, self.seq, cp.size, &path, &cp.root) {
            return Err(bad(format!("entry {} is not in the tree of its checkpoint (size {})", self.seq, cp.size)));
        }
        Ok(cp)
    }
}
