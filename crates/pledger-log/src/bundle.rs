//! Export bundles: one JSON Lines file with everything needed to verify a ledger offline
//! (docs/format.md §11):
//!
//! ```text
//! {"bundle":"pledger-bundle/v1","origin":"…","size":N,"checkpoints":["<note>",…]}
//! <entry line 0>            the exact leaf bytes of each entry, in order
//! …
//! <entry line N-1>
//! {"keys":[{"member":"dns","key":"…","public_key":"…","added":0,"revoked":null},…]}
//! ```

use std::io::{BufRead, Read};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pledger_core::MemState;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditFailure, Auditor, Signatures};
use crate::checkpoint::Checkpoint;
use crate::keys::from_event_key;
use crate::note::Note;

/// The `bundle` value of a bundle's header line: the format and its version.
pub const FORMAT: &str = "pledger-bundle/v1";
/// Longest line read from a bundle, in bytes.
pub const MAX_LINE: usize = 512 * 1024;
/// Entries audited together: few enough that the chunks in flight stay small beside the state
/// (docs/decisions.md, "Chunks of 4,096 lines"). A ledger's audit reads its lines in chunks of
/// 8,192 (`pledger verify`).
pub const CHUNK: usize = 4096;

/// A bundle's first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The format, [`FORMAT`].
    pub bundle: String,
    /// The ledger's origin.
    pub origin: String,
    /// The number of entries that follow.
    pub size: u64,
    /// Every checkpoint the log issued up to `size`, oldest first; the last is of `size`.
    pub checkpoints: Vec<String>,
}

/// One key, as a bundle's keys line lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLine {
    /// Its member.
    pub member: String,
    /// Its key id.
    pub key: String,
    /// The key, base64 of its 32 bytes.
    pub public_key: String,
    /// The entry that added it.
    pub added: u64,
    /// The entry that revoked it, if any.
    pub revoked: Option<u64>,
}

/// A bundle's keys line: every member's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// By member id, then in the order they were added.
    pub keys: Vec<KeyLine>,
}

/// The members' keys as the entries record them, by member id then order of addition.
pub fn keys_of(state: &MemState) -> Keys {
    let mut keys = Vec::new();
    for m in state.members.values() {
        for k in &m.keys {
            keys.push(KeyLine {
                member: m.id.to_string(),
                key: k.id.to_string(),
                public_key: B64.encode(k.public_key.0),
                added: k.added_seq,
                revoked: k.revoked_seq,
            });
        }
    }
    Keys { keys }
}

/// Why a bundle failed: the first bad entry, or what else was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// An entry failed the audit.
    Entry(AuditFailure),
    /// The bundle itself is malformed.
    Bundle(String),
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleError::Entry(a) => a.fmt(f),
            BundleError::Bundle(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for BundleError {}

fn bad(s: impl Into<String>) -> BundleError {
    BundleError::Bundle(s.into())
}

/// Reads one line (without its newline), refusing lines over [`MAX_LINE`] and carriage returns.
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> Result<bool, String> {
    buf.clear();
    let n = r.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', buf).map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > MAX_LINE {
        return Err(format!("a line is longer than {MAX_LINE} bytes"));
    }
    if buf.last() == Some(&b'\r') {
        return Err("a line ends with a carriage return: the bundle was rewritten by a text tool".into());
    }
    Ok(true)
}

/// What a verified bundle holds.
pub struct Verified {
    /// The header line.
    pub header: Header,
    /// Its checkpoints, each opened with the log key of its size.
    pub checkpoints: Vec<(Checkpoint, Note)>,
    /// The audit of its entries: the tree, the state and the marks of its checkpoints.
    pub auditor: Auditor,
}

impl Verified {
    /// The latest checkpoint, of the bundle's size.
    pub fn latest(&self) -> &(Checkpoint, Note) {
        // verify() refuses a bundle without checkpoints.
        &self.checkpoints[self.checkpoints.len() - 1]
    }
}

/// Checks checkpoints a log issued — `(size, note)`, oldest first — against an audit of its
/// entries that marked their sizes ([`Auditor::mark`]): each must be signed by the log key the
/// entries name at its size and carry the root they hash to there. The one check of kept
/// checkpoints, for a bundle's and for a ledger's alike.
pub fn check_checkpoints(notes: Vec<(u64, Note)>, auditor: &Auditor) -> Result<Vec<(Checkpoint, Note)>, String> {
    let mut checkpoints = Vec::with_capacity(notes.len());
    for (size, note) in notes {
        let mark = auditor.mark_at(size).ok_or_else(|| format!("the checkpoint of size {size} is beyond the log"))?;
        let log_key = mark
            .log_key
            .as_ref()
            .and_then(from_event_key)
            .ok_or_else(|| format!("the ledger names no log key at size {size}"))?;
        let opened = Checkpoint::open(&note, &log_key).map_err(|e| format!("checkpoint of size {size}: {e}"))?;
        if opened.size != size || opened.root != mark.root {
            return Err(format!(
                "the entries do not hash to the root of the checkpoint of size {size}: an entry before it was altered"
            ));
        }
        checkpoints.push((opened, note));
    }
    Ok(checkpoints)
}

/// Verifies a bundle with no ledger: every entry (signatures, rules, tree), the recorded keys,
/// and every checkpoint (signed by the log key of its size, matching the recomputed root).
/// `also` are sizes whose roots the caller wants (its own checkpoints). `progress` is told how
/// many entries of how many are done; `signatures` says how signatures are checked.
pub fn verify<R: BufRead>(
    mut r: R,
    also: &[u64],
    signatures: Signatures,
    mut progress: impl FnMut(u64, u64),
) -> Result<Verified, BundleError> {
    let mut buf = Vec::new();
    if !read_line(&mut r, &mut buf).map_err(bad)? {
        return Err(bad("the bundle is empty"));
    }
    let header: Header = serde_json::from_slice(&buf)
        .map_err(|e| bad(format!("bundle header: {}", pledger_core::event::one_line(&e))))?;
    if header.bundle != FORMAT {
        return Err(bad(format!("not a {FORMAT} file (it says {:?})", header.bundle)));
    }
    let mut notes: Vec<(Checkpoint, Note)> = Vec::new();
    for text in &header.checkpoints {
        let note = Note::parse(text.as_bytes()).map_err(|e| bad(format!("bundle checkpoint: {e}")))?;
        let cp = Checkpoint::parse_text(&note.text).map_err(|e| bad(format!("bundle checkpoint: {e}")))?;
        if cp.origin != header.origin || cp.size > header.size {
            return Err(bad(format!("bundle checkpoint of size {} is not of this bundle", cp.size)));
        }
        // Oldest first, each once (docs/format.md §11): a list out of order or with a size twice
        // is not one a log issued.
        if let Some((before, _)) = notes.last() {
            if cp.size <= before.size {
                return Err(bad(format!(
                    "bundle checkpoints out of order: size {} after size {} (they are listed oldest first, each once)",
                    cp.size, before.size
                )));
            }
        }
        notes.push((cp, note));
    }
    match notes.last() {
        Some((cp, _)) if cp.size == header.size => {}
        _ => return Err(bad(format!("the bundle has no checkpoint of its size {}", header.size))),
    }
    let mut auditor = Auditor::checking(signatures);
    auditor.reserve_for(header.size);
    for (cp, _) in &notes {
        auditor.mark(cp.size);
    }
    for s in also {
        auditor.mark(*s);
    }
    let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
    let mut read = 0u64;
    while read < header.size {
        let mut line = Vec::new();
        if !read_line(&mut r, &mut line).map_err(|e| BundleError::Entry(AuditFailure { seq: read, reason: e }))? {
            return Err(bad(format!(
                "the bundle is cut short: it promises {} entries and holds {read}; entry {read} is the first missing",
                header.size
            )));
        }
        chunk.push(line);
        read += 1;
        if chunk.len() == CHUNK || read == header.size {
            auditor.feed(std::mem::take(&mut chunk)).map_err(BundleError::Entry)?;
            progress(read, header.size);
        }
    }
    auditor.finish().map_err(BundleError::Entry)?;
    if header.size == 0 {
        progress(0, 0);
    }
    if auditor.state().head.origin != header.origin && header.size > 0 {
        return Err(bad(format!(
            "the bundle says it is of {} but its entries are of {}",
            header.origin,
            auditor.state().head.origin
        )));
    }
    if !read_line(&mut r, &mut buf).map_err(bad)? {
        return Err(bad("the bundle is cut short: the key list after the entries is missing"));
    }
    let keys: Keys = serde_json::from_slice(&buf).map_err(|_| {
        bad(format!(
            "the line after entry {} is not the key list: the bundle holds more entries than it says",
            header.size.saturating_sub(1)
        ))
    })?;
    if keys != keys_of(auditor.state()) {
        return Err(bad("the bundle's key list differs from the keys its entries record"));
    }
    if read_line(&mut r, &mut buf).map_err(bad)? {
        return Err(bad("the bundle has lines after its key list"));
    }
    let notes = notes.into_iter().map(|(cp, note)| (cp.size, note)).collect();
    let checkpoints = check_checkpoints(notes, &auditor).map_err(bad)?;
    Ok(Verified { header, checkpoints, auditor })
}
