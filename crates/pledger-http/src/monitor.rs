//! `pledger monitor URL`: follows a log served over HTTP — by `serve --http`, or as files a
//! static host serves (`publish`) — and holds it to what it signed. Each round fetches the
//! checkpoint and checks it under the log key; fetches only the entry bundles past the size it
//! saw last; audits the new entries as `verify` does (every signature exactly, every rule, each
//! entry at its place), resuming from the state it keeps; and requires the tree they extend its
//! own with to hash to the checkpoint's root. So a new checkpoint is proven consistent with the
//! last one seen by the entries themselves. It names a rollback (a checkpoint smaller than one the
//! log signed before), a split view (a checkpoint no extension of the tree seen reaches: two
//! histories under one origin and key) and the first bad entry.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use pledger_core::MemState;
use pledger_log::audit::{Auditor, Signatures};
use pledger_log::checkpoint::Checkpoint;
use pledger_log::merkle::{Blake3, Frontier};
use pledger_log::note::Note;
use serde::{Deserialize, Serialize};

use crate::client::{ClientError, Remote};
use crate::tiles::{self, Tile, WIDTH};

/// What a monitor found wrong with a log.
#[derive(Debug, thiserror::Error)]
pub enum Finding {
    #[error(
        "rollback: the log's checkpoint is of size {now}, below the size {seen} it signed before (both kept in {kept})"
    )]
    Rollback { seen: u64, now: u64, kept: String },
    #[error("split view: {why} (both checkpoints kept in {kept})")]
    SplitView { why: String, kept: String },
    #[error("entry {seq}: {reason}")]
    BadEntry { seq: u64, reason: String },
    #[error("the checkpoint does not verify: {0}")]
    BadCheckpoint(String),
    #[error("{0}")]
    Fetch(#[from] ClientError),
    #[error("{0}")]
    State(String),
}

/// What a monitor remembers of a log between rounds.
#[derive(Serialize, Deserialize)]
struct Seen {
    origin: String,
    size: u64,
    /// The latest checkpoint that verified, with every signature it carried.
    checkpoint: String,
}

/// A round's outcome: the checkpoint now seen, and the entries it added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub new_entries: u64,
}

/// A monitor of the log at `url`, trusting `log_key`, remembering in `dir`.
pub struct Monitor {
    remote: Remote,
    log_key: VerifyingKey,
    dir: PathBuf,
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

impl Monitor {
    pub fn new(url: &str, log_key: VerifyingKey, dir: &Path) -> Result<Monitor, Finding> {
        std::fs::create_dir_all(dir).map_err(|e| Finding::State(format!("{}: {e}", dir.display())))?;
        Ok(Monitor { remote: Remote::new(url)?, log_key, dir: dir.to_owned() })
    }

    fn seen_path(&self) -> PathBuf {
        self.dir.join("seen.json")
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.join("audit.bin")
    }

    fn load(&self) -> Result<Option<(Seen, MemState, Frontier)>, Finding> {
        let state = |e: &dyn std::fmt::Display| Finding::State(format!("{}: {e}", self.dir.display()));
        if !self.seen_path().exists() {
            return Ok(None);
        }
        let seen: Seen =
            serde_json::from_slice(&std::fs::read(self.seen_path()).map_err(|e| state(&e))?).map_err(|e| state(&e))?;
        let bytes = std::fs::read(self.audit_path()).map_err(|e| state(&e))?;
        let (mem, frontier): (MemState, Frontier) = postcard::from_bytes(&bytes).map_err(|e| state(&e))?;
        if frontier.size != seen.size || mem.head.size != seen.size {
            return Err(state(&"the kept audit is not of the size last seen"));
        }
        Ok(Some((seen, mem, frontier)))
    }

    fn save(&self, seen: &Seen, mem: &MemState, frontier: &Frontier) -> Result<(), Finding> {
        let state = |e: &dyn std::fmt::Display| Finding::State(format!("{}: {e}", self.dir.display()));
        let write = |path: PathBuf, bytes: Vec<u8>| -> Result<(), Finding> {
            use std::io::Write;
            let tmp = path.with_extension("tmp");
            let mut f = std::fs::File::create(&tmp).map_err(|e| state(&e))?;
            f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| state(&e))?;
            std::fs::rename(&tmp, &path).map_err(|e| state(&e))
        };
        // The audit first: a seen.json always has an audit of its size beside it.
        write(self.audit_path(), postcard::to_allocvec(&(mem, frontier)).map_err(|e| state(&e))?)?;
        write(self.seen_path(), serde_json::to_vec_pretty(seen).map_err(|e| state(&e))?)
    }

    /// Keeps two checkpoints that contradict each other, as evidence; returns where.
    fn keep_evidence(&self, before: &str, now: &str) -> String {
        let dir = self.dir.join("evidence");
        let _ = std::fs::create_dir_all(&dir);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let _ = std::fs::write(dir.join(format!("{stamp}-seen.txt")), before);
        let _ = std::fs::write(dir.join(format!("{stamp}-now.txt")), now);
        dir.display().to_string()
    }

    /// One round: the checkpoint now, proven consistent with the last seen, and its new entries
    /// audited. `progress` hears how many new entries are done.
    pub fn round(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<Round, Finding> {
        let text = self.remote.checkpoint()?;
        let note = Note::parse(text.as_bytes()).map_err(|e| Finding::BadCheckpoint(e.to_string()))?;
        let cp = Checkpoint::open(&note, &self.log_key).map_err(|e| Finding::BadCheckpoint(e.to_string()))?;
        let (seen, mem, frontier) = match self.load()? {
            Some(s) => s,
            None => (
                Seen { origin: cp.origin.clone(), size: 0, checkpoint: String::new() },
                MemState::new(),
                Frontier::default(),
            ),
        };
        if seen.origin != cp.origin {
            return Err(Finding::State(format!(
                "{} follows {}, and this log is {}: give another --state",
                self.dir.display(),
                seen.origin,
                cp.origin
            )));
        }
        if cp.size < seen.size {
            let kept = self.keep_evidence(&seen.checkpoint, &text);
            return Err(Finding::Rollback { seen: seen.size, now: cp.size, kept });
        }
        if cp.size == seen.size {
            if cp.root != frontier.root::<Blake3>() {
                let kept = self.keep_evidence(&seen.checkpoint, &text);
                return Err(Finding::SplitView {
                    why: format!("two checkpoints of size {} with different roots", cp.size),
                    kept,
                });
            }
            return Ok(Round { origin: cp.origin, size: cp.size, root: b64(&cp.root), new_entries: 0 });
        }
        let before = seen.size;
        let mut auditor = Auditor::resume(mem, frontier, Signatures::Exact);
        let mut fed = before;
        let mut index = before / WIDTH;
        while fed < cp.size {
            let end = ((index + 1) * WIDTH).min(cp.size);
            let tile = Tile { level: None, index, width: end - index * WIDTH };
            let bundle = self.remote.tile(&tile)?;
            let entries = tiles::entries(&bundle).map_err(|why| Finding::BadEntry { seq: fed, reason: why })?;
            if entries.len() as u64 != tile.width {
                return Err(Finding::BadEntry {
                    seq: fed,
                    reason: format!("{} holds {} entries, not {}", tile.path(), entries.len(), tile.width),
                });
            }
            let skip = (fed - index * WIDTH) as usize;
            let lines: Vec<Vec<u8>> = entries[skip..].iter().map(|e| e.to_vec()).collect();
            fed += lines.len() as u64;
            auditor.feed(lines).map_err(|f| Finding::BadEntry { seq: f.seq, reason: f.reason })?;
            progress(fed - before, cp.size - before);
            index += 1;
        }
        auditor.finish().map_err(|f| Finding::BadEntry { seq: f.seq, reason: f.reason })?;
        if auditor.state().head.origin != cp.origin {
            return Err(Finding::BadEntry {
                seq: 0,
                reason: format!("the entries are of {}, not of {}", auditor.state().head.origin, cp.origin),
            });
        }
        let root = auditor.root();
        if root != cp.root {
            let kept = self.keep_evidence(&seen.checkpoint, &text);
            return Err(Finding::SplitView {
                why: format!(
                    "the checkpoint of size {} is not reached by extending the tree of size {before} seen before with the entries served: another history under the same origin and key",
                    cp.size
                ),
                kept,
            });
        }
        let (mem, frontier) = auditor.into_parts();
        self.save(&Seen { origin: cp.origin.clone(), size: cp.size, checkpoint: text }, &mem, &frontier)?;
        Ok(Round { origin: cp.origin, size: cp.size, root: b64(&cp.root), new_entries: cp.size - before })
    }
}
