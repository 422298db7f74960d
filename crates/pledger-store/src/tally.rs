//! The tallies in the store (see `pledger_core::tally`): kept with every commit, read by the
//! head's scorecard and coverage, compared by `verify`, rewritten by `rebuild`.

use std::collections::BTreeMap;

use pledger_core::projection::{self, AreaCoverage, CellSets, MemberScore, MemberSet};
use pledger_core::state::{AreaRecord, MemberRecord};
use pledger_core::tally::{sum_due, ByMember, CellCount, DueCount, Facts, MemberTally, Tallies};
use pledger_core::{AreaCode, CategoryCode, Date, MemberId, PledgeId, StateView};

use crate::keys::{self, Key};
use crate::{decode, Ledger, Result, StoreError};

/// The facts of pledge `id` in `view`; `None` if there is no such pledge.
pub(crate) fn facts_in(view: &impl StateView, id: PledgeId) -> Result<Option<Facts>> {
    let corrupt = |e: pledger_core::RuleError| StoreError::Corrupt(e.to_string());
    let Some(p) = view.pledge(id).map_err(corrupt)? else { return Ok(None) };
    let mut fulfillments = BTreeMap::new();
    for f in &p.fulfillments {
        let record =
            view.fulfillment(*f).map_err(corrupt)?.ok_or_else(|| StoreError::Corrupt(format!("{f} is missing")))?;
        fulfillments.insert(*f, record);
    }
    Ok(Facts::at_head(&p, &fulfillments))
}

/// The keys a pledge with these facts counts under.
fn keys_of(f: &Facts) -> impl Iterator<Item = Key> + '_ {
    let member = std::iter::once(Key::Tally(f.pledger.clone()));
    let due = std::iter::once(Key::Due(f.due));
    let cells = f.areas.iter().map(|a| Key::Cell(a.clone(), f.category.clone()));
    member.chain(due).chain(cells)
}

/// A key to write with its value, or to remove (`None`).
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// The tallies' writes for pledges whose facts went from the first to the second of each pair:
/// (key, `Some(value)`) to write, (key, `None`) to remove.
pub(crate) fn changes(
    db: &sled::Db,
    path: &std::path::Path,
    moved: &[(Option<Facts>, Option<Facts>)],
) -> Result<Vec<Write>> {
    let mut touched: Vec<Vec<u8>> =
        moved.iter().flat_map(|(a, b)| a.iter().chain(b.iter())).flat_map(keys_of).map(|k| k.bytes()).collect();
    touched.sort();
    touched.dedup();
    // The part of the tallies these pledges count in, as stored.
    let mut part = Tallies::default();
    let mut stored: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for key in touched {
        let v = db.get(&key).map_err(|e| StoreError::sled(path, e))?.map(|v| v.to_vec());
        if let Some(v) = &v {
            load(&mut part, &key, v)?;
        }
        stored.insert(key, v);
    }
    for (before, after) in moved {
        if let Some(f) = before {
            part.remove(f);
        }
        if let Some(f) = after {
            part.add(f);
        }
    }
    let mut now: BTreeMap<Vec<u8>, Option<Vec<u8>>> = stored.keys().map(|k| (k.clone(), None)).collect();
    for (k, v) in keys::tally_entries(&part) {
        now.insert(k.bytes(), Some(v));
    }
    Ok(now.into_iter().filter(|(k, v)| stored.get(k) != Some(v)).collect())
}

/// The (area, category) of a coverage cell's key.
fn cell_key(key: &[u8]) -> Result<(AreaCode, CategoryCode)> {
    let bad = || StoreError::Corrupt(format!("bad tally key {}", String::from_utf8_lossy(key)));
    let rest = key.get(1..).ok_or_else(bad)?;
    let at = rest.iter().position(|b| *b == 0).ok_or_else(bad)?;
    let text = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned).map_err(|_| bad());
    let a = AreaCode::parse(&text(&rest[..at])?).map_err(|_| bad())?;
    let c = CategoryCode::parse(&text(&rest[at + 1..])?).map_err(|_| bad())?;
    Ok((a, c))
}

/// A stored value decoded with its strings borrowed from `bytes`.
fn decode_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("stored {what} unreadable: {e}")))
}

/// Adds one stored tally to `t`.
fn load(t: &mut Tallies, key: &[u8], value: &[u8]) -> Result<()> {
    let bad = || StoreError::Corrupt(format!("bad tally key {}", String::from_utf8_lossy(key)));
    let text = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned).map_err(|_| bad());
    match key {
        [keys::TALLY, rest @ ..] => {
            let m = MemberId::parse(&text(rest)?).map_err(|_| bad())?;
            t.members.insert(m, decode(value, "member tally")?);
        }
        [keys::DUE, rest @ ..] => {
            let d = <[u8; 4]>::try_from(rest).ok().and_then(|b| keys::day_of(u32::from_be_bytes(b))).ok_or_else(bad)?;
            t.due.insert(d, decode(value, "due-date tally")?);
        }
        [keys::CELL, ..] => {
            t.cells.insert(cell_key(key)?, decode(value, "coverage cell")?);
        }
        _ => return Err(bad()),
    }
    Ok(())
}

impl Ledger {
    /// Whether this ledger keeps tallies (ledgers made before them get them from `rebuild`).
    pub fn is_tallied(&self) -> Result<bool> {
        Ok(self.db.get(Key::Tallied.bytes()).map_err(|e| StoreError::sled(&self.path, e))?.is_some())
    }

    /// Every tally stored, as `verify` compares them with the entries'.
    pub fn stored_tallies(&self) -> Result<Tallies> {
        let mut t = Tallies::default();
        for prefix in [keys::TALLY, keys::DUE, keys::CELL] {
            for kv in self.db.scan_prefix([prefix]) {
                let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                load(&mut t, &k, &v)?;
            }
        }
        Ok(t)
    }

    /// Per member, the unsettled and open pledges due on or after `date`.
    fn due_from(&self, date: Date) -> Result<ByMember<DueCount>> {
        let mut counts = Vec::new();
        for kv in self.db.range(Key::Due(date).bytes()..vec![keys::DUE + 1]) {
            let (_, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
            counts.push(decode::<ByMember<DueCount>>(&v, "due-date tally")?);
        }
        Ok(sum_due(counts.iter()))
    }

    /// The head's scorecard of these members, judged on `eval`, read from the tallies: a few
    /// hundred keys whatever the ledger's size. `None` for a ledger without tallies.
    pub fn scorecard(
        &self,
        members: &[MemberRecord],
        always: &[MemberId],
        eval: Date,
    ) -> Result<Option<Vec<MemberScore>>> {
        if !self.is_tallied()? {
            return Ok(None);
        }
        let mut tallies: BTreeMap<MemberId, MemberTally> = BTreeMap::new();
        for m in members {
            if let Some(t) = self.read(Key::Tally(m.id.clone()), "member tally")? {
                tallies.insert(m.id.clone(), t);
            }
        }
        Ok(Some(projection::scorecard_of(&tallies, &self.due_from(eval)?, members, always)))
    }

    /// The head's coverage matrix (of one member's pledges, or everyone's), read from the tallies.
    /// `None` for a ledger without tallies.
    pub fn coverage(
        &self,
        areas: &[AreaRecord],
        root: Option<&pledger_core::AreaCode>,
        member: Option<&MemberId>,
    ) -> Result<Option<Vec<AreaCoverage>>> {
        if !self.is_tallied()? {
            return Ok(None);
        }
        // Read without an allocation per member: a stored cell, a map of member id to counts,
        // is read as the list of (id, counts) pairs it is encoded as, its ids borrowed.
        let mut ids: Vec<MemberId> = self.members()?.into_iter().map(|m| m.id).collect();
        ids.sort();
        let mut sets = CellSets { members: ids, cells: BTreeMap::new() };
        for kv in self.db.scan_prefix([keys::CELL]) {
            let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
            let key = cell_key(&k)?;
            let counts: Vec<(&str, CellCount)> = decode_borrowed(&v, "coverage cell")?;
            let (mut pledging, mut delivered) = (MemberSet::default(), MemberSet::default());
            // A cell's ids come in id order, like the member list: each is searched for after
            // the one before.
            let mut from = 0;
            for (id, c) in counts {
                if member.is_some_and(|m| m.as_str() != id) {
                    continue;
                }
                let rest = sets.members.get(from..).unwrap_or_default();
                let i = from
                    + rest.binary_search_by(|m| m.as_str().cmp(id)).map_err(|_| {
                        StoreError::Corrupt(format!(
                            "the coverage tally of {} / {} names an unknown member",
                            key.0, key.1
                        ))
                    })?;
                from = i + 1;
                if c.live > 0 {
                    pledging.insert(i);
                }
                if c.delivered > 0 {
                    delivered.insert(i);
                }
            }
            sets.insert(key, pledging, delivered);
        }
        Ok(Some(projection::coverage_of_sets(&sets, areas, root)))
    }
}
