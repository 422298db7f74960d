//! A full audit of a log from its raw entry lines: every line parsed, every rule applied with
//! the same code as append, every signature verified exactly (each alone, on every core), every leaf
//! hashed into the tree. Streaming: memory holds the ledger's state and at most three chunks of
//! lines (one being parsed, one applied, one whose signatures are being checked), never the
//! whole log. [`Auditor::finish`] applies the last chunk and waits for the last verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::mpsc::{sync_channel, Receiver};

use ed25519_dalek::Signature;
use pledger_core::event::PublicKey;
use pledger_core::{decide, signing_key, Event, MemState, Recorded};
use rayon::prelude::*;

use crate::check::parse_event;
use crate::entry::Entry;
use crate::error::LogError;
use crate::merkle::{leaf_hash, Blake3, Frontier, Hash, Node};

/// Signatures checked together on one of the pool's threads.
pub const SIG_CHUNK: usize = 1024;

/// How an audit checks signatures. Either way each signature is checked alone, with the
/// verdict of ed25519-dalek's `verify_strict`, the check append makes (docs/format.md §5):
/// nothing random takes part, and a verdict never depends on the run.
///
/// `Exact` (the default) computes the check with [`crate::ed25519`], fast for keys that sign
/// often; `Reference` calls `verify_strict` itself for every signature, about half again as
/// long, for an auditor who wants the reference implementation's own answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signatures {
    /// pledger's own exact check (the default).
    #[default]
    Exact,
    /// ed25519-dalek's `verify_strict` for every signature.
    Reference,
}

/// The first entry that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFailure {
    /// The entry.
    pub seq: u64,
    /// What was wrong with it.
    pub reason: String,
}

impl fmt::Display for AuditFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}", self.seq, self.reason)
    }
}

impl std::error::Error for AuditFailure {}

/// A line parsed on its own, before the rules see it.
type Parsed = Result<(Entry, Event), LogError>;

struct SigJob {
    seq: u64,
    key: std::sync::Arc<crate::ed25519::Key>,
    msg: Vec<u8>,
    sig: Signature,
}

/// The state of the tree at a size the caller asked about: its root and the log key then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The tree's root at that size.
    pub root: Hash,
    /// The log key at that size (none before genesis).
    pub log_key: Option<PublicKey>,
}

/// A change of the log key, as the log recorded it: genesis naming the first, or a `key-added`
/// with `log` naming the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The entry that named it.
    pub seq: u64,
    /// The log key before it (none for genesis).
    pub old: Option<PublicKey>,
    /// The log key it names.
    pub new: PublicKey,
    /// The key that signed the entry.
    pub signed_by: PublicKey,
}

/// Audits a log fed to it in chunks of consecutive entry lines.
pub struct Auditor {
    signatures: Signatures,
    state: MemState,
    keys: crate::keys::KeyCache,
    frontier: Frontier,
    wanted: BTreeSet<u64>,
    marks: BTreeMap<u64, Mark>,
    nodes: Option<Vec<Node>>,
    /// Lines fed so far.
    fed: u64,
    /// The lines fed last, being parsed.
    parsing: Option<Receiver<Vec<(Parsed, Hash)>>>,
    /// The verdict on the signatures of the chunk applied last, still being checked.
    pending: Option<Receiver<Result<(), AuditFailure>>>,
    /// Every log key the entries fed named, in log order.
    rotations: Vec<Rotation>,
}

impl Default for Auditor {
    fn default() -> Self {
        Self::new()
    }
}

impl Auditor {
    /// An auditor of an empty log, checking signatures exactly.
    pub fn new() -> Self {
        Self::checking(Signatures::default())
    }

    /// An auditor that checks signatures as `signatures` says.
    pub fn checking(signatures: Signatures) -> Self {
        Auditor {
            signatures,
            state: MemState::new(),
            keys: crate::keys::KeyCache::new(),
            frontier: Frontier::default(),
            wanted: BTreeSet::new(),
            marks: BTreeMap::new(),
            nodes: None,
            fed: 0,
            parsing: None,
            pending: None,
            rotations: Vec::new(),
        }
    }

    /// An auditor that goes on from an audit already done: `state` and `frontier` of the first
    /// `frontier.size` entries, as [`Auditor::into_parts`] gave them.
    pub fn resume(state: MemState, frontier: Frontier, signatures: Signatures) -> Self {
        let mut a = Auditor::checking(signatures);
        a.fed = frontier.size;
        a.state = state;
        a.frontier = frontier;
        a
    }

    /// The log keys the entries fed named, in log order (an audit resumed knows only those fed
    /// since).
    pub fn rotations(&self) -> &[Rotation] {
        &self.rotations
    }

    /// The state and the tree's frontier of a finished audit, to resume it later.
    pub fn into_parts(self) -> (MemState, Frontier) {
        debug_assert!(self.pending.is_none() && self.parsing.is_none(), "read before Auditor::finish");
        (self.state, self.frontier)
    }

    /// Makes room ahead for a log of about `entries` entries ([`MemState::reserve_for`]): a
    /// hint, which may be wrong; the audit checks the log it is fed, whatever its length.
    pub fn reserve_for(&mut self, entries: u64) {
        self.state.reserve_for(entries);
    }

    /// Asks for the root and log key at `size` (a checkpoint to check against).
    pub fn mark(&mut self, size: u64) {
        self.wanted.insert(size);
        if size == 0 {
            self.marks.insert(0, Mark { root: self.frontier.root::<Blake3>(), log_key: None });
        }
    }

    /// Keeps the complete tree nodes the audit computes, for the caller to compare with a
    /// stored tree ([`Auditor::take_nodes`]).
    pub fn keep_nodes(&mut self) {
        self.nodes = Some(Vec::new());
    }

    /// The tree nodes kept since the last call (see [`Auditor::keep_nodes`]).
    pub fn take_nodes(&mut self) -> Vec<Node> {
        self.nodes.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Entries audited so far.
    pub fn size(&self) -> u64 {
        self.frontier.size
    }

    /// The root of the tree over the entries audited (after [`Auditor::finish`]).
    pub fn root(&self) -> Hash {
        debug_assert!(self.pending.is_none() && self.parsing.is_none(), "read before Auditor::finish");
        self.frontier.root::<Blake3>()
    }

    /// The tree's right edge (after [`Auditor::finish`]).
    pub fn frontier(&self) -> &Frontier {
        debug_assert!(self.pending.is_none() && self.parsing.is_none(), "read before Auditor::finish");
        &self.frontier
    }

    /// The state the entries built (after [`Auditor::finish`]).
    pub fn state(&self) -> &MemState {
        debug_assert!(self.pending.is_none() && self.parsing.is_none(), "read before Auditor::finish");
        &self.state
    }

    /// The root and log key at `size`, when the caller asked for that size to be marked.
    pub fn mark_at(&self, size: u64) -> Option<&Mark> {
        debug_assert!(self.pending.is_none() && self.parsing.is_none(), "read before Auditor::finish");
        self.marks.get(&size)
    }

    /// Audits the next lines of the log: they are parsed on the pool's threads while the rules
    /// run over the lines fed before, whose signatures then go to the pool in turn. A failure
    /// may therefore surface one call later, or from [`Auditor::finish`]; it always names the
    /// first bad entry — a bad signature before a broken rule, whichever was found first.
    pub fn feed(&mut self, lines: Vec<Vec<u8>>) -> Result<(), AuditFailure> {
        let base = self.fed;
        self.fed += lines.len() as u64;
        let (tx, rx) = sync_channel(1);
        rayon::spawn(move || {
            let _ = tx.send(parse_chunk(base, &lines));
        });
        match self.parsing.replace(rx) {
            Some(before) => self.apply(before),
            None => Ok(()),
        }
    }

    /// Applies the rules to the last lines fed and waits for every signature still being
    /// checked; the audit is complete, and [`state`], [`root`] and the marks are trustworthy,
    /// only once this returns `Ok`.
    ///
    /// [`state`]: Auditor::state
    /// [`root`]: Auditor::root
    pub fn finish(&mut self) -> Result<(), AuditFailure> {
        if let Some(last) = self.parsing.take() {
            self.apply(last)?;
        }
        self.settle()
    }

    /// Waits for the verdict on the signatures sent to the pool last.
    fn settle(&mut self) -> Result<(), AuditFailure> {
        match self.pending.take() {
            None => Ok(()),
            Some(verdict) => verdict.recv().unwrap_or_else(|_| {
                Err(AuditFailure { seq: self.frontier.size, reason: "the signature check stopped".into() })
            }),
        }
    }

    /// The rules, in order, over a chunk parsed on the pool; then its signatures to the pool.
    fn apply(&mut self, parsed: Receiver<Vec<(Parsed, Hash)>>) -> Result<(), AuditFailure> {
        let base = self.frontier.size;
        let parsed = parsed.recv().map_err(|_| AuditFailure { seq: base, reason: "the parser stopped".into() })?;
        let mut jobs: Vec<SigJob> = Vec::with_capacity(parsed.len());
        for (i, (parsed, leaf)) in parsed.into_iter().enumerate() {
            let seq = base + i as u64;
            let step = parsed.and_then(|(entry, event)| {
                let pk = signing_key(&self.state, &event, seq)?;
                let key = self
                    .keys
                    .get(&pk)
                    .ok_or_else(|| LogError::Entry(format!("key {} is not a valid Ed25519 key", event.key)))?;
                let (_, sig) = entry.envelope.single_signature()?;
                let msg = entry.envelope.signed_bytes();
                let recorded = Recorded { seq, recorded_at: entry.recorded_at, event };
                let outcome = decide(&self.state, &recorded)?;
                Ok((SigJob { seq, key, msg, sig }, outcome))
            });
            match step {
                Ok((job, outcome)) => {
                    let old = self.state.head.log_key;
                    self.state.commit_owned(outcome);
                    if let Some(new) = self.state.head.log_key.filter(|k| Some(*k) != old) {
                        let signed_by = crate::keys::to_event_key(job.key.verifying_key());
                        self.rotations.push(Rotation { seq, old, new, signed_by });
                    }
                    jobs.push(job);
                }
                Err(e) => {
                    self.settle()?;
                    check_signatures(&jobs, self.signatures)?;
                    return Err(AuditFailure { seq, reason: e.to_string() });
                }
            }
            let created = self.frontier.push::<Blake3>(leaf);
            if let Some(nodes) = &mut self.nodes {
                nodes.extend(created);
            }
            if self.wanted.contains(&(seq + 1)) {
                self.marks
                    .insert(seq + 1, Mark { root: self.frontier.root::<Blake3>(), log_key: self.state.head.log_key });
            }
        }
        // The previous chunk's verdict first (a bad signature there comes before anything
        // here), then this chunk's signatures go to the pool.
        self.settle()?;
        let (tx, rx) = sync_channel(1);
        let signatures = self.signatures;
        rayon::spawn(move || {
            let _ = tx.send(check_signatures(&jobs, signatures));
        });
        self.pending = Some(rx);
        Ok(())
    }
}

/// Parses lines that stand at `base` onwards, in parallel, with their leaf hashes.
fn parse_chunk(base: u64, lines: &[Vec<u8>]) -> Vec<(Parsed, Hash)> {
    lines
        .par_iter()
        .enumerate()
        .map(|(i, line)| {
            let seq = base + i as u64;
            let parsed = Entry::parse(line).and_then(|entry| {
                if entry.seq != seq {
                    return Err(LogError::Entry(format!(
                        "it is numbered {} but stands at position {seq}: entries were dropped, added or reordered",
                        entry.seq
                    )));
                }
                let event = parse_event(&entry.envelope)?;
                Ok((entry, event))
            });
            (parsed, leaf_hash(line))
        })
        .collect()
}

/// Verifies signatures on every core, each alone; names the first bad one.
fn check_signatures(jobs: &[SigJob], signatures: Signatures) -> Result<(), AuditFailure> {
    let valid = |j: &SigJob| match signatures {
        Signatures::Exact => j.key.verify(&j.msg, &j.sig),
        Signatures::Reference => j.key.verifying_key().verify_strict(&j.msg, &j.sig).is_ok(),
    };
    // Chunks of at most SIG_CHUNK, and small enough that a short feed still uses every core.
    let chunk = jobs.len().div_ceil(2 * rayon::current_num_threads()).clamp(16, SIG_CHUNK);
    let first_bad = jobs.par_chunks(chunk).filter_map(|chunk| chunk.iter().find(|j| !valid(j)).map(|j| j.seq)).min();
    match first_bad {
        Some(seq) => {
            let job = jobs.iter().find(|j| j.seq == seq);
            let key = job.map(|j| crate::keys::key_id(j.key.verifying_key()).to_string()).unwrap_or_default();
            Err(AuditFailure { seq, reason: format!("bad signature: does not verify under key {key}") })
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::sign_event;
    use ed25519_dalek::SigningKey;
    use pledger_core::testkit::{self, cast};
    use std::collections::HashMap;

    /// A valid log's lines, through the same checks as append.
    pub fn lines(seed: u64, n: usize) -> Vec<Vec<u8>> {
        let keys: Vec<SigningKey> = (0..5).map(|i| SigningKey::from_bytes(&[i as u8 + 10; 32])).collect();
        let actors = cast(5, |i| crate::keys::to_event_key(&keys[i].verifying_key()));
        let by_id: HashMap<String, &SigningKey> = actors.iter().map(|a| a.id.to_string()).zip(keys.iter()).collect();
        let mut state = MemState::new();
        let mut out = Vec::new();
        for (i, e) in testkit::ledger(&actors, seed, n).into_iter().enumerate() {
            let env = sign_event(&e, by_id[e.signer.as_str()]);
            let entry = Entry { seq: state.head.size, recorded_at: testkit::time(i as u64), envelope: env };
            if let Ok((_, outcome)) = crate::check(&state, &entry) {
                state.commit(&outcome);
                out.push(entry.to_line());
            }
        }
        out
    }

    fn audit(lines: &[Vec<u8>], chunk: usize) -> Result<Auditor, AuditFailure> {
        audit_checking(lines, chunk, Signatures::Exact)
    }

    fn audit_checking(lines: &[Vec<u8>], chunk: usize, signatures: Signatures) -> Result<Auditor, AuditFailure> {
        let mut a = Auditor::checking(signatures);
        for c in lines.chunks(chunk) {
            a.feed(c.to_vec())?;
        }
        a.finish()?;
        Ok(a)
    }

    #[test]
    fn a_valid_log_passes_whatever_the_chunking() {
        let l = lines(3, 400);
        let whole = audit(&l, 10_000).unwrap();
        let small = audit(&l, 7).unwrap();
        assert_eq!(whole.root(), small.root());
        assert_eq!(whole.state(), small.state());
        assert_eq!(whole.size(), l.len() as u64);
    }

    #[test]
    fn an_expected_length_reserves_the_event_ids_ahead() {
        let lines = lines(3, 300);
        let mut a = Auditor::new();
        a.reserve_for(5000);
        let room = a.state().event_ids.capacity();
        assert!(room >= 5000, "{room}");
        a.feed(lines.clone()).unwrap();
        a.finish().unwrap();
        assert_eq!(a.state().event_ids.capacity(), room, "the map did not move");
        assert_eq!(a.state(), audit(&lines, 64).unwrap().state(), "the same state as without");
    }

    #[test]
    fn strict_checking_passes_what_batches_pass_and_names_the_same_forgery() {
        let l = lines(6, 300);
        let strict = audit_checking(&l, 64, Signatures::Reference).unwrap();
        let batched = audit(&l, 64).unwrap();
        assert_eq!((strict.root(), strict.state()), (batched.root(), batched.state()));
        let mut forged = l.clone();
        for at in [100, 41] {
            let mut e = Entry::parse(&forged[at]).unwrap();
            e.envelope.signatures[0].sig[5] ^= 4;
            forged[at] = e.to_line();
        }
        for chunk in [7, 64, 1000] {
            let err = audit_checking(&forged, chunk, Signatures::Reference).err().unwrap();
            assert_eq!(err.seq, 41, "chunks of {chunk}: {err}");
            assert!(err.reason.starts_with("bad signature: does not verify under key "), "{err}");
            assert_eq!(audit(&forged, chunk).err().unwrap(), err, "chunks of {chunk}");
        }
    }

    #[test]
    fn the_first_bad_entry_is_named() {
        let l = lines(4, 300);
        // A forged signature (one payload byte) at 40; a rule broken at 90 (an entry replayed).
        let mut forged = l.clone();
        let mut e = Entry::parse(&forged[40]).unwrap();
        let n = e.envelope.payload.len();
        e.envelope.payload[n - 3] ^= 1;
        forged[40] = e.to_line();
        let err = audit(&forged, 64).err().unwrap();
        assert_eq!(err.seq, 40, "{err}");
        let mut replayed = forged.clone();
        let mut again = Entry::parse(&l[20]).unwrap();
        again.seq = 30;
        replayed[30] = again.to_line();
        let err = audit(&replayed, 64).err().unwrap();
        assert_eq!(err.seq, 30, "{err}");
        // Dropped and swapped entries.
        let mut dropped = l.clone();
        dropped.remove(55);
        let err = audit(&dropped, 64).err().unwrap();
        assert_eq!(err.seq, 55);
        assert!(err.reason.contains("dropped, added or reordered"), "{err}");
        let mut swapped = l.clone();
        swapped.swap(70, 71);
        assert_eq!(audit(&swapped, 64).err().unwrap().seq, 70);
        // A truncated line.
        let mut cut = l.clone();
        cut[12].truncate(50);
        assert_eq!(audit(&cut, 64).err().unwrap().seq, 12);
    }

    #[test]
    fn forgeries_and_a_broken_rule_close_together_the_first_is_named() {
        let l = lines(5, 300);
        let last = l.len() - 5;
        assert!(last > 100, "{} lines", l.len());
        let forge = |lines: &mut Vec<Vec<u8>>, at: usize| {
            let mut e = Entry::parse(&lines[at]).unwrap();
            e.envelope.signatures[0].sig[9] ^= 1;
            lines[at] = e.to_line();
        };
        // Chunks of 7: the forged signature at 40 is in chunk 5, the broken rule at 90 in chunk
        // 12 and the second forgery near the end.
        let mut forged = l.clone();
        forge(&mut forged, 40);
        forge(&mut forged, last);
        let mut broken = forged.clone();
        let mut again = Entry::parse(&l[20]).unwrap();
        again.seq = 90;
        broken[90] = again.to_line();
        for chunk in [1, 7, 16, 64, 1000] {
            assert_eq!(audit(&forged, chunk).err().unwrap().seq, 40, "chunks of {chunk}");
            assert_eq!(audit(&broken, chunk).err().unwrap().seq, 40, "chunks of {chunk}");
        }
        // Without the first forgery, the broken rule comes before the second.
        let mut later = broken.clone();
        later[40] = l[40].clone();
        for chunk in [1, 7, 16, 64, 1000] {
            assert_eq!(audit(&later, chunk).err().unwrap().seq, 90, "chunks of {chunk}");
        }
        // Two forgeries just before a broken rule: in chunks of 7, in the chunks before it.
        let mut close = later.clone();
        forge(&mut close, 76);
        forge(&mut close, 83);
        for chunk in [1, 3, 7, 16, 64, 1000] {
            assert_eq!(audit(&close, chunk).err().unwrap().seq, 76, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_bad_signature_in_the_last_chunk_is_reported_by_finish() {
        let l = lines(6, 600);
        let n = l.len();
        assert!(n > 100, "{n} lines");
        let bad = n - 10;
        let mut forged = l.clone();
        let mut e = Entry::parse(&forged[bad]).unwrap();
        e.envelope.signatures[0].sig[5] ^= 1;
        forged[bad] = e.to_line();
        let mut a = Auditor::new();
        // The rules pass; the signatures are still being checked when feed returns.
        a.feed(forged[..n / 2].to_vec()).unwrap();
        a.feed(forged[n / 2..].to_vec()).unwrap();
        assert_eq!(a.finish().err().unwrap().seq, bad as u64);
        // And a bad signature in one chunk is named before a rule broken in the next.
        let mut both = forged.clone();
        both.truncate(bad + 5);
        let mut replay = Entry::parse(&l[3]).unwrap();
        replay.seq = (bad + 5) as u64;
        both.push(replay.to_line());
        let mut a = Auditor::new();
        a.feed(both[..bad + 2].to_vec()).unwrap();
        a.feed(both[bad + 2..].to_vec()).unwrap();
        assert_eq!(a.finish().err().unwrap().seq, bad as u64);
        // Without the forgery, the broken rule is what is named.
        let mut rule = l[..bad + 5].to_vec();
        rule.push(replay.to_line());
        let mut a = Auditor::new();
        a.feed(rule[..bad + 2].to_vec()).unwrap();
        a.feed(rule[bad + 2..].to_vec()).unwrap();
        assert_eq!(a.finish().err().unwrap().seq, (bad + 5) as u64);
    }

    #[test]
    fn marks_record_roots_and_log_keys() {
        let l = lines(5, 50);
        let mut a = Auditor::new();
        a.mark(10);
        a.mark(l.len() as u64);
        a.feed(l.clone()).unwrap();
        a.finish().unwrap();
        let mut tree = crate::merkle::MemTree::default();
        for line in &l[..10] {
            tree.push::<Blake3>(leaf_hash(line));
        }
        assert_eq!(a.mark_at(10).unwrap().root, tree.frontier.root::<Blake3>());
        assert_eq!(a.mark_at(l.len() as u64).unwrap().root, a.root());
        assert!(a.mark_at(10).unwrap().log_key.is_some());
    }
}
