//! Rebuild's comparison: every key derived from the entries — tree nodes, records, indexes,
//! tallies — against what the store holds, in one ordered walk per prefix beside the keys wanted
//! there in the same order. A walk reads each stored key once, a leaf of sled's at a time, where
//! a lookup per key would descend the tree for each; only what differs is written.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use pledger_core::state::Record;
use pledger_core::tally::Tallies;
use pledger_core::MemState;
use pledger_log::merkle::Node;

use crate::keys::{self, Key};
use crate::tally::Roster;
use crate::{Result, StoreError};

/// A key and the bytes it should hold.
type Pair = (Vec<u8>, Vec<u8>);

/// The pairs wanted under one prefix, in ascending key order.
type Wanted<'a> = Box<dyn Iterator<Item = Pair> + Send + 'a>;

/// Changes written together.
const BATCH: usize = 50_000;

/// Every prefix whose keys are derived from the entries: a rebuild makes each hold exactly
/// what the entries call for.
const DERIVED: [u8; 17] = [
    b'n',
    keys::MEMBER,
    b'k',
    keys::AREA,
    keys::CATEGORY,
    keys::PLEDGE,
    keys::FULFILLMENT,
    b's',
    b'i',
    keys::BY_MEMBER,
    keys::TALLIES[0],
    keys::TALLIES[1],
    keys::TALLIES[2],
    keys::TALLIES[3],
    keys::TALLIES[4],
    keys::TALLIES[5],
    keys::TALLIES[6],
];

/// Makes every derived prefix of `db` hold what `state`, the stored tree `nodes` and `tallies`
/// call for, the prefixes walked on every core. Returns the number of keys written or removed.
pub fn derived(db: &sled::Db, path: &Path, state: &MemState, nodes: Vec<Node>, tallies: &Tallies) -> Result<u64> {
    use rayon::prelude::*;
    let sources = wanted(state, nodes, tallies)?;
    sources.into_par_iter().map(|(prefix, wanted)| reconcile(db, path, prefix, wanted, BATCH)).sum()
}

/// What each derived prefix should hold, the largest first. Pledges, fulfillments, event ids
/// and tree nodes — most of the keys — are encoded as the walk reaches them; the rest are made
/// and sorted here.
fn wanted<'a>(state: &'a MemState, mut nodes: Vec<Node>, tallies: &Tallies) -> Result<Vec<(u8, Wanted<'a>)>> {
    let mut event_ids: Vec<(pledger_core::ids::EventId, u64)> =
        state.event_ids.iter().map(|(id, seq)| (*id, *seq)).collect();
    event_ids.sort_unstable_by_key(|(id, _)| id.0);
    nodes.sort_unstable_by_key(|(level, index, _)| (*level, *index));
    let pair = |(key, value): (Key, Vec<u8>)| (key.bytes(), value);
    let mut sources: Vec<(u8, Wanted<'a>)> = vec![
        (
            b'i',
            Box::new(
                event_ids.into_iter().filter_map(move |(id, seq)| keys::record(&Record::EventId(id, seq)).map(pair)),
            ),
        ),
        (keys::FULFILLMENT, Box::new(state.fulfillments.values().map(keys::fulfillment).map(pair))),
        (keys::PLEDGE, Box::new(state.pledges.values().map(keys::pledge).map(pair))),
        (
            b'n',
            Box::new(nodes.into_iter().map(|(level, index, hash)| (Key::Node(level, index).bytes(), hash.to_vec()))),
        ),
    ];
    // The rest, by prefix.
    let mut rest: BTreeMap<u8, Vec<Pair>> = BTreeMap::new();
    let mut add = |(key, value): Pair| rest.entry(key[0]).or_default().push((key, value));
    let records = state
        .members
        .values()
        .cloned()
        .map(Record::Member)
        .chain(state.key_holders.iter().map(|(k, m)| Record::KeyHolder(k.clone(), m.clone())));
    let records = records
        .chain(state.areas.values().cloned().map(Record::Area))
        .chain(state.categories.values().cloned().map(Record::Category))
        .chain(state.numbered.iter().map(|(id, seq)| Record::Numbered(id, seq)));
    for r in records {
        if let Some(p) = keys::record(&r) {
            add(pair(p));
        }
    }
    for p in state.pledges.values() {
        for key in keys::by_member(p) {
            add((key.bytes(), Vec::new()));
        }
    }
    for p in keys::tally_entries(tallies) {
        add(pair(p));
    }
    let roster = Roster::of(state.members.values());
    for ((a, c), cell) in &tallies.cell_members() {
        add((Key::CellMembers(a.clone(), c.clone()).bytes(), roster.encode(cell)?));
    }
    for prefix in DERIVED {
        if sources.iter().any(|(p, _)| *p == prefix) {
            continue;
        }
        let mut pairs = rest.remove(&prefix).unwrap_or_default();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // A key made twice (none should be) is wanted once.
        pairs.dedup_by(|a, b| a.0 == b.0);
        sources.push((prefix, Box::new(pairs.into_iter())));
    }
    match rest.keys().next() {
        Some(prefix) => {
            Err(StoreError::Corrupt(format!("rebuild made a key under prefix {prefix:#04x}, not a derived one")))
        }
        None => Ok(sources),
    }
}

/// Walks the keys stored under `prefix` beside `wanted` (ascending): a wanted key missing or
/// holding other bytes is written, a stored key not wanted is removed. Changes are written in
/// batches of `batch_size`, each once the walk has passed every key it touches (a key written
/// ahead of the walk would be met by it as a stored one), and the walk goes on after the last
/// key it read. Returns the number of changes.
fn reconcile(db: &sled::Db, path: &Path, prefix: u8, wanted: Wanted, batch_size: usize) -> Result<u64> {
    let sled_err = |e| StoreError::sled(path, e);
    let mut wanted = InOrder { pairs: wanted.peekable(), prefix, last: Vec::new() };
    let end = Bound::Excluded(vec![prefix + 1]);
    let mut from = Bound::Included(vec![prefix]);
    let mut changed = 0u64;
    loop {
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        let mut stopped_at = None;
        for kv in db.range((from.clone(), end.clone())) {
            let (key, value) = kv.map_err(sled_err)?;
            while let Some((k, v)) = wanted.next_below(&key)? {
                batch.insert(k, v);
                pending += 1;
            }
            match wanted.next_at(&key)? {
                Some(v) if v.as_slice() == value.as_ref() => {}
                Some(v) => {
                    batch.insert(key.clone(), v);
                    pending += 1;
                }
                None => {
                    batch.remove(key.clone());
                    pending += 1;
                }
            }
            if pending >= batch_size {
                stopped_at = Some(key);
                break;
            }
        }
        let walked = stopped_at.is_none();
        if walked {
            // Past the last stored key: what is still wanted is missing.
            while let Some((k, v)) = wanted.next_below(&[prefix + 1])? {
                batch.insert(k, v);
                pending += 1;
                if pending >= batch_size {
                    db.apply_batch(std::mem::take(&mut batch)).map_err(sled_err)?;
                    changed += pending as u64;
                    pending = 0;
                }
            }
        }
        if pending > 0 {
            db.apply_batch(batch).map_err(sled_err)?;
            changed += pending as u64;
        }
        match stopped_at {
            Some(key) => from = Bound::Excluded(key.to_vec()),
            None => {
                wanted.finish()?;
                return Ok(changed);
            }
        }
    }
}

/// The wanted pairs of one prefix, each checked to be under it and above the one before: a
/// walk beside keys out of order would remove what it should keep.
struct InOrder<'a> {
    pairs: std::iter::Peekable<Wanted<'a>>,
    prefix: u8,
    /// The key taken last (empty before the first: every key sorts above it).
    last: Vec<u8>,
}

impl InOrder<'_> {
    /// The next wanted pair if its key sorts below `key`.
    fn next_below(&mut self, key: &[u8]) -> Result<Option<Pair>> {
        match self.pairs.peek() {
            Some((k, _)) if k.as_slice() < key => self.take(),
            _ => Ok(None),
        }
    }

    /// The bytes wanted at `key`, if it is the next wanted key.
    fn next_at(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pairs.peek() {
            Some((k, _)) if k.as_slice() == key => Ok(self.take()?.map(|(_, v)| v)),
            _ => Ok(None),
        }
    }

    fn take(&mut self) -> Result<Option<Pair>> {
        let Some((key, value)) = self.pairs.next() else {
            return Ok(None);
        };
        let ordered = key.first() == Some(&self.prefix) && self.last < key;
        if !ordered {
            return Err(self.disorder());
        }
        self.last.clear();
        self.last.extend_from_slice(&key);
        Ok(Some((key, value)))
    }

    /// Fails if a wanted pair was left untaken (one under another prefix).
    fn finish(mut self) -> Result<()> {
        match self.take()? {
            Some(_) => Err(self.disorder()),
            None => Ok(()),
        }
    }

    fn disorder(&self) -> StoreError {
        StoreError::Corrupt(format!("rebuild made the keys under prefix {:#04x} out of order", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Map = BTreeMap<Vec<u8>, Vec<u8>>;

    /// Keys under prefix `x` (and some under `w` and `y`, which must stay as they are), with
    /// values of a byte or two.
    fn store() -> impl Strategy<Value = Map> {
        let key = (prop::sample::select(vec![b'w', b'x', b'y']), prop::collection::vec(0u8..4, 0..3))
            .prop_map(|(p, rest)| [vec![p], rest].concat());
        prop::collection::btree_map(key, prop::collection::vec(0u8..3, 1..3), 0..40)
    }

    fn under_x(m: &Map) -> Map {
        m.iter().filter(|(k, _)| k[0] == b'x').map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    proptest! {
        /// Whatever the store holds and whatever is wanted, in batches of any size: the prefix
        /// ends holding exactly what is wanted, the other prefixes as they were, and the count
        /// is the number of keys that had to change.
        #[test]
        fn a_prefix_ends_holding_exactly_what_is_wanted(stored in store(), wanted in store(), batch in 1usize..6) {
            let dir = tempfile::tempdir().unwrap();
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            for (k, v) in &stored {
                db.insert(k, v.as_slice()).unwrap();
            }
            let want = under_x(&wanted);
            let had = under_x(&stored);
            let differing = want.iter().filter(|(k, v)| had.get(*k) != Some(v)).count()
                + had.keys().filter(|k| !want.contains_key(*k)).count();
            let pairs: Wanted = Box::new(want.clone().into_iter());
            let changed = reconcile(&db, dir.path(), b'x', pairs, batch).unwrap();
            prop_assert_eq!(changed as usize, differing);
            let now: Map = db.iter().map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
            let mut expected: Map = stored.into_iter().filter(|(k, _)| k[0] != b'x').collect();
            expected.extend(want);
            prop_assert_eq!(now, expected);
        }
    }

    #[test]
    fn keys_wanted_out_of_order_or_under_another_prefix_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let cases: [Vec<Pair>; 3] = [
            vec![(b"x2".to_vec(), vec![1]), (b"x1".to_vec(), vec![1])],
            vec![(b"x1".to_vec(), vec![1]), (b"x1".to_vec(), vec![2])],
            vec![(b"x1".to_vec(), vec![1]), (b"z1".to_vec(), vec![1])],
        ];
        for pairs in cases {
            let err = reconcile(&db, dir.path(), b'x', Box::new(pairs.into_iter()), 10).unwrap_err();
            assert!(err.to_string().contains("out of order"), "{err}");
        }
    }
}
