//! [`Table`]: numbered records (pledges, fulfillments) kept in one vector in the order of their
//! numbers — the map a state of a million events holds hundreds of thousands of records in.
//!
//! The ledger numbers pledges and fulfillments 1, 2, 3… in recording order, so a whole state's
//! table is dense: the record numbered `n` sits at index `n - 1` and is found without a search,
//! and a new record is pushed at the end. A table of some records only (one member's) is found
//! by binary search. Against a `BTreeMap`, whose leaves a sequential fill leaves about half
//! empty, each record costs its own size and its key's, no more: at a million events, about
//! 100 MB less for an audit's state.

use std::fmt;

use crate::ids::{FulfillmentId, PledgeId};

/// A key numbered from 1 by the ledger.
pub trait Number: Copy + Ord {
    /// The key's number, from 1.
    fn number(self) -> u64;
}

impl Number for PledgeId {
    fn number(self) -> u64 {
        self.0
    }
}

impl Number for FulfillmentId {
    fn number(self) -> u64 {
        self.0
    }
}

/// Records by number, in the order of their numbers; the subset of `BTreeMap`'s interface the
/// ledger uses.
#[derive(Clone, PartialEq, Eq)]
pub struct Table<K, V> {
    rows: Vec<(K, V)>,
}

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for Table<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows.iter())
    }
}

/// A table read back: its rows must come in increasing order of their numbers, as a table keeps
/// them.
impl<'de, K: Number + serde::Deserialize<'de>, V: serde::Deserialize<'de>> serde::Deserialize<'de> for Table<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rows: Vec<(K, V)> = Vec::deserialize(d)?;
        if rows.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(serde::de::Error::custom("a table's rows are not in increasing order of their numbers"));
        }
        Ok(Table { rows })
    }
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { rows: Vec::new() }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.rows.iter().map(|(k, v)| (k, v))).finish()
    }
}

impl<K: Number, V> Table<K, V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `key` is, or where it would go.
    fn find(&self, key: K) -> Result<usize, usize> {
        // A dense table holds number n at index n - 1: one comparison, no search.
        let guess = key.number().wrapping_sub(1);
        if let Some((k, _)) = usize::try_from(guess).ok().and_then(|i| self.rows.get(i)) {
            if *k == key {
                return Ok(guess as usize);
            }
        }
        match self.rows.last() {
            Some((last, _)) if *last < key => Err(self.rows.len()),
            _ => self.rows.binary_search_by(|(k, _)| k.cmp(&key)),
        }
    }

    /// The record of `key`, if present.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(*key).ok().map(|i| &self.rows[i].1)
    }

    /// Whether `key` has a record.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(*key).is_ok()
    }

    /// Puts `value` under `key`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.rows[i].1, value)),
            Err(i) => {
                self.rows.insert(i, (key, value));
                None
            }
        }
    }

    /// Room for `rows` rows in all, if it can be had (nothing is done otherwise).
    pub fn try_reserve(&mut self, rows: usize) {
        let _ = self.rows.try_reserve_exact(rows.saturating_sub(self.rows.len()));
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in the order of their numbers.
    pub fn rows(&self) -> &[(K, V)] {
        &self.rows
    }

    /// Every key and record, in number order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.rows.iter().map(|(k, v)| (k, v))
    }

    /// Every key, in number order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.rows.iter().map(|(k, _)| k)
    }

    /// Every record, in number order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.rows.iter().map(|(_, v)| v)
    }

    /// Every record, in number order, taken.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.rows.into_iter().map(|(_, v)| v)
    }
}

impl<K: Number, V> std::ops::Index<&K> for Table<K, V> {
    type Output = V;
    /// Panics if `key` is not in the table, as `BTreeMap`'s index does.
    fn index(&self, key: &K) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no record numbered {} in the table", key.number()),
        }
    }
}

impl<K: Number, V> FromIterator<(K, V)> for Table<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut t = Table::new();
        t.extend(iter);
        t
    }
}

impl<K: Number, V> Extend<(K, V)> for Table<K, V> {
    /// Adds the rows; for a key given twice (or already in the table) the last value stays, as
    /// with [`Table::insert`]. Rows out of order are sorted once at the end, not moved one by one.
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        // The rows already here are in order: only the new ones, and the seam, are checked.
        let seam = self.rows.len().saturating_sub(1);
        self.rows.extend(iter);
        if !self.rows[seam..].windows(2).all(|w| w[0].0 < w[1].0) {
            // Reversed, then sorted stably: of equal keys, the one added last comes first and stays.
            self.rows.reverse();
            self.rows.sort_by_key(|a| a.0);
            self.rows.dedup_by(|later, kept| later.0 == kept.0);
        }
    }
}

impl<'t, K: Number, V> IntoIterator for &'t Table<K, V> {
    type Item = (&'t K, &'t V);
    type IntoIter = std::iter::Map<std::slice::Iter<'t, (K, V)>, fn(&'t (K, V)) -> (&'t K, &'t V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the order and gaps of its keys, a table answers as a `BTreeMap` does.
        #[test]
        fn a_table_is_a_map_by_number(ops in proptest::collection::vec((0u64..40, any::<u16>()), 0..120)) {
            let mut table = Table::new();
            let mut map = BTreeMap::new();
            for (n, v) in &ops {
                prop_assert_eq!(table.insert(PledgeId(*n), *v), map.insert(PledgeId(*n), *v));
            }
            prop_assert_eq!(table.len(), map.len());
            prop_assert!(table.iter().eq(map.iter()));
            let collected: Table<PledgeId, u16> = ops.iter().map(|(n, v)| (PledgeId(*n), *v)).collect();
            prop_assert_eq!(&collected, &table);
            let mut extended = Table::new();
            extended.insert(PledgeId(7), 0);
            extended.extend(ops.iter().map(|(n, v)| (PledgeId(*n), *v)));
            let mut map7 = BTreeMap::from([(PledgeId(7), 0)]);
            map7.extend(ops.iter().map(|(n, v)| (PledgeId(*n), *v)));
            prop_assert!(extended.iter().eq(map7.iter()));
            for n in 0..45 {
                prop_assert_eq!(table.get(&PledgeId(n)), map.get(&PledgeId(n)));
                prop_assert_eq!(table.contains_key(&PledgeId(n)), map.contains_key(&PledgeId(n)));
            }
        }
    }

    #[test]
    fn a_dense_table_keeps_number_n_at_index_n_minus_1() {
        let t: Table<FulfillmentId, u64> = (1..=1000).map(|n| (FulfillmentId(n), n * 10)).collect();
        assert_eq!(t.find(FulfillmentId(500)), Ok(499));
        assert_eq!(t[&FulfillmentId(1000)], 10_000);
        assert_eq!(t.find(FulfillmentId(1001)), Err(1000));
        assert_eq!(t.get(&FulfillmentId(0)), None);
        assert_eq!(t.values().next_back(), Some(&10_000));
    }
}
