#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod compact;
mod derived;
mod error;
mod keys;
mod tally;

pub use compact::{ledger_bytes, CompactPhase, Compacted};
pub use derived::{Difference, Found};
pub use tally::of_state as tallies_of_state;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pledger_core::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, KeyId, MemberId, Numbered, PledgeId, ShortId};
use pledger_core::state::{
    AreaRecord, Assigned, CategoryRecord, FulfillmentRecord, Head, MemberRecord, PledgeRecord, Record,
};
use pledger_core::{Fulfillments, Kind, MemState, RuleError, StateView};
use pledger_log::merkle::{self, Blake3, Frontier, Hash, NodeReader};
use pledger_log::{Entry, Envelope, LogError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use error::{ErrorKind, Result, StoreError};
use keys::Key;
pub use keys::STORED_LEVEL;

/// What the store's version key holds; a ledger of another version is refused.
const FORMAT: &[u8] = b"pledger-ledger-3";

/// The version before fulfillment records ended with their reversals, member records with
/// their IATI organisations and pledge records with their tranches. Opened, these records are brought to this layout (an empty list
/// appended: one zero byte each) and it is marked [`FORMAT`] in one atomic batch, so that an older pledger refuses it as an unknown
/// format instead of misreading what it holds.
const PREVIOUS_FORMAT: &[u8] = b"pledger-ledger-2";

/// The version before the coverage cells were stored as bits: upgraded as [`PREVIOUS_FORMAT`]
/// is; its tallies, if marked `1`, stay set aside until `rebuild`.
const EARLIER_FORMAT: &[u8] = b"pledger-ledger-1";

/// What the tallies' mark (`T`) holds when the tallies cover every pledge in the present
/// layout. `1` was the layout whose coverage cells listed member ids, `2` the one whose months had
/// no words falling due; a ledger marked so is read as one without tallies until `rebuild`
/// rewrites them.
const TALLIES_LAYOUT: &[u8] = b"3";

/// The tallies' earlier layouts (coverage cells listing member ids; months without what falls
/// due), read as [`TalliesMark::Older`].
const EARLIER_TALLIES_LAYOUTS: [&[u8]; 2] = [b"1", b"2"];

/// What the member index's mark (`I`) holds once every pledge is in the index.
const INDEXED: &[u8] = b"1";

/// What a store says of its tallies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TalliesMark {
    /// No mark: made before the tallies, or its mark removed.
    None,
    /// Tallies of an earlier layout, not read or kept until `rebuild`.
    Older,
    /// Tallies kept by every commit.
    Current,
}

fn tallies_mark(db: &sled::Db, path: &Path) -> Result<TalliesMark> {
    Ok(match db.get(Key::Tallied.bytes()).map_err(|e| StoreError::sled(path, e))? {
        None => TalliesMark::None,
        Some(v) if v.as_ref() == TALLIES_LAYOUT => TalliesMark::Current,
        Some(_) => TalliesMark::Older,
    })
}

/// The head as stored: the rules' counters and the Merkle tree's right edge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHead {
    /// The rules' counters.
    pub state: Head,
    /// The Merkle tree's right edge.
    pub frontier: Frontier,
}

/// One entry appended: where it went and what it is known by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Its place in the log.
    pub seq: u64,
    /// Its event's kind.
    pub kind: Kind,
    /// What it is known by.
    pub assigned: Assigned,
    /// Its event's id.
    pub event_id: EventId,
}

/// Which fulfillments [`Ledger::records_of`] reads with a member's pledges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithFulfillments {
    /// Every one: a timeline or a report needs their dates and verdicts.
    All,
    /// Only those the pledges' statuses at the head read (`projection::reads_fulfillments_at_head`):
    /// a fulfilled pledge's, for the date it was met.
    ForHeadStatus,
}

/// A member's pledges (made or received), in pledge order, and their fulfillments.
#[derive(Debug, Default)]
pub struct MemberRecords {
    /// The pledges, in pledge order.
    pub pledges: Vec<PledgeRecord>,
    /// Their fulfillments.
    pub fulfillments: Fulfillments,
}

/// A ledger on disk, opened by this process alone (sled holds an exclusive lock).
pub struct Ledger {
    db: sled::Db,
    path: PathBuf,
    head: StoredHead,
    keys: pledger_log::keys::KeyCache,
    /// Whether commits keep the tallies (see [`Ledger::is_tallied`]).
    tallied: bool,
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

/// How pledger opens sled: with its background thread every [`CLEAN_EVERY_MS`] (every commit
/// still flushes before it is acknowledged: the thread is there for sled's segment cleaner). A
/// new ledger gets segments of [`SEGMENT_BYTES`]; an existing one is opened with the size it was
/// created with (sled refuses any other).
pub fn config(path: &Path) -> sled::Config {
    config_cached(path, CACHE_BYTES)
}

/// [`config`] with a page cache of `cache` bytes.
fn config_cached(path: &Path, cache: u64) -> sled::Config {
    let segment = stored_segment_size(path).unwrap_or(SEGMENT_BYTES);
    sled::Config::new().path(path).flush_every_ms(Some(CLEAN_EVERY_MS)).cache_capacity(cache).segment_size(segment)
}

/// How often sled's background thread runs. sled 0.34 cleans its log's segments — moves the live
/// pages out of a segment at most half live, so the segment can be reused — only in that thread
/// (`attempt_gc`, called from `flusher.rs` alone), for up to half of each period; without it a
/// ledger keeps every superseded page. Why 100 ms: docs/decisions.md.
pub const CLEAN_EVERY_MS: u64 = 100;

/// The size of the segments of sled's log in a new ledger: 8 MiB rather than sled's 512 KiB.
/// Measured: disk −9 % at 100k events, −2 % at 1M; the other figures within the machine's noise
/// (docs/benchmarks.md).
pub const SEGMENT_BYTES: usize = 8 * 1024 * 1024;

/// The segment size a database was created with, from the `conf` file sled writes (`None` for a
/// new one).
fn stored_segment_size(path: &Path) -> Option<usize> {
    // Text lines, then a checksum in binary.
    let bytes = std::fs::read(path.join("conf")).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().find_map(|l| l.strip_prefix("segment_size: ")).and_then(|v| v.trim().parse().ok())
}

/// sled's page cache: enough for the hot part of a national ledger, bounded so that a long
/// verify or rebuild stays in bounded memory.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// sled's page cache for a command that reads the whole log once ([`Ledger::open_to_scan`]):
/// each page is read once, so a larger cache would only hold memory. `rebuild`, which reads the
/// indexes again as it compares, keeps [`CACHE_BYTES`] (docs/decisions.md).
pub const SCAN_CACHE_BYTES: u64 = 8 * 1024 * 1024;

fn open_db(path: &Path, cache: u64, wait: Duration, give_up: &mut dyn FnMut() -> bool) -> Result<sled::Db> {
    let start = Instant::now();
    loop {
        match config_cached(path, cache).open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_error(&e) => {
                if start.elapsed() >= wait || give_up() {
                    return Err(StoreError::InUse { path: path.display().to_string() });
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(StoreError::Sled { path: path.display().to_string(), reason: e.to_string() }),
        }
    }
}

/// Whether `path` holds a ledger's database, by the `conf` file sled writes in every one (without
/// opening it).
pub fn looks_like_ledger(path: &Path) -> bool {
    path.join("conf").is_file()
}

impl Ledger {
    fn of(db: sled::Db, path: &Path, head: StoredHead, tallied: bool) -> Ledger {
        Ledger { db, path: path.to_owned(), head, keys: Default::default(), tallied }
    }

    /// Creates a new, empty ledger at `path`, which must not exist or be an empty directory.
    pub fn create(path: &Path) -> Result<Ledger> {
        let display = path.display().to_string();
        if path.exists() {
            let empty = path.is_dir() && std::fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false);
            if !empty {
                return Err(StoreError::AlreadyExists { path: display });
            }
        }
        let db = open_db(path, CACHE_BYTES, Duration::ZERO, &mut || true)?;
        db.insert(Key::Version.bytes(), FORMAT).map_err(|e| StoreError::sled(path, e))?;
        db.insert(Key::Indexed.bytes(), INDEXED).map_err(|e| StoreError::sled(path, e))?;
        db.insert(Key::Tallied.bytes(), TALLIES_LAYOUT).map_err(|e| StoreError::sled(path, e))?;
        db.flush().map_err(|e| StoreError::sled(path, e))?;
        Ok(Ledger::of(db, path, StoredHead::default(), true))
    }

    /// Opens the ledger at `path` for a rebuild, even if a previous rebuild was interrupted.
    pub fn open_for_rebuild(path: &Path, wait: Duration, give_up: &mut dyn FnMut() -> bool) -> Result<Ledger> {
        match Self::open_unless(path, wait, give_up) {
            Err(StoreError::RebuildInterrupted { .. }) => {
                let db = open_db(path, CACHE_BYTES, wait, give_up)?;
                let head = StoredHead::default();
                // The rebuild writes the version with everything else.
                Ok(Ledger::of(db, path, head, false))
            }
            other => other,
        }
    }

    /// Opens the ledger at `path`, waiting up to `wait` for another process to release it.
    pub fn open(path: &Path, wait: Duration) -> Result<Ledger> {
        Self::open_unless(path, wait, &mut || false)
    }

    /// [`Ledger::open`], giving up the wait early (with [`StoreError::InUse`]) once `give_up`,
    /// asked between tries, says so — as when the process holding the ledger turns out to be
    /// one that answers for others.
    pub fn open_unless(path: &Path, wait: Duration, give_up: &mut dyn FnMut() -> bool) -> Result<Ledger> {
        Self::open_cached(path, CACHE_BYTES, wait, give_up)
    }

    /// [`Ledger::open_unless`] for a command that reads the whole log once (`verify`, `export`):
    /// with a page cache of [`SCAN_CACHE_BYTES`].
    pub fn open_to_scan(path: &Path, wait: Duration, give_up: &mut dyn FnMut() -> bool) -> Result<Ledger> {
        Self::open_cached(path, SCAN_CACHE_BYTES, wait, give_up)
    }

    fn open_cached(path: &Path, cache: u64, wait: Duration, give_up: &mut dyn FnMut() -> bool) -> Result<Ledger> {
        if !looks_like_ledger(path) {
            return Err(StoreError::NotALedger { path: path.display().to_string() });
        }
        let db = open_db(path, cache, wait, give_up)?;
        match db.get(Key::Version.bytes()).map_err(|e| StoreError::sled(path, e))? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) if v.as_ref() == PREVIOUS_FORMAT || v.as_ref() == EARLIER_FORMAT => {
                upgrade_fulfillments(&db, path)?
            }
            Some(v) => {
                return Err(StoreError::Corrupt(format!(
                    "{}: unknown ledger format {:?}",
                    path.display(),
                    String::from_utf8_lossy(&v)
                )))
            }
            None => return Err(StoreError::NotALedger { path: path.display().to_string() }),
        }
        if db.get(Key::Rebuilding.bytes()).map_err(|e| StoreError::sled(path, e))?.is_some() {
            return Err(StoreError::RebuildInterrupted { path: path.display().to_string() });
        }
        let head: StoredHead = match db.get(Key::Head.bytes()).map_err(|e| StoreError::sled(path, e))? {
            Some(bytes) => decode(&bytes, "head")?,
            None => StoredHead::default(),
        };
        // The tree's right edge is what checkpoints sign the root of and appends extend: one
        // peak for each 1 bit of the size, and the size the rules' head counts.
        if !head.frontier.is_well_formed() || head.frontier.size != head.state.size {
            return Err(StoreError::Corrupt(format!(
                "stored head: its tree edge holds {} peaks for {} entries, and its counters say {} entries",
                head.frontier.peaks.len(),
                head.frontier.size,
                head.state.size
            )));
        }
        // Read once: the mark changes only by `rebuild`, which sets the field too.
        let tallied = tallies_mark(&db, path)? == TalliesMark::Current;
        Ok(Ledger::of(db, path, head, tallied))
    }

    /// Opens the ledger again in place, as the next process would: after a failure that may have
    /// left this handle's memory behind what is on disk.
    pub fn reopen(&mut self, wait: Duration) -> Result<()> {
        let path = self.path.clone();
        // sled's lock is the handle's: the old one goes before the new one is opened.
        let placeholder = sled::Config::new().temporary(true).open().map_err(|e| StoreError::sled(&path, e))?;
        drop(std::mem::replace(&mut self.db, placeholder));
        *self = Ledger::open(&path, wait)?;
        Ok(())
    }

    /// The ledger's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The head: counters, size and the tree's right edge.
    pub fn head(&self) -> &StoredHead {
        &self.head
    }

    /// Entries in the ledger.
    pub fn size(&self) -> u64 {
        self.head.state.size
    }

    /// The root hash of the whole log.
    pub fn root(&self) -> Hash {
        self.head.frontier.root::<Blake3>()
    }

    /// The state as the rules see it, at the head.
    pub fn view(&self) -> StoreView<'_> {
        StoreView { db: &self.db, pending: None, head: &self.head.state }
    }

    /// The first derived key — tree node, record, index entry, tally — that differs from what
    /// the entries call for: `state` audited from them, `nodes` the tree's nodes the audit made
    /// (those below the stored level are left out here), `tallies` computed from the state, or
    /// `None` where the store's tallies are of an earlier layout and not kept. The member index
    /// is compared when the store has it. Bytes are compared, as `rebuild` compares them (a
    /// record that reads back equal but is stored otherwise was not written by pledger).
    pub fn first_difference(
        &self,
        state: &MemState,
        nodes: Vec<merkle::Node>,
        tallies: Option<&pledger_core::tally::Tallies>,
    ) -> Result<Option<Difference>> {
        let index = self.db.get(Key::Indexed.bytes()).map_err(|e| StoreError::sled(&self.path, e))?.is_some();
        let nodes = stored_nodes(nodes).collect();
        derived::first_difference(&self.db, &self.path, derived::Called { state, nodes, tallies, index })
    }

    /// The first key or mark pledger never writes — a mark holding another value, an entry
    /// beyond the head's size, or a key under no prefix of its own — named for a person ("entry
    /// 63, beyond the 63 entries its head counts").
    pub fn first_stray(&self) -> Result<Option<String>> {
        // The marks hold what pledger writes in them.
        let marks: [(Key, &str, &[&[u8]]); 2] = [
            (Key::Indexed, "member index", &[INDEXED]),
            (Key::Tallied, "tallies", &[TALLIES_LAYOUT, EARLIER_TALLIES_LAYOUTS[0], EARLIER_TALLIES_LAYOUTS[1]]),
        ];
        for (key, name, written) in marks {
            match self.db.get(key.bytes()).map_err(|e| StoreError::sled(&self.path, e))? {
                Some(v) if !written.contains(&v.as_ref()) => {
                    let v = String::from_utf8_lossy(&v);
                    return Ok(Some(format!("the {name} mark {v:?}, a value pledger never writes")));
                }
                _ => {}
            }
        }
        let size = self.size();
        Ok(derived::first_stray(&self.db, &self.path, size)?.map(|k| match k.first() {
            Some(&keys::ENTRY) => format!("{}, beyond the {size} entries its head counts", keys::describe(&k)),
            _ => format!("{}, under no prefix pledger writes", keys::describe(&k)),
        }))
    }

    /// Whether this handle still agrees with what is stored: the same head, the same tallies
    /// mark, no rebuild under way. A refused append leaves it so; a commit that failed after
    /// sled took part of it, or an interrupted rebuild, does not — reopen the ledger then.
    pub fn in_step_with_store(&self) -> Result<bool> {
        let get = |k: Key| self.db.get(k.bytes()).map_err(|e| StoreError::sled(&self.path, e));
        let head = get(Key::Head)?;
        let same_head = match &head {
            Some(stored) => stored.as_ref() == encode(&self.head).as_slice(),
            None => self.head.state.size == 0,
        };
        let tallied = tallies_mark(&self.db, &self.path)? == TalliesMark::Current;
        Ok(same_head && get(Key::Rebuilding)?.is_none() && tallied == self.tallied)
    }

    /// A handle that finds the committed public key of a key id, usable from another thread
    /// while this ledger writes (bulk submit verifies the next group's signatures with it).
    pub fn key_lookup(&self) -> KeyLookup {
        KeyLookup { db: self.db.clone() }
    }

    /// A writer that appends envelopes and commits them together.
    pub fn writer(&mut self) -> Writer<'_> {
        let head = self.head.clone();
        Writer {
            ledger: self,
            pending: BTreeMap::new(),
            head,
            appended: Vec::new(),
            touched: BTreeMap::new(),
            undo: None,
            touched_order: Vec::new(),
        }
    }

    /// The stored line of entry `seq`: the exact leaf bytes.
    pub fn line(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(Key::Entry(seq).bytes()).map_err(|e| StoreError::sled(&self.path, e))?.map(|v| v.to_vec()))
    }

    /// Entry `seq`, parsed.
    pub fn entry(&self, seq: u64) -> Result<Option<Entry>> {
        match self.line(seq)? {
            Some(line) => Entry::parse(&line).map(Some).map_err(|e| StoreError::Corrupt(format!("entry {seq}: {e}"))),
            None => Ok(None),
        }
    }

    /// The stored lines from `from` on, in log order, each with its sequence number.
    pub fn lines(&self, from: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let end = self.size();
        self.db.range(Key::Entry(from).bytes()..Key::Entry(end).bytes()).map(move |kv| {
            let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
            let seq = keys::entry_seq(&k).ok_or_else(|| StoreError::Corrupt("bad entry key".into()))?;
            Ok((seq, v.to_vec()))
        })
    }

    /// The sequence number of the entry that created a numbered record (`P-000012`).
    pub fn seq_of(&self, id: ShortId) -> Result<Option<u64>> {
        Ok(match id.kind {
            Numbered::Pledge => self.read::<PledgeRecord>(Key::Pledge(PledgeId(id.n)), "pledge")?.map(|p| p.seq),
            Numbered::Fulfillment => {
                self.read::<FulfillmentRecord>(Key::Fulfillment(FulfillmentId(id.n)), "fulfillment")?.map(|f| f.seq)
            }
            _ => self.read(Key::Numbered(id), "sequence number")?,
        })
    }

    /// The short id of the numbered record entry `seq` created, found by binary search: the
    /// records of one kind are numbered in log order.
    pub fn short_id_at(&self, kind: Numbered, seq: u64) -> Result<Option<ShortId>> {
        let (mut lo, mut hi) = (1u64, self.head.state.count(kind));
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let id = ShortId::new(kind, mid);
            match self.seq_of(id)? {
                Some(s) if s == seq => return Ok(Some(id)),
                Some(s) if s < seq => lo = mid + 1,
                Some(_) => hi = mid - 1,
                None => return Err(StoreError::Corrupt(format!("{id} has no entry"))),
            }
        }
        Ok(None)
    }

    /// The sequence number of the entry whose event has this id.
    pub fn seq_of_event(&self, id: &EventId) -> Result<Option<u64>> {
        self.read(Key::EventId(*id), "sequence number")
    }

    /// The record stored under `key`, decoded.
    pub(crate) fn read<T: DeserializeOwned>(&self, key: Key, what: &str) -> Result<Option<T>> {
        match self.db.get(key.bytes()).map_err(|e| StoreError::sled(&self.path, e))? {
            Some(v) => decode(&v, what).map(Some),
            None => Ok(None),
        }
    }

    /// Every checkpoint issued, as signed notes, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        self.db
            .scan_prefix([keys::CHECKPOINT])
            .map(|kv| {
                let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                let size = keys::be_u64(&k[1..]).ok_or_else(|| StoreError::Corrupt("bad checkpoint key".into()))?;
                let text =
                    String::from_utf8(v.to_vec()).map_err(|_| StoreError::Corrupt("checkpoint is not UTF-8".into()))?;
                Ok((size, text))
            })
            .collect()
    }

    /// The latest checkpoint issued, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        match self.db.scan_prefix([keys::CHECKPOINT]).next_back() {
            Some(kv) => {
                let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                let size = keys::be_u64(&k[1..]).ok_or_else(|| StoreError::Corrupt("bad checkpoint key".into()))?;
                let text =
                    String::from_utf8(v.to_vec()).map_err(|_| StoreError::Corrupt("checkpoint is not UTF-8".into()))?;
                Ok(Some((size, text)))
            }
            None => Ok(None),
        }
    }

    /// Keeps a signed checkpoint of `size` (replacing one of that size, as when cosignatures
    /// are added), durably.
    pub fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<()> {
        self.db.insert(Key::Checkpoint(size).bytes(), note.as_bytes()).map_err(|e| StoreError::sled(&self.path, e))?;
        self.db.flush().map_err(|e| StoreError::sled(&self.path, e))?;
        Ok(())
    }

    /// Every pledge record, in id order.
    pub fn pledges(&self) -> Result<Vec<PledgeRecord>> {
        self.scan_numbered(keys::PLEDGE, self.head.state.count(Numbered::Pledge), "pledge")
    }

    /// Every fulfillment record.
    pub fn fulfillments(&self) -> Result<Fulfillments> {
        let count = self.head.state.count(Numbered::Fulfillment);
        Ok(self
            .scan_numbered::<FulfillmentRecord>(keys::FULFILLMENT, count, "fulfillment")?
            .into_iter()
            .map(|f| (f.id, f))
            .collect())
    }

    /// Every record under a prefix of numbered records (`p` ‖ u64be n), in key order: the key
    /// space is cut into slices, read and decoded on every core (a ledger of a million entries
    /// holds some 300,000 of each).
    fn scan_numbered<T: DeserializeOwned + Send>(&self, prefix: u8, count: u64, what: &str) -> Result<Vec<T>> {
        let slices = (rayon::current_num_threads() as u64 * 4).min(count / 4096 + 1).max(1);
        self.scan_slices(prefix, count, slices, what)
    }

    /// [`Ledger::scan_numbered`] in a given number of slices.
    fn scan_slices<T: DeserializeOwned + Send>(
        &self,
        prefix: u8,
        count: u64,
        slices: u64,
        what: &str,
    ) -> Result<Vec<T>> {
        use rayon::prelude::*;
        let key = |n: u64| [&[prefix][..], &n.to_be_bytes()].concat();
        let bounds: Vec<Vec<u8>> = std::iter::once(vec![prefix])
            // Non-decreasing whatever `count` a damaged head claims, so no range is reversed.
            .chain((1..slices).map(|i| key((u128::from(count) * u128::from(i) / u128::from(slices)) as u64 + 1)))
            .chain(std::iter::once(vec![prefix + 1]))
            .collect();
        let parts: Vec<Vec<T>> = bounds
            .par_windows(2)
            .map(|w| {
                self.db
                    .range(w[0].clone()..w[1].clone())
                    .map(|kv| {
                        let (_, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                        decode(&v, what)
                    })
                    .collect::<Result<Vec<T>>>()
            })
            .collect::<Result<_>>()?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The state as it stood with the first `n` entries, replayed from them (signatures were
    /// verified when they were appended and are not checked again).
    pub fn replay(&self, n: u64) -> Result<MemState> {
        let mut state = MemState::new();
        state.reserve_for(n.min(self.size()));
        replay_lines(&mut state, self.lines(0).take(n as usize), |_| {})?;
        Ok(state)
    }

    /// Recomputes everything derived from the entries — the tree's nodes, the state records,
    /// the head — and rewrites what differs, removing what should not be there. The entries and
    /// the checkpoints are kept as they are. Nothing is written until every entry has replayed
    /// (a damaged entry leaves the store as it was); then writes go in bounded batches, and a
    /// rebuild interrupted by a crash leaves a mark that makes every later open ask for another.
    /// Returns the number of entries and the number of keys it had to change.
    pub fn rebuild(&mut self, mut progress: impl FnMut(u64) + Send) -> Result<(u64, u64)> {
        let path = self.path.clone();
        let sled_err = |e| StoreError::sled(&path, e);
        let mut state = MemState::new();
        state.reserve_for(self.size());
        let mut frontier = Frontier::default();
        let mut nodes: Vec<merkle::Node> = Vec::new();
        let entries = self.db.scan_prefix([keys::ENTRY]).map(|kv| {
            let (k, line) = kv.map_err(sled_err)?;
            let seq = keys::entry_seq(&k).ok_or_else(|| StoreError::Corrupt("bad entry key".into()))?;
            Ok((seq, line))
        });
        let seq = replay_lines(&mut state, entries, |leaf| {
            nodes.extend(stored_nodes(frontier.push::<Blake3>(leaf)));
            if frontier.size.is_multiple_of(65_536) {
                progress(frontier.size);
            }
        })?;
        let tallies = tally::of_state(&state);
        // Nothing written until the entries have all replayed: a rebuild that refuses one leaves
        // the store as it was. From here on, the mark asks any open for another until the last
        // batch removes it.
        self.db.insert(Key::Rebuilding.bytes(), b"1".as_slice()).map_err(sled_err)?;
        self.db.flush().map_err(sled_err)?;
        let mut changed = derived::remove_strays(&self.db, &path)?;
        changed += derived::repair(
            &self.db,
            &path,
            derived::Called { state: &state, nodes, tallies: Some(&tallies), index: true },
        )?;
        // The marks and the head.
        let head = StoredHead { state: state.head.clone(), frontier };
        let mut batch = sled::Batch::default();
        let marks = [
            (Key::Indexed, INDEXED.to_vec()),
            (Key::Tallied, TALLIES_LAYOUT.to_vec()),
            (Key::Version, FORMAT.to_vec()),
            (Key::Head, encode(&head)),
        ];
        for (key, value) in marks {
            let key = key.bytes();
            if self.db.get(&key).map_err(sled_err)?.as_deref() != Some(value.as_slice()) {
                batch.insert(key, value);
                changed += 1;
            }
        }
        batch.remove(Key::Rebuilding.bytes());
        self.db.apply_batch(batch).map_err(|e| StoreError::sled(&self.path, e))?;
        self.db.flush().map_err(|e| StoreError::sled(&self.path, e))?;
        self.head = head;
        self.tallied = true;
        progress(seq);
        Ok((seq, changed))
    }

    /// The pledges a member made or received, by the member index, with their fulfillments;
    /// `None` for a ledger made before the index existed (until `rebuild` adds it).
    pub fn records_of(&self, member: &MemberId, which: WithFulfillments) -> Result<Option<MemberRecords>> {
        let sled_err = |e| StoreError::sled(&self.path, e);
        if self.db.get(Key::Indexed.bytes()).map_err(sled_err)?.is_none() {
            return Ok(None);
        }
        let prefix = keys::by_member_prefix(member);
        let mut numbers = Vec::new();
        for k in self.db.scan_prefix(&prefix).keys() {
            let k = k.map_err(sled_err)?;
            // A key under the prefix is the prefix and exactly eight bytes, or it is corrupt.
            let n =
                keys::be_u64(&k[prefix.len()..]).ok_or_else(|| StoreError::Corrupt("bad member index key".into()))?;
            numbers.push(n);
        }
        // Thousands of records for a busy member of a large ledger: each pledge read with its
        // fulfillments, on every core, in one pass.
        use rayon::prelude::*;
        let read = numbers
            .par_iter()
            .map(|n| {
                let p: PledgeRecord = self
                    .read(Key::Pledge(PledgeId(*n)), "pledge")?
                    .ok_or_else(|| StoreError::Corrupt(format!("the member index names P-{n:06}, which is missing")))?;
                let wanted = match which {
                    WithFulfillments::All => true,
                    WithFulfillments::ForHeadStatus => pledger_core::projection::reads_fulfillments_at_head(&p),
                };
                let fs = p
                    .fulfillments
                    .iter()
                    .filter(|_| wanted)
                    .map(|id| {
                        let f = self
                            .read(Key::Fulfillment(*id), "fulfillment")?
                            .ok_or_else(|| StoreError::Corrupt(format!("fulfillment {id} is missing")))?;
                        Ok((*id, f))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((p, fs))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut pledges = Vec::with_capacity(read.len());
        let mut fulfillments = Vec::new();
        for (p, fs) in read {
            pledges.push(p);
            fulfillments.extend(fs);
        }
        // Put in order once (a member's pledges' fulfillments interleave by number).
        Ok(Some(MemberRecords { pledges, fulfillments: fulfillments.into_iter().collect() }))
    }

    /// Every member, in id order.
    pub fn members(&self) -> Result<Vec<MemberRecord>> {
        self.scan(keys::MEMBER, "member")
    }

    /// Every area, in code order.
    pub fn areas(&self) -> Result<Vec<AreaRecord>> {
        self.scan(keys::AREA, "area")
    }

    /// Every category, in code order.
    pub fn categories(&self) -> Result<Vec<CategoryRecord>> {
        self.scan(keys::CATEGORY, "category")
    }

    fn scan<T: DeserializeOwned>(&self, prefix: u8, what: &str) -> Result<Vec<T>> {
        self.db
            .scan_prefix([prefix])
            .map(|kv| {
                let (_, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                decode(&v, what)
            })
            .collect()
    }
}

/// Replays entry lines, in order from the first, into `state`, handing each leaf hash to `leaf`.
/// A pipeline, as the audit's: this thread reads a chunk of lines and parses and hashes it on
/// every core while another thread applies the rules to the chunk before, in log order.
/// Returns the number of entries replayed; the first failure in log order is the one reported.
fn replay_lines<L: AsRef<[u8]> + Sync>(
    state: &mut MemState,
    lines: impl Iterator<Item = Result<(u64, L)>>,
    mut leaf: impl FnMut(Hash) + Send,
) -> Result<u64> {
    use rayon::prelude::*;
    use std::sync::mpsc::sync_channel;
    const CHUNK: usize = 8192;
    type Parsed = Vec<(std::result::Result<pledger_core::Recorded, pledger_log::LogError>, Hash)>;
    // One chunk being applied, one waiting: memory holds at most three.
    let (tx, rx) = sync_channel::<Parsed>(1);
    std::thread::scope(|scope| {
        let applier = scope.spawn(move || -> Result<u64> {
            let mut seq = 0u64;
            for parsed in rx {
                for (recorded, hash) in parsed {
                    let corrupt = |e: pledger_log::LogError| StoreError::Corrupt(format!("entry {seq}: {e}"));
                    let recorded = recorded.map_err(corrupt)?;
                    if recorded.seq != seq {
                        return Err(StoreError::Corrupt(format!("entry {seq} says it is entry {}", recorded.seq)));
                    }
                    pledger_log::apply_replayed(state, recorded).map_err(corrupt)?;
                    leaf(hash);
                    seq += 1;
                }
            }
            Ok(seq)
        });
        let mut lines = lines.peekable();
        let mut read = 0u64;
        let mut failed = None;
        while lines.peek().is_some() {
            let mut chunk: Vec<L> = Vec::with_capacity(CHUNK);
            for item in lines.by_ref().take(CHUNK) {
                match item {
                    Ok((at, _)) if at != read + chunk.len() as u64 => {
                        failed = Some(StoreError::Corrupt(format!("entry {} is missing", read + chunk.len() as u64)));
                        break;
                    }
                    Ok((_, line)) => chunk.push(line),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            read += chunk.len() as u64;
            let parsed: Parsed = chunk
                .par_iter()
                .map(|line| (pledger_log::parse_replayed(line.as_ref()), merkle::leaf_hash(line.as_ref())))
                .collect();
            // A closed channel: the rules refused an entry, which the applier reports.
            if tx.send(parsed).is_err() || failed.is_some() {
                break;
            }
        }
        drop(tx);
        let applied = applier.join().unwrap_or_else(|_| Err(StoreError::Corrupt("the replay stopped".into())))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(applied),
        }
    })
}

/// The nodes of those a leaf completed that the store keeps (see [`keys::STORED_LEVEL`]).
fn stored_nodes(created: Vec<merkle::Node>) -> impl Iterator<Item = merkle::Node> {
    created.into_iter().filter(|(level, _, _)| *level >= keys::STORED_LEVEL)
}

impl NodeReader for Ledger {
    type Error = StoreError;
    /// A stored node, or one below [`STORED_LEVEL`] recomputed from its (at most 15) entries.
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        if level < keys::STORED_LEVEL {
            let start = index << level;
            let width = 1u64 << level;
            // A perfect subtree: its frontier has one peak, its root.
            let mut tree = Frontier::default();
            for item in self.lines(start).take(width as usize) {
                tree.push::<Blake3>(merkle::leaf_hash(&item?.1));
            }
            if tree.size != width {
                return Err(StoreError::Corrupt(format!("tree node ({level}, {index}): entries are missing")));
            }
            return Ok(tree.root::<Blake3>());
        }
        let v = self
            .db
            .get(Key::Node(level, index).bytes())
            .map_err(|e| StoreError::sled(&self.path, e))?
            .ok_or_else(|| StoreError::Corrupt(format!("tree node ({level}, {index}) is missing")))?;
        <Hash>::try_from(v.as_ref())
            .map_err(|_| StoreError::Corrupt(format!("tree node ({level}, {index}) is not 32 bytes")))
    }
}

/// Brings the fulfillment and member records of a ledger of [`PREVIOUS_FORMAT`] or
/// [`EARLIER_FORMAT`] to this layout, and marks it [`FORMAT`], in one atomic batch: a
/// fulfillment gains its (empty) list of reversals, a member its IATI organisations, a pledge its
/// tranches, which postcard writes as one zero byte at the record's end.
fn upgrade_fulfillments(db: &sled::Db, path: &Path) -> Result<()> {
    let mut batch = sled::Batch::default();
    let mut upgrade = |prefix: u8, check: &dyn Fn(&[u8]) -> Result<()>| -> Result<()> {
        for kv in db.scan_prefix([prefix]) {
            let (k, v) = kv.map_err(|e| StoreError::sled(path, e))?;
            let mut upgraded = v.to_vec();
            upgraded.push(0);
            check(&upgraded)?;
            batch.insert(k, upgraded);
        }
        Ok(())
    };
    upgrade(keys::FULFILLMENT, &|b| decode::<FulfillmentRecord>(b, "fulfillment of an earlier layout").map(drop))?;
    upgrade(keys::MEMBER, &|b| decode::<MemberRecord>(b, "member of an earlier layout").map(drop))?;
    upgrade(keys::PLEDGE, &|b| decode::<PledgeRecord>(b, "pledge of an earlier layout").map(drop))?;
    batch.insert(Key::Version.bytes(), FORMAT);
    db.apply_batch(batch).map_err(|e| StoreError::sled(path, e))?;
    db.flush().map_err(|e| StoreError::sled(path, e))?;
    Ok(())
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Records are plain data; postcard cannot fail on them.
    postcard::to_allocvec(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("stored {what} unreadable: {e}")))
}

/// Committed keys by key id; see [`Ledger::key_lookup`].
#[derive(Clone)]
pub struct KeyLookup {
    db: sled::Db,
}

impl KeyLookup {
    /// The public key recorded under `id`, if a member holds it (revoked or not: the rules
    /// decide whether it may sign).
    pub fn public_key(&self, id: &KeyId) -> Option<pledger_core::event::PublicKey> {
        let head = Head::default();
        let view = StoreView { db: &self.db, pending: None, head: &head };
        let holder = view.key_holder(id).ok().flatten()?;
        let member = view.member(&holder).ok().flatten()?;
        member.keys.iter().find(|k| &k.id == id).map(|k| k.public_key)
    }
}

/// Writes not yet committed: key bytes → value bytes.
type Pending = BTreeMap<Vec<u8>, Vec<u8>>;

/// A key of the group written, with the value it replaced (none: it was new to the group).
type Undo = (Vec<u8>, Option<Vec<u8>>);

/// The state the rules read: committed records, under any writes of the group being built.
pub struct StoreView<'a> {
    db: &'a sled::Db,
    pending: Option<&'a Pending>,
    head: &'a Head,
}

impl StoreView<'_> {
    fn get<T: DeserializeOwned>(&self, key: Key, what: &str) -> pledger_core::Result<Option<T>> {
        let k = key.bytes();
        if let Some(v) = self.pending.and_then(|p| p.get(&k)) {
            return postcard::from_bytes(v).map(Some).map_err(|e| RuleError::State(format!("{what}: {e}")));
        }
        match self.db.get(&k).map_err(|e| RuleError::State(e.to_string()))? {
            Some(v) => postcard::from_bytes(&v).map(Some).map_err(|e| RuleError::State(format!("{what}: {e}"))),
            None => Ok(None),
        }
    }

    /// Every member, committed or admitted in the group being built.
    pub(crate) fn members(&self) -> Result<Vec<MemberRecord>> {
        let mut records: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for kv in self.db.scan_prefix([keys::MEMBER]) {
            let (k, v) = kv.map_err(|e| StoreError::Corrupt(e.to_string()))?;
            records.insert(k.to_vec(), v.to_vec());
        }
        if let Some(pending) = self.pending {
            for (k, v) in pending.range(vec![keys::MEMBER]..vec![keys::MEMBER + 1]) {
                records.insert(k.clone(), v.clone());
            }
        }
        records.values().map(|v| decode(v, "member")).collect()
    }
}

impl StateView for StoreView<'_> {
    fn head(&self) -> &Head {
        self.head
    }
    fn member(&self, id: &MemberId) -> pledger_core::Result<Option<Cow<'_, MemberRecord>>> {
        Ok(self.get(Key::Member(id.clone()), "member")?.map(Cow::Owned))
    }
    fn key_holder(&self, key: &KeyId) -> pledger_core::Result<Option<MemberId>> {
        self.get(Key::Holder(key.clone()), "key holder")
    }
    fn iati_org_holder(&self, org: &pledger_core::event::OrgRef) -> pledger_core::Result<Option<MemberId>> {
        self.get(Key::IatiOrg(org.clone()), "IATI organisation holder")
    }
    fn area(&self, code: &AreaCode) -> pledger_core::Result<Option<Cow<'_, AreaRecord>>> {
        Ok(self.get(Key::Area(code.clone()), "area")?.map(Cow::Owned))
    }
    fn category(&self, code: &CategoryCode) -> pledger_core::Result<Option<Cow<'_, CategoryRecord>>> {
        Ok(self.get(Key::Category(code.clone()), "category")?.map(Cow::Owned))
    }
    fn pledge(&self, id: PledgeId) -> pledger_core::Result<Option<Cow<'_, PledgeRecord>>> {
        Ok(self.get(Key::Pledge(id), "pledge")?.map(Cow::Owned))
    }
    fn fulfillment(&self, id: FulfillmentId) -> pledger_core::Result<Option<Cow<'_, FulfillmentRecord>>> {
        Ok(self.get(Key::Fulfillment(id), "fulfillment")?.map(Cow::Owned))
    }
    fn event_seq(&self, id: &EventId) -> pledger_core::Result<Option<u64>> {
        self.get(Key::EventId(*id), "event id")
    }
}

/// A point of a group being built, to come back to ([`Writer::savepoint`]): what the group's
/// journals held then. Taking one costs the head's size, not the group's.
pub struct Savepoint {
    undo: usize,
    head: StoredHead,
    appended: usize,
    touched: usize,
}

/// Appends envelopes to a working copy of the state; [`Writer::commit`] writes them all in one
/// atomic sled batch and flushes before returning. A refused envelope changes nothing.
pub struct Writer<'l> {
    ledger: &'l mut Ledger,
    pending: Pending,
    head: StoredHead,
    appended: Vec<Appended>,
    /// The pledges the group changed, with their facts before it (see [`pledger_core::tally`]).
    touched: BTreeMap<PledgeId, Option<pledger_core::tally::Facts>>,
    /// Once a savepoint is taken: every write to `pending` with what it replaced, and the
    /// pledges `touched` gained, in order — what a rollback undoes.
    undo: Option<Vec<Undo>>,
    touched_order: Vec<PledgeId>,
}

impl Writer<'_> {
    /// Sets a key of the group, journaled for rollbacks once a savepoint was taken.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        match &mut self.undo {
            Some(undo) => {
                let before = self.pending.insert(key.clone(), value);
                undo.push((key, before));
            }
            None => {
                self.pending.insert(key, value);
            }
        }
    }

    /// The state as it would be after committing what this writer holds.
    pub fn view(&self) -> StoreView<'_> {
        StoreView { db: &self.ledger.db, pending: Some(&self.pending), head: &self.head.state }
    }

    /// Checks `envelope` against the working state and, if it passes, adds it to the group.
    /// The recording time is `now`, or the previous entry's if the clock went back.
    pub fn append(&mut self, envelope: Envelope, now: DateTime<Utc>) -> Result<Appended> {
        self.append_preverified(envelope, now, None)
    }

    /// [`Writer::append`] for an envelope whose signature was checked beforehand (see
    /// [`pledger_log::check::check_preverified`]): bulk submit verifies a group's signatures on
    /// every core, then applies the rules in order.
    pub fn append_preverified(
        &mut self,
        envelope: Envelope,
        now: DateTime<Utc>,
        pre: pledger_log::check::Preverified,
    ) -> Result<Appended> {
        let seq = self.head.state.size;
        // An entry records its time to the millisecond; the state must hold exactly that.
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let recorded_at = match self.head.state.last_recorded {
            Some(prev) if prev > now => prev,
            _ => now,
        };
        let entry = Entry { seq, recorded_at, envelope };
        let view = StoreView { db: &self.ledger.db, pending: Some(&self.pending), head: &self.head.state };
        let (recorded, outcome) = pledger_log::check::check_preverified(&view, &entry, &mut self.ledger.keys, pre)
            .map_err(|e| match e {
                // The state could not be read while the rules ran: the store failed, no rule did.
                LogError::Rule(RuleError::State(why)) => {
                    StoreError::Corrupt(format!("entry {seq}'s rules could not read the state: {why}"))
                }
                e => StoreError::Refused { seq, error: e },
            })?;
        if self.ledger.tallied {
            for id in outcome.records.iter().filter_map(|r| match r {
                Record::Pledge(p) => Some(p.id),
                Record::Fulfillment(f) => Some(f.pledge),
                _ => None,
            }) {
                if let std::collections::btree_map::Entry::Vacant(v) = self.touched.entry(id) {
                    v.insert(tally::facts_in(&view, id)?);
                    if self.undo.is_some() {
                        self.touched_order.push(id);
                    }
                }
            }
        }
        let line = entry.to_line();
        let leaf = merkle::leaf_hash(&line);
        for (level, index, hash) in stored_nodes(self.head.frontier.push::<Blake3>(leaf)) {
            self.put(Key::Node(level, index).bytes(), hash.to_vec());
        }
        self.put(Key::Entry(seq).bytes(), line);
        for record in &outcome.records {
            if let Record::Pledge(p) = record {
                if p.seq == seq {
                    for key in keys::by_member(p) {
                        self.put(key.bytes(), Vec::new());
                    }
                }
            }
            if let Some((key, value)) = keys::record(record) {
                self.put(key.bytes(), value);
            }
        }
        self.head.state = outcome.head;
        let appended =
            Appended { seq, kind: recorded.event.kind(), assigned: outcome.assigned, event_id: recorded.event.id };
        self.appended.push(appended.clone());
        Ok(appended)
    }

    /// A point of the group to come back to: what a [`Writer::rollback`] to it undoes is the
    /// envelopes appended since, as if they had never been offered.
    pub fn savepoint(&mut self) -> Savepoint {
        let undo = self.undo.get_or_insert_with(Vec::new).len();
        Savepoint { undo, head: self.head.clone(), appended: self.appended.len(), touched: self.touched_order.len() }
    }

    /// Undoes every append since `at` was taken.
    pub fn rollback(&mut self, at: Savepoint) {
        if let Some(undo) = &mut self.undo {
            for (key, before) in undo.drain(at.undo..).rev() {
                match before {
                    Some(v) => self.pending.insert(key, v),
                    None => self.pending.remove(&key),
                };
            }
        }
        for id in self.touched_order.drain(at.touched..) {
            self.touched.remove(&id);
        }
        self.head = at.head;
        self.appended.truncate(at.appended);
    }

    /// Whether this exact envelope is already recorded (in the ledger or the group so far).
    pub fn holds(&self, envelope: &Envelope) -> Result<bool> {
        let Ok(event) = pledger_log::parse_event(envelope) else { return Ok(false) };
        let view = StoreView { db: &self.ledger.db, pending: Some(&self.pending), head: &self.head.state };
        let Some(seq) = view.event_seq(&event.id).map_err(|e| StoreError::Corrupt(e.to_string()))? else {
            return Ok(false);
        };
        let key = Key::Entry(seq).bytes();
        let line = match self.pending.get(&key) {
            Some(l) => Some(l.clone()),
            None => self.ledger.db.get(&key).map_err(|e| StoreError::sled(&self.ledger.path, e))?.map(|v| v.to_vec()),
        };
        Ok(line.and_then(|l| Entry::parse(&l).ok()).is_some_and(|e| &e.envelope == envelope))
    }

    /// The state's head as it stands with the group so far.
    pub fn head_state(&self) -> &Head {
        &self.head.state
    }

    /// Entries in the group so far.
    pub fn len(&self) -> usize {
        self.appended.len()
    }

    /// Whether the group has no entry yet.
    pub fn is_empty(&self) -> bool {
        self.appended.is_empty()
    }

    /// Writes the group atomically and flushes it to disk. Returns what was appended.
    pub fn commit(self) -> Result<Vec<Appended>> {
        if self.appended.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.ledger.path.clone();
        let mut batch = sled::Batch::default();
        if !self.touched.is_empty() {
            let view = self.view();
            let mut moved = Vec::with_capacity(self.touched.len());
            for (id, before) in &self.touched {
                let after = tally::facts_in(&view, *id)?;
                if before != &after {
                    moved.push((before.clone(), after));
                }
            }
            for (k, v) in tally::changes(&self.ledger.db, &path, &moved, || view.members())? {
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
        }
        for (k, v) in self.pending {
            batch.insert(k, v);
        }
        batch.insert(Key::Head.bytes(), encode(&self.head));
        self.ledger.db.apply_batch(batch).map_err(|e| StoreError::sled(&path, e))?;
        self.ledger.db.flush().map_err(|e| StoreError::sled(&path, e))?;
        self.ledger.head = self.head;
        Ok(self.appended)
    }
}

#[cfg(test)]
mod tests;
