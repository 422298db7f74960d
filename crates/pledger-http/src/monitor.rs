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

/// Entries fed to the auditor at once (16 bundles).
const FEED: usize = 4096;

/// What a monitor found wrong with a log.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
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
    /// The log's origin.
    pub origin: String,
    /// The checkpoint's size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// Entries added since the last round, each audited.
    pub new_entries: u64,
}

/// A monitor of the log at `url`, trusting `log_key`, remembering in `dir`.
pub struct Monitor {
    remote: Remote,
    log_key: VerifyingKey,
    dir: PathBuf,
    /// The audit as the last round left it, for the next round of a `--follow`.
    kept: std::cell::RefCell<Option<(MemState, Frontier)>>,
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

impl Monitor {
    /// A monitor of the log at `url`, trusting `log_key`, remembering in `dir` (created if need be).
    pub fn new(url: &str, log_key: VerifyingKey, dir: &Path) -> Result<Monitor, Finding> {
        std::fs::create_dir_all(dir).map_err(|e| Finding::State(format!("{}: {e}", dir.display())))?;
        Ok(Monitor { remote: Remote::new(url)?, log_key, dir: dir.to_owned(), kept: Default::default() })
    }

    fn seen_path(&self) -> PathBuf {
        self.dir.join("seen.json")
    }

    /// The audit of the first `size` entries: named by its size, so that `seen.json` always
    /// names one that is whole, whenever the monitor was stopped.
    fn audit_path(&self, size: u64) -> PathBuf {
        self.dir.join(format!("audit-{size}.bin"))
    }

    fn state_error(&self, e: &dyn std::fmt::Display) -> Finding {
        Finding::State(format!("{}: {e}", self.dir.display()))
    }

    /// What was seen last, if anything.
    fn load_seen(&self) -> Result<Option<Seen>, Finding> {
        if !self.seen_path().exists() {
            return Ok(None);
        }
        let bytes = pledger_log::input::read(
            &self.seen_path(),
            1 << 20,
            "the monitor's seen.json",
            pledger_log::input::Source::Regular,
        )
        .map_err(|e| self.state_error(&e))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| self.state_error(&e))
    }

    /// The audit of the `size` entries seen last: kept from the last round, or read back.
    fn load_audit(&self, size: u64) -> Result<(MemState, Frontier), Finding> {
        if let Some((mem, frontier)) = self.kept.borrow_mut().take() {
            if frontier.size == size {
                return Ok((mem, frontier));
            }
        }
        if size == 0 {
            return Ok((MemState::new(), Frontier::default()));
        }
        let bytes = std::fs::read(self.audit_path(size)).map_err(|e| self.state_error(&e))?;
        let (mem, frontier): (MemState, Frontier) = postcard::from_bytes(&bytes).map_err(|e| self.state_error(&e))?;
        if frontier.size != size || mem.head.size != size {
            return Err(self.state_error(&"the kept audit is not of the size last seen"));
        }
        Ok((mem, frontier))
    }

    fn save(&self, seen: &Seen, mem: MemState, frontier: Frontier) -> Result<(), Finding> {
        // Written whole to a new file, flushed, then renamed into place.
        let write = |path: PathBuf, fill: &dyn Fn(&mut dyn std::io::Write) -> Result<(), String>| {
            let tmp = path.with_extension("tmp");
            let f = std::fs::File::create(&tmp).map_err(|e| self.state_error(&e))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
            fill(&mut out).map_err(|e| self.state_error(&e))?;
            let f = out.into_inner().map_err(|e| self.state_error(&e.error().to_string()))?;
            f.sync_all().map_err(|e| self.state_error(&e))?;
            std::fs::rename(&tmp, &path).map_err(|e| self.state_error(&e))
        };
        // The audit first, then what names it; then the audits no longer named.
        write(self.audit_path(seen.size), &|out| {
            postcard::to_io(&(&mem, &frontier), out).map(|_| ()).map_err(|e| e.to_string())
        })?;
        write(self.seen_path(), &|out| serde_json::to_writer_pretty(out, seen).map_err(|e| e.to_string()))?;
        let current = self.audit_path(seen.size);
        if let Ok(dir) = std::fs::read_dir(&self.dir) {
            for old in dir.flatten() {
                let name = old.file_name().to_string_lossy().into_owned();
                if name.starts_with("audit-") && name.ends_with(".bin") && old.path() != current {
                    let _ = std::fs::remove_file(old.path());
                }
            }
        }
        *self.kept.borrow_mut() = Some((mem, frontier));
        Ok(())
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
        let seen = self.load_seen()?.unwrap_or(Seen { origin: cp.origin.clone(), size: 0, checkpoint: String::new() });
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
            // The root seen at this size is in the checkpoint kept (the empty tree's, at 0).
            let seen_root = if seen.size == 0 {
                Frontier::default().root::<Blake3>()
            } else {
                let note = Note::parse(seen.checkpoint.as_bytes()).map_err(|e| self.state_error(&e))?;
                Checkpoint::parse_text(&note.text).map_err(|e| self.state_error(&e))?.root
            };
            if cp.root != seen_root {
                let kept = self.keep_evidence(&seen.checkpoint, &text);
                return Err(Finding::SplitView {
                    why: format!("two checkpoints of size {} with different roots", cp.size),
                    kept,
                });
            }
            return Ok(Round { origin: cp.origin, size: cp.size, root: b64(&cp.root), new_entries: 0 });
        }
        let (mem, frontier) = self.load_audit(seen.size)?;
        let before = seen.size;
        let mut auditor = Auditor::resume(mem, frontier, Signatures::Exact);
        // The bundles are fetched a few ahead by another thread while these are audited.
        let first = before / WIDTH;
        let last = cp.size.div_ceil(WIDTH);
        let fetcher = self.remote.clone_handle();
        let audited = std::thread::scope(|scope| -> Result<(), Finding> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(Tile, Vec<u8>), ClientError>>(32);
            scope.spawn(move || {
                for index in first..last {
                    let end = ((index + 1) * WIDTH).min(cp.size);
                    let tile = Tile { level: None, index, width: end - index * WIDTH };
                    let got = fetcher.tile(&tile).map(|b| (tile, b));
                    let failed = got.is_err();
                    // The auditor stopped (a finding): nothing more to fetch.
                    if tx.send(got).is_err() || failed {
                        return;
                    }
                }
            });
            let mut fed = before;
            // Fed to the auditor in runs of several bundles: each run's signatures are checked
            // on every core while the rules run over the next.
            let mut run: Vec<Vec<u8>> = Vec::new();
            for got in rx {
                let (tile, bundle) = got?;
                // The first entry this bundle must give.
                let at = fed + run.len() as u64;
                let index = tile.index;
                let entries = tiles::entries(&bundle).map_err(|why| Finding::BadEntry { seq: at, reason: why })?;
                if entries.len() as u64 != tile.width {
                    return Err(Finding::BadEntry {
                        seq: at,
                        reason: format!("{} holds {} entries, not {}", tile.path(), entries.len(), tile.width),
                    });
                }
                let skip = (at - index * WIDTH) as usize;
                run.extend(entries[skip..].iter().map(|e| e.to_vec()));
                if run.len() >= FEED {
                    fed += run.len() as u64;
                    auditor
                        .feed(std::mem::take(&mut run))
                        .map_err(|f| Finding::BadEntry { seq: f.seq, reason: f.reason })?;
                    progress(fed - before, cp.size - before);
                }
            }
            fed += run.len() as u64;
            auditor.feed(run).map_err(|f| Finding::BadEntry { seq: f.seq, reason: f.reason })?;
            progress(fed - before, cp.size - before);
            if fed < cp.size {
                return Err(Finding::BadEntry {
                    seq: fed,
                    reason: "the log's bundles end before its checkpoint".into(),
                });
            }
            Ok(())
        });
        audited?;
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
        self.save(&Seen { origin: cp.origin.clone(), size: cp.size, checkpoint: text }, mem, frontier)?;
        Ok(Round { origin: cp.origin, size: cp.size, root: b64(&cp.root), new_entries: cp.size - before })
    }
}
