//! `compact`: the ledger copied key by key into a fresh sled database beside it, the copy read
//! back and compared with the original, then swapped in by one atomic exchange of the two
//! directories. Until the exchange the ledger is untouched; after it, the ledger is the copy. A
//! process killed anywhere in between leaves one or the other, whole (docs/architecture.md,
//! "Compaction").
//!
//! Why it is worth having: sled 0.34 keeps the superseded versions of a rewritten page in its
//! log until a segment falls to half live, so a ledger written event by event takes about twice
//! the bytes a fresh copy of the same keys does, and opens more slowly.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{config, open_db, stored_segment_size, Ledger, Result, StoreError, SEGMENT_BYTES};

/// Keys written per sled batch, each batch flushed: a fiftieth of the entries (about 4 keys an
/// entry), between 500 and 20,000: the sizes that made the smallest copies (docs/decisions.md).
fn batch_keys(entries: u64) -> usize {
    usize::try_from(entries / 50).unwrap_or(usize::MAX).clamp(500, 20_000)
}

/// What a compaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    /// Entries in the ledger, before as after.
    pub entries: u64,
    /// Keys copied, then read back and found equal, over every sled tree.
    pub keys: u64,
    /// Bytes of the ledger directory's files before and after.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
    /// Bytes of the copy. A copy not smaller than the ledger by a twentieth is removed instead of
    /// swapped in (a ledger the cleaner keeps tidy gains little): then `swapped` is false and
    /// the ledger is as it was.
    pub bytes_copy: u64,
    /// Whether the copy replaced the ledger's database.
    pub swapped: bool,
    /// Where the former database stays, and why, if it could not be removed after the swap
    /// (the ledger is compacted all the same).
    pub left_behind: Option<(PathBuf, String)>,
}

/// What a compaction is doing, for progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactPhase {
    /// Copying every key into the new database.
    Copying,
    /// Reading the copy back and comparing it with the ledger.
    Comparing,
}

impl Ledger {
    /// Rewrites the ledger at `path` into a fresh database holding exactly the same keys and
    /// values, and swaps it in. `others` names the files besides sled's that the directory may
    /// hold and that need not follow (a server's socket); any other file there refuses the
    /// compaction rather than be lost. `progress` hears how many keys are done in each phase.
    pub fn compact(
        path: &Path,
        wait: Duration,
        give_up: &mut dyn FnMut() -> bool,
        others: &[&str],
        progress: &mut dyn FnMut(CompactPhase, u64),
    ) -> Result<Compacted> {
        // Holds sled's lock on the ledger until the swap is done.
        let ledger = Ledger::open_unless(path, wait, give_up)?;
        let fail = |reason: String| StoreError::NotCompacted { path: path.display().to_string(), reason };
        let dir = fs::canonicalize(path).map_err(|e| fail(format!("cannot resolve its path: {e}")))?;
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(fail("its directory has no parent to hold the copy".into()));
        };
        if let Some(name) = foreign_file(&dir, others).map_err(|e| fail(format!("cannot list its directory: {e}")))? {
            return Err(fail(format!("its directory also holds {name}, which is not the ledger's; move it elsewhere")));
        }
        let fresh = parent.join(format!(".{}.compacting", name.to_string_lossy()));
        remove_leftover(&fresh, others).map_err(fail)?;
        let bytes_before = ledger_bytes(&dir).map_err(|e| fail(format!("cannot measure its files: {e}")))?;

        let entries = ledger.size();
        // The copy keeps the ledger's segment size: a copy exactly of the ledger, but tidy.
        let segment = stored_segment_size(&dir).unwrap_or(SEGMENT_BYTES);
        let copied = copy(&ledger.db, &fresh, segment, batch_keys(entries), progress)
            .and_then(|keys| compare(&ledger.db, &fresh, progress).map(|()| keys))
            .and_then(|keys| {
                let bytes = ledger_bytes(&fresh).map_err(|e| format!("cannot measure the copy: {e}"))?;
                if worth_it(bytes, bytes_before) {
                    fit(&dir, &fresh).map_err(|e| format!("cannot give the copy the ledger's owner and modes: {e}"))?;
                    sync_all(&fresh).map_err(|e| format!("cannot sync the copy to disk: {e}"))?;
                }
                Ok((keys, bytes))
            });
        let (keys, bytes_copy) = match copied {
            Ok(done) => done,
            Err(reason) => {
                let _ = fs::remove_dir_all(&fresh);
                return Err(fail(reason));
            }
        };
        if !worth_it(bytes_copy, bytes_before) {
            let left_behind = fs::remove_dir_all(&fresh).err().map(|e| (fresh.clone(), e.to_string()));
            let bytes_after = bytes_before;
            return Ok(Compacted { entries, keys, bytes_before, bytes_after, bytes_copy, swapped: false, left_behind });
        }
        if let Err(e) =
            rustix::fs::renameat_with(rustix::fs::CWD, &fresh, rustix::fs::CWD, &dir, rustix::fs::RenameFlags::EXCHANGE)
        {
            let _ = fs::remove_dir_all(&fresh);
            return Err(fail(format!(
                "cannot swap the copy in ({e}): the file system must support an atomic exchange of directories"
            )));
        }
        // Either directory is a whole ledger, so a parent not yet synced can only bring back the
        // one before: the swap itself is done.
        let _ = sync_dir(parent);
        drop(ledger);
        let bytes_after = ledger_bytes(&dir).unwrap_or(bytes_copy);
        let left_behind = fs::remove_dir_all(&fresh).err().map(|e| (fresh.clone(), e.to_string()));
        Ok(Compacted { entries, keys, bytes_before, bytes_after, bytes_copy, swapped: true, left_behind })
    }
}

/// Whether a copy of `copy` bytes is worth swapping in for a ledger of `ledger` bytes: smaller
/// by a twentieth at least (sled's files grow by whole segments; a copy a few bytes smaller is
/// not a compaction).
fn worth_it(copy: u64, ledger: u64) -> bool {
    copy.saturating_add(ledger / 20) <= ledger
}

fn sled_reason(e: sled::Error) -> String {
    e.to_string().replace('\n', " ")
}

/// Copies every tree of `db`, key by key in key order, into a new database at `to`.
fn copy(
    db: &sled::Db,
    to: &Path,
    segment: usize,
    batch_keys: usize,
    progress: &mut dyn FnMut(CompactPhase, u64),
) -> Result<u64, String> {
    let fresh = config(to)
        .segment_size(segment)
        .open()
        .map_err(|e| format!("cannot create the copy at {}: {}", to.display(), sled_reason(e)))?;
    let mut done = 0;
    for name in db.tree_names() {
        let from = db.open_tree(&name).map_err(sled_reason)?;
        let into = fresh.open_tree(&name).map_err(sled_reason)?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in from.iter() {
            let (k, v) = kv.map_err(sled_reason)?;
            batch.insert(k, v);
            in_batch += 1;
            done += 1;
            if in_batch == batch_keys {
                into.apply_batch(std::mem::take(&mut batch)).map_err(sled_reason)?;
                fresh.flush().map_err(sled_reason)?;
                in_batch = 0;
                progress(CompactPhase::Copying, done);
            }
        }
        into.apply_batch(batch).map_err(sled_reason)?;
    }
    fresh.flush().map_err(sled_reason)?;
    progress(CompactPhase::Copying, done);
    Ok(done)
}

/// Opens the copy afresh — what a later open will read — and compares it with `db`, tree by
/// tree and key by key.
fn compare(db: &sled::Db, copy: &Path, progress: &mut dyn FnMut(CompactPhase, u64)) -> Result<(), String> {
    // sled's threads may still hold the copy's lock for a moment after it was closed.
    let fresh = open_db(copy, crate::CACHE_BYTES, Duration::from_secs(10), &mut || false)
        .map_err(|e| format!("cannot reopen the copy: {e}"))?;
    let mut names = db.tree_names();
    let mut copied = fresh.tree_names();
    names.sort();
    copied.sort();
    if names != copied {
        return Err("the copy's trees differ from the ledger's".into());
    }
    let mut done = 0;
    for name in names {
        let mut a = db.open_tree(&name).map_err(sled_reason)?.iter();
        let mut b = fresh.open_tree(&name).map_err(sled_reason)?.iter();
        loop {
            match (a.next().transpose().map_err(sled_reason)?, b.next().transpose().map_err(sled_reason)?) {
                (None, None) => break,
                (Some(x), Some(y)) if x == y => {}
                (Some((k, _)), _) => return Err(format!("the copy differs from the ledger at key {}", show_key(&k))),
                (None, Some((k, _))) => {
                    return Err(format!("the copy holds key {}, which the ledger does not", show_key(&k)))
                }
            }
            done += 1;
            if done % 10_000 == 0 {
                progress(CompactPhase::Comparing, done);
            }
        }
    }
    progress(CompactPhase::Comparing, done);
    Ok(())
}

/// A key for a message: its prefix byte as a character, the rest in hex.
fn show_key(k: &[u8]) -> String {
    match k.split_first() {
        Some((p, rest)) => format!(
            "{}:{}",
            char::from(*p).escape_default(),
            rest.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        None => "(empty)".into(),
    }
}

/// Whether `name` in a ledger's directory is sled's.
fn is_sled_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs") || name.starts_with("snap.")
}

/// The first file in `dir` that is neither sled's nor one of `others`.
fn foreign_file(dir: &Path, others: &[&str]) -> io::Result<Option<String>> {
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !is_sled_file(&name) && !others.contains(&name.as_str()) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Removes what an interrupted compaction left at `fresh` — a partial copy, or the former
/// database after the swap — and refuses to touch anything else found there.
fn remove_leftover(fresh: &Path, others: &[&str]) -> Result<(), String> {
    let Ok(meta) = fs::symlink_metadata(fresh) else { return Ok(()) };
    let ours = meta.is_dir() && foreign_file(fresh, others).ok().flatten().is_none();
    if !ours {
        return Err(format!(
            "{} exists and is not what an earlier compaction left; move it elsewhere",
            fresh.display()
        ));
    }
    fs::remove_dir_all(fresh)
        .map_err(|e| format!("cannot remove what an earlier compaction left at {}: {e}", fresh.display()))
}

/// Every file and directory under `dir`, `dir` first.
fn walk(dir: &Path) -> io::Result<Vec<(PathBuf, fs::Metadata)>> {
    let mut found = vec![(dir.to_owned(), fs::symlink_metadata(dir)?)];
    let mut i = 0;
    while i < found.len() {
        if found[i].1.is_dir() {
            for entry in fs::read_dir(&found[i].0)? {
                let entry = entry?;
                found.push((entry.path(), entry.metadata()?));
            }
        }
        i += 1;
    }
    Ok(found)
}

/// The bytes of every file under a ledger's directory: what it takes on disk.
pub fn ledger_bytes(dir: &Path) -> io::Result<u64> {
    Ok(walk(dir)?.iter().filter(|(_, m)| m.is_file()).map(|(_, m)| m.len()).sum())
}

/// Gives the copy the ledger's owner and modes: its directories those of the ledger's
/// directory, its files those of the ledger's `db` (a root-run compaction must not leave the
/// ledger's user unable to open it).
fn fit(ledger: &Path, copy: &Path) -> io::Result<()> {
    let dir = fs::metadata(ledger)?;
    let file = fs::metadata(ledger.join("db"))?;
    for (path, meta) in walk(copy)? {
        let like = if meta.is_dir() { &dir } else { &file };
        if (meta.uid(), meta.gid()) != (like.uid(), like.gid()) {
            std::os::unix::fs::chown(&path, Some(like.uid()), Some(like.gid()))?;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(like.mode() & 0o7777))?;
    }
    Ok(())
}

/// Syncs every file and directory under `dir`, so that the swap moves a copy already on disk.
fn sync_all(dir: &Path) -> io::Result<()> {
    for (path, meta) in walk(dir)? {
        if meta.is_dir() {
            sync_dir(&path)?;
        } else {
            fs::File::open(&path)?.sync_all()?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
