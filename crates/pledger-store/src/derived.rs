//! The keys derived from the entries — tree nodes, records, indexes, tallies — against what the
//! store holds: one ordered walk per prefix beside the keys the entries call for there, in the
//! same order. A walk reads each stored key once, a leaf of sled's at a time, where a lookup per
//! key would descend the tree for each. `verify` walks to find the first difference, `rebuild`
//! to write every one; both therefore agree on what differs.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use pledger_core::ids::{EventId, MemberId, ShortId};
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

/// Changes `rebuild` writes together.
const BATCH: usize = 50_000;

/// Every prefix whose keys are derived from the entries, in the order differences are reported.
const DERIVED: [u8; 18] = [
    keys::NODE,
    keys::MEMBER,
    keys::HOLDER,
    keys::IATI_ORG,
    keys::AREA,
    keys::CATEGORY,
    keys::PLEDGE,
    keys::FULFILLMENT,
    keys::NUMBERED,
    keys::EVENT_ID,
    keys::BY_MEMBER,
    keys::TALLIES[0],
    keys::TALLIES[1],
    keys::TALLIES[2],
    keys::TALLIES[3],
    keys::TALLIES[4],
    keys::TALLIES[5],
    keys::TALLIES[6],
];

/// The prefixes of the keys pledger keeps beside the derived ones: the entries and the kept
/// checkpoints.
const KEPT: [u8; 2] = [keys::ENTRY, keys::CHECKPOINT];

/// Whether `key` is one of the store's single keys: its version, head and marks.
fn single(key: &[u8]) -> bool {
    [Key::Version, Key::Head, Key::Rebuilding, Key::Indexed, Key::Tallied].into_iter().any(|k| k.bytes() == key)
}

/// The first key of the store that pledger never writes: under no prefix of its own, or an entry
/// beyond the `size` entries of the head. The entries are checked apart (the audit); this finds
/// what the audit and the walks would never read.
pub fn first_stray(db: &sled::Db, path: &Path, size: u64) -> Result<Option<Vec<u8>>> {
    strays(db, path, size).next().transpose()
}

/// Every key of the store under no prefix of pledger's (not the entries beyond the head, which
/// a rebuild replays).
fn strays<'a>(db: &'a sled::Db, path: &'a Path, size: u64) -> impl Iterator<Item = Result<Vec<u8>>> + 'a {
    let sled_err = move |e| StoreError::sled(path, e);
    let beyond = db
        .range(Key::Entry(size).bytes()..vec![keys::ENTRY + 1])
        .keys()
        .map(move |k| k.map(|k| k.to_vec()).map_err(sled_err));
    let unknown = (0..=u8::MAX)
        .filter(|b| !DERIVED.contains(b) && !KEPT.contains(b))
        .flat_map(move |b| db.scan_prefix([b]).keys())
        .map(move |k| k.map(|k| k.to_vec()).map_err(sled_err))
        .filter(|k| !matches!(k, Ok(k) if single(k)));
    beyond.chain(unknown)
}

/// Removes every key under no prefix of pledger's; returns how many.
pub fn remove_strays(db: &sled::Db, path: &Path) -> Result<u64> {
    let mut batch = sled::Batch::default();
    let mut n = 0u64;
    // The entries beyond any size: none, as a rebuild replays every entry.
    for k in strays(db, path, u64::MAX) {
        batch.remove(k?);
        n += 1;
    }
    db.apply_batch(batch).map_err(|e| StoreError::sled(path, e))?;
    Ok(n)
}

/// What the entries call for: the audited or replayed state, the tree's nodes from the level the
/// store keeps up ([`keys::STORED_LEVEL`]), and what of the store to compare.
pub struct Called<'a> {
    pub state: &'a MemState,
    pub nodes: Vec<Node>,
    /// The tallies; `None` leaves the tallies' prefixes out (a store whose tallies are of an
    /// earlier layout, set aside until a rebuild).
    pub tallies: Option<&'a Tallies>,
    /// Whether the member index is compared (a store made before it has none until a rebuild).
    pub index: bool,
}

/// How a stored key differs from what the entries call for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// The entries call for the key; the store lacks it.
    Missing,
    /// The store holds other bytes there.
    Differs,
    /// The store holds a key the entries do not call for.
    Unexpected,
}

/// A derived key that differs, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The key.
    pub key: Vec<u8>,
    /// What was found there, against what the entries build.
    pub found: Found,
}

impl Difference {
    /// The key named for a person: "pledge P-000003", "tree node (4, 1)", "timeline tally of
    /// 2014-04"…
    pub fn what(&self) -> String {
        keys::describe(&self.key)
    }

    /// Whether the key is one of the tallies'.
    pub fn is_tally(&self) -> bool {
        self.key.first().is_some_and(|p| keys::TALLIES.contains(p))
    }
}

/// The first derived key of the store that differs from what the entries call for: the
/// prefixes walked on every core, each up to its first difference, the first reported in
/// [`DERIVED`]'s order and in key order within a prefix. Keys an earlier pledger wrote and
/// pledger no longer reads (tree nodes below the stored level, short ids of pledges and
/// fulfillments) are passed over; a rebuild removes them.
pub fn first_difference(db: &sled::Db, path: &Path, called: Called) -> Result<Option<Difference>> {
    use rayon::prelude::*;
    let found: Vec<Option<Difference>> = wanted(called)?
        .into_par_iter()
        .map(|(prefix, wanted)| {
            let mut walk = Walk::new(db, path, prefix, Bound::Included(vec![prefix]), InOrder::new(wanted, prefix));
            while let Some(d) = walk.next_difference()? {
                if !(d.found == Found::Unexpected && keys::inert(&d.key)) {
                    return Ok(Some(d));
                }
            }
            Ok(None)
        })
        .collect::<Result<_>>()?;
    Ok(found.into_iter().flatten().next())
}

/// Makes every derived prefix hold exactly what the entries call for, the prefixes walked on
/// every core. Returns the number of keys written or removed.
pub fn repair(db: &sled::Db, path: &Path, called: Called) -> Result<u64> {
    use rayon::prelude::*;
    wanted(called)?.into_par_iter().map(|(prefix, wanted)| repair_prefix(db, path, prefix, wanted, BATCH)).sum()
}

/// What each compared prefix should hold, in [`DERIVED`]'s order. Pledges, fulfillments, event
/// ids, short ids, the member index and tree nodes — most of the keys — are encoded as the walk
/// reaches them, from the state's records put in key order; the rest are made and sorted here.
fn wanted(called: Called) -> Result<Vec<(u8, Wanted)>> {
    let Called { state, mut nodes, tallies, index } = called;
    let pair = |(key, value): (Key, Vec<u8>)| (key.bytes(), value);
    let mut event_ids: Vec<(EventId, u64)> = state.event_ids.iter().map(|(id, seq)| (*id, *seq)).collect();
    event_ids.sort_unstable_by_key(|(id, _)| id.0);
    nodes.sort_unstable_by_key(|(level, index, _)| (*level, *index));
    let mut sources: Vec<(u8, Wanted)> = vec![
        (
            keys::EVENT_ID,
            Box::new(
                event_ids.into_iter().filter_map(move |(id, seq)| keys::record(&Record::EventId(id, seq)).map(pair)),
            ),
        ),
        (keys::FULFILLMENT, Box::new(state.fulfillments.values().map(keys::fulfillment).map(pair))),
        (keys::PLEDGE, Box::new(state.pledges.values().map(keys::pledge).map(pair))),
        (
            keys::NODE,
            Box::new(nodes.into_iter().map(|(level, index, hash)| (Key::Node(level, index).bytes(), hash.to_vec()))),
        ),
    ];
    if index {
        let mut entries: Vec<(&MemberId, pledger_core::PledgeId)> =
            state.pledges.values().flat_map(keys::index_entries).collect();
        entries.sort_unstable_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
        entries.dedup();
        sources.push((
            keys::BY_MEMBER,
            Box::new(entries.into_iter().map(|(m, p)| (Key::ByMember(m.clone(), p).bytes(), Vec::new()))),
        ));
    }
    let mut numbered: Vec<(ShortId, u64)> = state.numbered.iter().collect();
    numbered.sort_unstable_by_key(|(id, _)| (id.kind.prefix(), id.n));
    sources.push((
        keys::NUMBERED,
        Box::new(numbered.into_iter().filter_map(move |(id, seq)| keys::record(&Record::Numbered(id, seq)).map(pair))),
    ));
    // The rest, a few thousand keys, by prefix.
    let mut rest: BTreeMap<u8, Vec<Pair>> = BTreeMap::new();
    let mut add = |(key, value): Pair| rest.entry(key[0]).or_default().push((key, value));
    let records = state.members.values().cloned().map(Record::Member);
    let records = records
        .chain(state.key_holders.iter().map(|(k, m)| Record::KeyHolder(k.clone(), m.clone())))
        .chain(state.iati_orgs.iter().map(|(o, m)| Record::IatiOrg(o.clone(), m.clone())))
        .chain(state.areas.values().cloned().map(Record::Area))
        .chain(state.categories.values().cloned().map(Record::Category));
    for r in records {
        if let Some(p) = keys::record(&r) {
            add(pair(p));
        }
    }
    if let Some(tallies) = tallies {
        for p in keys::tally_entries(tallies) {
            add(pair(p));
        }
        let roster = Roster::of(state.members.values());
        for ((a, c), cell) in &tallies.cell_members() {
            add((Key::CellMembers(a.clone(), c.clone()).bytes(), roster.encode(cell)?));
        }
    }
    let compared = |p: &u8| (tallies.is_some() || !keys::TALLIES.contains(p)) && (index || *p != keys::BY_MEMBER);
    for prefix in DERIVED.into_iter().filter(compared) {
        if sources.iter().any(|(p, _)| *p == prefix) {
            continue;
        }
        let mut pairs = rest.remove(&prefix).unwrap_or_default();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sources.push((prefix, Box::new(pairs.into_iter())));
    }
    if let Some(prefix) = rest.keys().next() {
        return Err(StoreError::Corrupt(format!(
            "a derived key was made under prefix {prefix:#04x}, not a derived one"
        )));
    }
    // Reported in DERIVED's order.
    sources.sort_by_key(|(p, _)| DERIVED.iter().position(|d| d == p));
    Ok(sources)
}

/// Makes the keys stored under `prefix` hold exactly `wanted`: a wanted key missing or holding
/// other bytes is written, a stored key not wanted is removed. Changes are written in batches of
/// `batch_size`, the walk stopped for each (a key written ahead of a walk would be met by it as
/// a stored one) and taken up again after the last key it passed, stored or written. Returns
/// the number of changes.
fn repair_prefix(db: &sled::Db, path: &Path, prefix: u8, wanted: Wanted, batch_size: usize) -> Result<u64> {
    let mut wanted = InOrder::new(wanted, prefix);
    let mut from = Bound::Included(vec![prefix]);
    let mut changed = 0u64;
    loop {
        let mut walk = Walk::new(db, path, prefix, from, wanted);
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        let mut done = true;
        while let Some(d) = walk.next_difference()? {
            match walk.wanted_value.take() {
                Some(v) => batch.insert(d.key, v),
                None => batch.remove(d.key),
            }
            pending += 1;
            if pending >= batch_size {
                done = false;
                break;
            }
        }
        let passed = walk.passed();
        wanted = walk.wanted;
        if pending > 0 {
            db.apply_batch(batch).map_err(|e| StoreError::sled(path, e))?;
            changed += pending as u64;
        }
        if done {
            return Ok(changed);
        }
        from = Bound::Excluded(passed);
    }
}

/// One walk of the keys stored under a prefix beside the wanted ones.
struct Walk<'a> {
    stored: std::iter::Peekable<sled::Iter>,
    wanted: InOrder<'a>,
    path: &'a Path,
    /// The last stored key the walk passed.
    passed: Vec<u8>,
    /// The bytes wanted at the key of the last difference (`None`: it is not wanted).
    wanted_value: Option<Vec<u8>>,
}

impl<'a> Walk<'a> {
    fn new(db: &sled::Db, path: &'a Path, prefix: u8, from: Bound<Vec<u8>>, wanted: InOrder<'a>) -> Self {
        // Every derived prefix is below 0xff.
        let stored = db.range((from, Bound::Excluded(vec![prefix + 1]))).peekable();
        Walk { stored, wanted, path, passed: Vec::new(), wanted_value: None }
    }

    fn next_difference(&mut self) -> Result<Option<Difference>> {
        loop {
            let next = match self.stored.peek() {
                None => None,
                Some(Ok((key, _))) => Some(key.clone()),
                Some(Err(_)) => match self.stored.next() {
                    Some(Err(e)) => return Err(StoreError::sled(self.path, e)),
                    _ => None,
                },
            };
            let Some(key) = next else {
                // Past the last stored key: what is still wanted is missing.
                return Ok(self.wanted.take()?.map(|(k, v)| self.missing(k, v)));
            };
            if let Some((k, v)) = self.wanted.next_below(&key)? {
                return Ok(Some(self.missing(k, v)));
            }
            let Some(Ok((key, value))) = self.stored.next() else {
                continue;
            };
            self.passed.clear();
            self.passed.extend_from_slice(&key);
            match self.wanted.next_at(&key)? {
                Some(v) if v.as_slice() == value.as_ref() => {}
                Some(v) => {
                    self.wanted_value = Some(v);
                    return Ok(Some(Difference { key: key.to_vec(), found: Found::Differs }));
                }
                None => {
                    self.wanted_value = None;
                    return Ok(Some(Difference { key: key.to_vec(), found: Found::Unexpected }));
                }
            }
        }
    }

    fn missing(&mut self, key: Vec<u8>, value: Vec<u8>) -> Difference {
        self.wanted_value = Some(value);
        Difference { key, found: Found::Missing }
    }

    /// The last key passed, stored or wanted: every change so far is at or below it.
    fn passed(&self) -> Vec<u8> {
        self.passed.clone().max(self.wanted.last.clone())
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

impl<'a> InOrder<'a> {
    fn new(pairs: Wanted<'a>, prefix: u8) -> Self {
        InOrder { pairs: pairs.peekable(), prefix, last: Vec::new() }
    }

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
        if key.first() != Some(&self.prefix) || self.last >= key {
            return Err(StoreError::Corrupt(format!(
                "the keys derived under prefix {:#04x} were made out of order",
                self.prefix
            )));
        }
        self.last.clear();
        self.last.extend_from_slice(&key);
        Ok(Some((key, value)))
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

    fn open(stored: &Map) -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        for (k, v) in stored {
            db.insert(k, v.as_slice()).unwrap();
        }
        (dir, db)
    }

    fn walk<'a>(db: &sled::Db, path: &'a Path, want: &Map) -> Walk<'a> {
        let pairs: Wanted = Box::new(want.clone().into_iter());
        Walk::new(db, path, b'x', Bound::Included(vec![b'x']), InOrder::new(pairs, b'x'))
    }

    proptest! {
        /// Whatever the store holds and whatever is wanted, in batches of any size: the prefix
        /// ends holding exactly what is wanted, the other prefixes as they were, and the count
        /// is the number of keys that had to change.
        #[test]
        fn a_repaired_prefix_holds_exactly_what_is_wanted(stored in store(), wanted in store(), batch in 1usize..6) {
            let (dir, db) = open(&stored);
            let want = under_x(&wanted);
            let had = under_x(&stored);
            let differing = want.iter().filter(|(k, v)| had.get(*k) != Some(v)).count()
                + had.keys().filter(|k| !want.contains_key(*k)).count();
            let changed = repair_prefix(&db, dir.path(), b'x', Box::new(want.clone().into_iter()), batch).unwrap();
            prop_assert_eq!(changed as usize, differing);
            let now: Map = db.iter().map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
            let mut expected: Map = stored.into_iter().filter(|(k, _)| k[0] != b'x').collect();
            expected.extend(want);
            prop_assert_eq!(now, expected);
        }

        /// A walk names every differing key once, in key order, each as missing, differing or
        /// unexpected, and nothing else.
        #[test]
        fn a_walk_names_each_difference_in_key_order(stored in store(), wanted in store()) {
            let (dir, db) = open(&stored);
            let want = under_x(&wanted);
            let had = under_x(&stored);
            let mut expected: Vec<Difference> = want
                .iter()
                .filter(|(k, v)| had.get(*k) != Some(v))
                .map(|(k, _)| Difference {
                    key: k.clone(),
                    found: if had.contains_key(k) { Found::Differs } else { Found::Missing },
                })
                .chain(had.keys().filter(|k| !want.contains_key(*k)).map(|k| Difference { key: k.clone(), found: Found::Unexpected }))
                .collect();
            expected.sort_by(|a, b| a.key.cmp(&b.key));
            let mut w = walk(&db, dir.path(), &want);
            let mut found = Vec::new();
            while let Some(d) = w.next_difference().unwrap() {
                found.push(d);
            }
            prop_assert_eq!(found, expected);
        }
    }

    #[test]
    fn keys_wanted_out_of_order_or_under_another_prefix_are_refused() {
        let (dir, db) = open(&Map::new());
        let cases: [Vec<Pair>; 3] = [
            vec![(b"x2".to_vec(), vec![1]), (b"x1".to_vec(), vec![1])],
            vec![(b"x1".to_vec(), vec![1]), (b"x1".to_vec(), vec![2])],
            vec![(b"x1".to_vec(), vec![1]), (b"z1".to_vec(), vec![1])],
        ];
        for pairs in cases {
            let err = repair_prefix(&db, dir.path(), b'x', Box::new(pairs.into_iter()), 10).unwrap_err();
            assert!(err.to_string().contains("out of order"), "{err}");
        }
    }
}
