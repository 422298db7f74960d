//! Inclusion and consistency proofs as JSON documents, and their verification against signed
//! checkpoints, with no ledger at hand (docs/format.md §10).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::error::{LogError, Result};
use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion, Blake3, Hash};

/// Proof that an entry is in the tree of a given size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The ledger's origin.
    pub origin: String,
    /// The entry proven.
    pub seq: u64,
    /// The size of the tree it is proven in.
    pub size: u64,
    /// The entry's line: its exact leaf bytes.
    pub entry: String,
    /// Base64 hashes, leaf side first (RFC 9162 §2.1.3.1).
    pub path: Vec<String>,
}

/// Proof that the tree of `old_size` is a prefix of the tree of `new_size`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The ledger's origin.
    pub origin: String,
    /// The smaller tree's size.
    pub old_size: u64,
    /// The larger tree's size.
    pub new_size: u64,
    /// Base64 hashes (RFC 9162 §2.1.4.1).
    pub path: Vec<String>,
}

/// Either proof, as written to a file: `{"inclusion": {...}}` or `{"consistency": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Proof {
    /// An inclusion proof.
    Inclusion(InclusionProof),
    /// A consistency proof.
    Consistency(ConsistencyProof),
}

/// Largest proof file read, in bytes.
pub const MAX_PROOF_BYTES: usize = 256 * 1024;

/// Hashes as base64, as proof files write them.
pub fn encode_path(path: &[Hash]) -> Vec<String> {
    path.iter().map(|h| B64.encode(h)).collect()
}

/// Hashes from base64, refused beyond 64 or when one is not 32 bytes.
pub fn decode_path(path: &[String]) -> Result<Vec<Hash>> {
    if path.len() > 64 {
        return Err(LogError::Proof("a proof has at most 64 hashes".into()));
    }
    path.iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| LogError::Proof(format!("{h:?} is not base64 of 32 bytes")))
        })
        .collect()
}

impl Proof {
    /// Reads a proof file's bytes, refused beyond [`MAX_PROOF_BYTES`].
    pub fn parse(bytes: &[u8]) -> Result<Proof> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(LogError::Proof("proof file is too large".into()));
        }
        serde_json::from_slice(bytes).map_err(|e| LogError::Proof(pledger_core::event::one_line(&e)))
    }

    /// The proof as a proof file holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a proof is strings and numbers, which always serialize")
    }
}

impl InclusionProof {
    /// Checks the proof against a checkpoint already opened with the log key.
    pub fn verify(&self, cp: &Checkpoint) -> Result<()> {
        if self.origin != cp.origin {
            return Err(LogError::Proof(format!("proof is for {}, checkpoint for {}", self.origin, cp.origin)));
        }
        if self.size != cp.size {
            return Err(LogError::Proof(format!("proof is for size {}, checkpoint for size {}", self.size, cp.size)));
        }
        let entry = crate::entry::Entry::parse(self.entry.as_bytes())?;
        if entry.seq != self.seq {
            return Err(LogError::Proof(format!("the entry is number {}, the proof says {}", entry.seq, self.seq)));
        }
        let path = decode_path(&self.path)?;
        if verify_inclusion::<Blake3>(&leaf_hash(self.entry.as_bytes()), self.seq, self.size, &path, &cp.root) {
            Ok(())
        } else {
            Err(LogError::Proof(format!("entry {} is not in the tree of size {} with this root", self.seq, self.size)))
        }
    }
}

impl ConsistencyProof {
    /// Checks the proof between two checkpoints already opened with the log key.
    pub fn verify(&self, old: &Checkpoint, new: &Checkpoint) -> Result<()> {
        if self.origin != old.origin || self.origin != new.origin {
            return Err(LogError::Proof("proof and checkpoints name different ledgers".into()));
        }
        if (self.old_size, self.new_size) != (old.size, new.size) {
            return Err(LogError::Proof(format!(
                "proof is for sizes {} → {}, checkpoints for {} → {}",
                self.old_size, self.new_size, old.size, new.size
            )));
        }
        let path = decode_path(&self.path)?;
        if verify_consistency::<Blake3>(old.size, new.size, &old.root, &new.root, &path) {
            Ok(())
        } else {
            Err(LogError::Proof(format!(
                "the tree of size {} is not a prefix of the tree of size {}: history was rewritten or forked",
                old.size, new.size
            )))
        }
    }
}
