//! The tallies in the store (see `pledger_core::tally`): kept with every commit, read by the
//! head's scorecard, coverage and timeline, compared by `verify`, rewritten by `rebuild`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pledger_core::projection::{self, AreaCoverage, CellSets, MemberScore, MemberSet};
use pledger_core::state::{AreaRecord, MemberRecord, PledgeRecord};
use pledger_core::tally::{sum_due, ByMember, CellMembers, CellsMembers, DueCount, Facts, MemberTally, Tallies};
use pledger_core::{AreaCode, CategoryCode, Date, MemberId, PledgeId, StateView};
use pledger_core::{Fulfillments, MemState};

use crate::keys::{self, Key};
use crate::{decode, Ledger, Result, StoreError};

/// The facts of pledge `id` in `view`; `None` if there is no such pledge.
pub(crate) fn facts_in(view: &impl StateView, id: PledgeId) -> Result<Option<Facts>> {
    let corrupt = |e: pledger_core::RuleError| StoreError::Corrupt(e.to_string());
    let Some(p) = view.pledge(id).map_err(corrupt)? else { return Ok(None) };
    let mut fulfillments = Fulfillments::new();
    for f in &p.fulfillments {
        let record =
            view.fulfillment(*f).map_err(corrupt)?.ok_or_else(|| StoreError::Corrupt(format!("{f} is missing")))?;
        fulfillments.insert(*f, record.into_owned());
    }
    Ok(Facts::at_head(&p, &fulfillments))
}

/// The tallies of every pledge of `state` (as [`Tallies::of_state`]), the pledges of each half
/// of the members, by id, counted on a core of their own: every count but the months' is kept
/// per member, so the halves join without adding up more than the months.
pub fn of_state(state: &MemState) -> Tallies {
    let middle = state.members.keys().nth(state.members.len() / 2);
    let (first, second): (Vec<&PledgeRecord>, Vec<&PledgeRecord>) =
        state.pledges.values().partition(|p| middle.is_none_or(|m| &p.pledger < m));
    let (a, b) = rayon::join(
        || Tallies::of_pledges(first, &state.fulfillments),
        || Tallies::of_pledges(second, &state.fulfillments),
    );
    a.join(b)
}

/// The keys a pledge with these facts counts under.
fn keys_of(f: &Facts) -> impl Iterator<Item = Key> + '_ {
    let member = [Key::Tally(f.pledger.clone()), Key::Delays(f.pledger.clone()), Key::First(f.pledger.clone())];
    let due = f.judgments.iter().map(|j| Key::Due(j.due, f.pledger.clone()));
    let cells = f.areas.iter().map(|a| Key::Cell(a.clone(), f.category.clone(), f.pledger.clone()));
    let months = f.timeline.iter().flat_map(|t| t.months.keys()).map(|m| Key::Month(m.clone()));
    member.into_iter().chain(due).chain(cells).chain(months)
}

/// The members in the order they were admitted — by the sequence number of their admission,
/// then by id — which is what the bits of a stored coverage cell count over. Members are never
/// removed and an admission is always after those before it, so a member's place never changes.
pub(crate) struct Roster {
    ids: Vec<MemberId>,
    places: HashMap<MemberId, usize>,
}

impl Roster {
    pub(crate) fn of<'m>(members: impl IntoIterator<Item = &'m MemberRecord>) -> Roster {
        let mut admitted: Vec<(u64, &MemberId)> = members.into_iter().map(|m| (m.admitted_seq, &m.id)).collect();
        admitted.sort();
        let ids: Vec<MemberId> = admitted.into_iter().map(|(_, id)| id.clone()).collect();
        let places = ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        Roster { ids, places }
    }

    /// The stored form of a cell's members: (live, delivered), each a byte string whose bit
    /// `i % 8` of byte `i / 8` says whether the `i`-th member admitted is in the set, without
    /// trailing zero bytes.
    pub(crate) fn encode(&self, cell: &CellMembers) -> Result<Vec<u8>> {
        let bits = |set: &BTreeSet<MemberId>| -> Result<Vec<u8>> {
            let mut out = Vec::new();
            for m in set {
                let i = *self
                    .places
                    .get(m)
                    .ok_or_else(|| StoreError::Corrupt(format!("a coverage cell names {m}, who was never admitted")))?;
                if out.len() <= i / 8 {
                    out.resize(i / 8 + 1, 0);
                }
                out[i / 8] |= 1 << (i % 8);
            }
            Ok(out)
        };
        Ok(crate::encode(&(bits(&cell.live)?, bits(&cell.delivered)?)))
    }

    /// The members of the stored cell (`area`, `category`).
    pub(crate) fn decode(&self, value: &[u8], area: &AreaCode, category: &CategoryCode) -> Result<CellMembers> {
        let (live, delivered) = cell_bits(value, area, category)?;
        let ids = |bits: &[u8]| -> Result<BTreeSet<MemberId>> {
            Ok(places(bits, self.ids.len(), area, category)?.map(|i| self.ids[i].clone()).collect())
        };
        Ok(CellMembers { live: ids(live)?, delivered: ids(delivered)? })
    }
}

fn bad_cell(area: &AreaCode, category: &CategoryCode, why: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("the stored coverage cell {area} / {category} is unreadable: {why}"))
}

/// A stored cell's two strings of bits, borrowed.
fn cell_bits<'v>(value: &'v [u8], area: &AreaCode, category: &CategoryCode) -> Result<(&'v [u8], &'v [u8])> {
    postcard::from_bytes(value).map_err(|e| bad_cell(area, category, &e))
}

/// The places set in a stored cell's bits, in order, once checked to be places of `members`
/// members; a trailing zero byte is refused, so that each set has one spelling.
fn places<'b>(
    bits: &'b [u8],
    members: usize,
    area: &AreaCode,
    category: &CategoryCode,
) -> Result<impl Iterator<Item = usize> + 'b> {
    let bad = |why: &str| bad_cell(area, category, &why);
    if let Some(last) = bits.last() {
        if *last == 0 {
            return Err(bad("a trailing zero byte"));
        }
        // One past the highest place set.
        let end = bits.len() * 8 - last.leading_zeros() as usize;
        if end > members {
            return Err(bad("a bit beyond the members admitted"));
        }
    }
    Ok(bits.iter().enumerate().flat_map(|(at, byte)| {
        std::iter::successors((*byte != 0).then_some(*byte), |b| Some(b & (b - 1)).filter(|b| *b != 0))
            .map(move |b| at * 8 + b.trailing_zeros() as usize)
    }))
}

/// A member's place in one (area, category) cell.
type CellKey = (AreaCode, CategoryCode, MemberId);

/// A key to write with its value, or to remove (`None`).
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// Whether a member pledges (live) and delivered in a cell, by its counts.
fn membership(t: &Tallies, key: &CellKey) -> (bool, bool) {
    t.cells.get(key).map_or((false, false), |c| (c.live > 0, c.delivered > 0))
}

/// The tallies' writes for pledges whose facts went from the first to the second of each pair:
/// (key, `Some(value)`) to write, (key, `None`) to remove. Only keys whose value changes are
/// written: a member's counts, and a cell's members when someone joins or leaves it.
pub(crate) fn changes(
    db: &sled::Db,
    path: &std::path::Path,
    moved: &[(Option<Facts>, Option<Facts>)],
    members: impl FnOnce() -> Result<Vec<MemberRecord>>,
) -> Result<Vec<Write>> {
    let get = |key: &[u8]| db.get(key).map(|v| v.map(|v| v.to_vec())).map_err(|e| StoreError::sled(path, e));
    let mut touched: Vec<Vec<u8>> =
        moved.iter().flat_map(|(a, b)| a.iter().chain(b.iter())).flat_map(keys_of).map(|k| k.bytes()).collect();
    touched.sort();
    touched.dedup();
    // The part of the tallies these pledges count in, as stored.
    let mut part = Tallies::default();
    let mut stored: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for key in touched {
        let v = get(&key)?;
        if let Some(v) = &v {
            load(&mut part, &key, v)?;
        }
        stored.insert(key, v);
    }
    let cells: Vec<CellKey> = stored
        .keys()
        .filter_map(|k| match keys::tally_key(k) {
            Some(Key::Cell(a, c, m)) => Some((a, c, m)),
            _ => None,
        })
        .collect();
    let before: Vec<(bool, bool)> = cells.iter().map(|k| membership(&part, k)).collect();
    for (old, new) in moved {
        if let Some(f) = old {
            part.remove(f);
        }
        if let Some(f) = new {
            part.add(f);
        }
    }
    let mut now: BTreeMap<Vec<u8>, Option<Vec<u8>>> = stored.keys().map(|k| (k.clone(), None)).collect();
    for (k, v) in keys::tally_entries(&part) {
        now.insert(k.bytes(), Some(v));
    }
    let mut out: Vec<Write> = now.into_iter().filter(|(k, v)| stored.get(k) != Some(v)).collect();
    // The cells someone joined or left, rewritten over the members in admission order (read
    // only then: members join a cell once, and rarely leave it).
    let joined_or_left: Vec<(&CellKey, (bool, bool))> = cells
        .iter()
        .zip(before)
        .map(|(key, was)| (key, was, membership(&part, key)))
        .filter(|(_, was, now)| was != now)
        .map(|(key, _, now)| (key, now))
        .collect();
    if joined_or_left.is_empty() {
        return Ok(out);
    }
    let roster = Roster::of(&members()?);
    let mut changed: CellsMembers = BTreeMap::new();
    for ((a, c, m), (live, delivered)) in joined_or_left {
        let cell = match changed.entry((a.clone(), c.clone())) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let k = Key::CellMembers(a.clone(), c.clone()).bytes();
                e.insert(match get(&k)? {
                    Some(v) => roster.decode(&v, a, c)?,
                    None => CellMembers::default(),
                })
            }
        };
        for (set, on) in [(&mut cell.live, live), (&mut cell.delivered, delivered)] {
            if on {
                set.insert(m.clone());
            } else {
                set.remove(m);
            }
        }
    }
    for ((a, c), cell) in changed {
        let key = Key::CellMembers(a, c).bytes();
        let empty = cell.live.is_empty() && cell.delivered.is_empty();
        out.push((key, if empty { None } else { Some(roster.encode(&cell)?) }));
    }
    Ok(out)
}

/// Adds one stored tally to `t`.
fn load(t: &mut Tallies, key: &[u8], value: &[u8]) -> Result<()> {
    match keys::tally_key(key) {
        Some(Key::Tally(m)) => {
            let fixed: MemberTally = decode(value, "member tally")?;
            let entry = t.members.entry(m).or_default();
            *entry = MemberTally { delays: std::mem::take(&mut entry.delays), ..fixed };
        }
        Some(Key::Delays(m)) => t.members.entry(m).or_default().delays = decode(value, "member delays")?,
        Some(Key::Due(d, m)) => {
            t.due.insert((d, m), decode(value, "due-date tally")?);
        }
        Some(Key::Cell(a, c, m)) => {
            t.cells.insert((a, c, m), decode(value, "coverage tally")?);
        }
        Some(Key::Month(m)) => {
            t.months.insert(m, decode(value, "month tally")?);
        }
        Some(Key::First(m)) => {
            t.first.insert(m, decode(value, "first pledge")?);
        }
        _ => return Err(StoreError::Corrupt(format!("bad tally key {}", String::from_utf8_lossy(key)))),
    }
    Ok(())
}

impl Ledger {
    /// Whether this ledger keeps tallies (ledgers made before them get them from `rebuild`), as
    /// its mark said when it was opened or rebuilt.
    pub fn is_tallied(&self) -> bool {
        self.tallied
    }

    /// What the store's mark says of its tallies now.
    pub fn tallies_mark(&self) -> Result<crate::TalliesMark> {
        crate::tallies_mark(&self.db, &self.path)
    }

    /// Every tally stored, and every cell's members, decoded (the store's tests compare them with
    /// a replay's; `verify` compares the stored bytes, `derived`).
    #[cfg(test)]
    pub(crate) fn stored_tallies(&self) -> Result<(Tallies, CellsMembers)> {
        let mut t = Tallies::default();
        let mut cells = BTreeMap::new();
        let roster = Roster::of(&self.members()?);
        for prefix in keys::TALLIES {
            for kv in self.db.scan_prefix([prefix]) {
                let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                match keys::tally_key(&k) {
                    Some(Key::CellMembers(a, c)) => {
                        cells.insert((a.clone(), c.clone()), roster.decode(&v, &a, &c)?);
                    }
                    _ => load(&mut t, &k, &v)?,
                }
            }
        }
        Ok((t, cells))
    }

    /// Per member, the unsettled and open pledges due on or after `date`.
    fn due_from(&self, date: Date) -> Result<ByMember<DueCount>> {
        let mut counts = Vec::new();
        for kv in self.db.range(keys::due_from(date)..vec![keys::DUE + 1]) {
            let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
            let Some(Key::Due(_, m)) = keys::tally_key(&k) else {
                return Err(StoreError::Corrupt(format!("bad tally key {}", String::from_utf8_lossy(&k))));
            };
            counts.push((m, decode::<DueCount>(&v, "due-date tally")?));
        }
        Ok(sum_due(counts.iter().map(|(m, c)| (m, c))))
    }

    /// The head's scorecard of these members, judged on `eval`, read from the tallies: a few
    /// hundred keys whatever the ledger's size. `None` for a ledger without tallies.
    pub fn scorecard(
        &self,
        members: &[MemberRecord],
        always: &[MemberId],
        eval: Date,
    ) -> Result<Option<Vec<MemberScore>>> {
        if !self.is_tallied() {
            return Ok(None);
        }
        let mut tallies: BTreeMap<MemberId, MemberTally> = BTreeMap::new();
        for m in members {
            if let Some(mut t) = self.read::<MemberTally>(Key::Tally(m.id.clone()), "member tally")? {
                t.delays = self.read(Key::Delays(m.id.clone()), "member delays")?.unwrap_or_default();
                tallies.insert(m.id.clone(), t);
            }
        }
        Ok(Some(projection::scorecard_of(&tallies, &self.due_from(eval)?, members, always)))
    }

    /// The head's timeline, read from the tallies: one key per month and per member. `None`
    /// for a ledger without tallies.
    pub fn timeline(&self) -> Result<Option<Vec<pledger_core::projection::MonthRow>>> {
        if !self.is_tallied() {
            return Ok(None);
        }
        let mut t = Tallies::default();
        for prefix in [keys::MONTH, keys::FIRST] {
            for kv in self.db.scan_prefix([prefix]) {
                let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
                load(&mut t, &k, &v)?;
            }
        }
        Ok(Some(projection::timeline_of(&t.months, &t.first)))
    }

    /// The head's coverage matrix (of one member's pledges, or everyone's), read from the tallies.
    /// `None` for a ledger without tallies.
    pub fn coverage(
        &self,
        areas: &[AreaRecord],
        root: Option<&pledger_core::AreaCode>,
        member: Option<&MemberId>,
    ) -> Result<Option<Vec<AreaCoverage>>> {
        if !self.is_tallied() {
            return Ok(None);
        }
        // A stored cell's bits count over the members in admission order; the sets count over
        // them in id order, as the answer lists them.
        let records = self.members()?;
        let roster = Roster::of(&records);
        let mut ids: Vec<MemberId> = records.into_iter().map(|m| m.id).collect();
        ids.sort();
        let id_order: Vec<usize> = roster.ids.iter().map(|m| ids.binary_search(m).unwrap_or_default()).collect();
        let only = member.map(|m| ids.binary_search(m).ok());
        let mut sets = CellSets { members: ids, cells: BTreeMap::new() };
        for kv in self.db.scan_prefix([keys::CELL_MEMBERS]) {
            let (k, v) = kv.map_err(|e| StoreError::sled(&self.path, e))?;
            let Some(Key::CellMembers(area, category)) = keys::tally_key(&k) else {
                return Err(StoreError::Corrupt(format!("bad tally key {}", String::from_utf8_lossy(&k))));
            };
            let (live, delivered) = cell_bits(&v, &area, &category)?;
            let set = |bits: &[u8]| -> Result<MemberSet> {
                let mut out = MemberSet::with_room(id_order.len());
                for i in places(bits, id_order.len(), &area, &category)?.map(|i| id_order[i]) {
                    if only.is_none_or(|o| o == Some(i)) {
                        out.insert(i);
                    }
                }
                Ok(out)
            };
            let (live, delivered) = (set(live)?, set(delivered)?);
            sets.insert((area, category), live, delivered);
        }
        Ok(Some(projection::coverage_of_sets(&sets, areas, root)))
    }
}
