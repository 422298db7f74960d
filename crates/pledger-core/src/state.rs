//! The ledger's state as the rules see it: one record per member, area, category, pledge and
//! fulfillment, and a [`Head`] of counters. [`StateView`] is how the rules read it — from memory
//! here ([`MemState`]), from sled in the store — and an [`Outcome`] is what one event changes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::event::{Date, Event, Evidence, Level, MemberKind, Name, Note, PublicKey, Title, Verdict};
use crate::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, KeyId, MemberId, Numbered, PledgeId, ShortId};
use crate::measure::Unit;
use crate::table::Table;

/// An event with the place and time the log gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Its place in the log, from 0.
    pub seq: u64,
    /// When the log recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The event.
    pub event: Event,
}

/// Counters and facts about the whole ledger, updated by every event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The ledger's origin, set by genesis; empty before it.
    pub origin: String,
    /// Entries recorded so far.
    pub size: u64,
    /// Recording time of the last entry.
    pub last_recorded: Option<DateTime<Utc>>,
    /// Records numbered so far, per [`Numbered`] kind, in the order of [`Numbered::ALL`].
    pub numbered: [u64; 5],
    /// Members admitted so far.
    pub members: u64,
    /// Areas defined so far.
    pub areas: u64,
    /// Categories defined so far.
    pub categories: u64,
    /// Unrevoked keys held by conveners; never allowed to reach zero.
    pub live_convener_keys: u64,
    /// The key that signs checkpoints of the ledger as it stands: named by genesis, replaced by
    /// a `key-added` with `log`.
    pub log_key: Option<PublicKey>,
}

impl Head {
    /// Records of `kind` numbered so far: the number of the last one.
    pub fn count(&self, kind: Numbered) -> u64 {
        self.numbered[kind as usize]
    }
    fn next(&mut self, kind: Numbered) -> u64 {
        self.numbered[kind as usize] += 1;
        self.numbered[kind as usize]
    }
}

/// One of a member's keys, with the entries that added and revoked it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's id.
    pub id: KeyId,
    /// The key.
    pub public_key: PublicKey,
    /// The entry that added it.
    pub added_seq: u64,
    /// The entry that revoked it, if one did: it signs nothing recorded after.
    pub revoked_seq: Option<u64>,
}

impl KeyRecord {
    /// Whether the key may sign an event recorded at `seq`.
    pub fn live_at(&self, seq: u64) -> bool {
        self.revoked_seq.is_none_or(|r| seq <= r)
    }
}

/// A member as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Its id.
    pub id: MemberId,
    /// Its name.
    pub name: Name,
    /// Its kind.
    pub kind: MemberKind,
    /// Whether it is a convener.
    pub convener: bool,
    /// The entry that admitted it.
    pub admitted_seq: u64,
    /// Its keys, revoked ones included, in the order they were added.
    pub keys: Vec<KeyRecord>,
    /// The IATI organisation identifiers it publishes under. Last, so that a record stored
    /// before them reads as one with none (docs/format.md §3).
    pub iati_orgs: Vec<crate::event::OrgRef>,
}

impl MemberRecord {
    /// One of its keys, by id.
    pub fn key(&self, id: &KeyId) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| &k.id == id)
    }
}

/// An area as defined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRecord {
    /// Its code.
    pub code: AreaCode,
    /// Its name.
    pub name: Name,
    /// Its level.
    pub level: Level,
    /// The area it lies in, if any.
    pub parent: Option<AreaCode>,
    /// The entry that defined it.
    pub seq: u64,
}

/// A category as defined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRecord {
    /// Its code.
    pub code: CategoryCode,
    /// Its name.
    pub name: Name,
    /// The entry that defined it (genesis for the default categories).
    pub seq: u64,
}

/// A pledge and the running totals of what happened to it, all in its unit's minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeRecord {
    /// Its number.
    pub id: PledgeId,
    /// The entry that made it.
    pub seq: u64,
    /// The member who pledged.
    pub pledger: MemberId,
    /// The member it is pledged to.
    pub beneficiary: MemberId,
    /// What is pledged.
    pub category: CategoryCode,
    /// Shared (as the areas as first pledged): the rules clone the record at every event.
    pub areas: std::sync::Arc<[AreaCode]>,
    /// Its unit: every amount of the record is in its minor units.
    pub unit: Unit,
    /// The amount first pledged.
    pub original: u64,
    /// The sum of amendments' increases.
    pub increased: u64,
    /// What was withdrawn.
    pub withdrawn: u64,
    /// Everything claimed delivered, whatever its attestations say.
    pub claimed: u64,
    /// Claimed deliveries confirmed and not disputed.
    pub confirmed: u64,
    /// Claimed deliveries some attester disputes.
    pub disputed: u64,
    /// When it is due now.
    pub due: Date,
    /// Its title now.
    pub title: Title,
    /// The pledge's effective date: when it was made.
    pub made: Date,
    /// Its fulfillments, in log order.
    pub fulfillments: Vec<FulfillmentId>,
    /// Due date, title and areas as first pledged (the fields above are the current ones).
    pub first_due: Date,
    /// The title as first pledged.
    pub first_title: Title,
    /// The areas as first pledged.
    pub first_areas: std::sync::Arc<[AreaCode]>,
    /// Amendments, in log order.
    pub amendments: Vec<AmendmentRecord>,
    /// Withdrawals, in log order.
    pub withdrawals: Vec<Dated>,
    /// Every entry that touched the pledge, in log order: its history.
    pub events: Vec<u64>,
    /// Its schedule, earliest first, when it was pledged in tranches. Last, so that a record
    /// stored before schedules reads as one without (docs/format.md §3).
    pub tranches: Vec<TrancheRecord>,
}

/// One tranche of a pledge: its value, due by a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrancheRecord {
    /// When it is due.
    pub due: Date,
    /// Its value, in the pledge's unit.
    pub value: u64,
}

/// What one amendment changed, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmendmentRecord {
    /// The entry that recorded it.
    pub seq: u64,
    /// Its effective date.
    pub date: Date,
    /// The new due date, if it changed.
    pub due: Option<Date>,
    /// The new title, if it changed.
    pub title: Option<Title>,
    /// The new areas, if they changed.
    pub areas: Option<Vec<AreaCode>>,
    /// The increase, if any.
    pub increase: Option<u64>,
}

/// A value with the entry and effective date that recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dated {
    /// The entry that recorded it.
    pub seq: u64,
    /// Its effective date.
    pub date: Date,
    /// The value, in the pledge's unit.
    pub value: u64,
}

impl PledgeRecord {
    /// The words: original amount plus increases.
    pub fn words(&self) -> u64 {
        self.original + self.increased
    }
    /// What is neither withdrawn nor claimed delivered.
    pub fn undelivered(&self) -> u64 {
        self.words().saturating_sub(self.withdrawn).saturating_sub(self.claimed)
    }
    /// Whether everything pledged was withdrawn.
    pub fn fully_withdrawn(&self) -> bool {
        self.withdrawn >= self.words()
    }
    /// What is claimed delivered beyond the words less withdrawals (fulfillments marked
    /// `beyond`), else 0.
    pub fn beyond(&self) -> u64 {
        self.claimed.saturating_sub(self.words().saturating_sub(self.withdrawn))
    }
}

/// One attester's verdict on a fulfillment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// Who judged.
    pub attester: MemberId,
    /// The verdict.
    pub verdict: Verdict,
    /// The entry that recorded it.
    pub seq: u64,
    /// Its effective date.
    pub date: Date,
}

/// Where a fulfillment stands: no verdict yet, confirmed (and disputed by no one), or disputed
/// by at least one attester's current verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    /// No attester has judged it (or every verdict was superseded).
    Claimed,
    /// Confirmed, and disputed by no one.
    Confirmed,
    /// Disputed by at least one attester.
    Disputed,
}

/// A claimed delivery on a pledge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentRecord {
    /// Its number.
    pub id: FulfillmentId,
    /// The entry that recorded it.
    pub seq: u64,
    /// The pledge delivered on.
    pub pledge: PledgeId,
    /// What it counts for now, in the pledge's unit: its amount less reversals.
    pub value: u64,
    /// When it was delivered (its effective date).
    pub delivered: Date,
    /// What shows the delivery, if given.
    pub evidence: Option<Evidence>,
    /// A note, if given.
    pub note: Option<Note>,
    /// Every verdict recorded on it, in log order; an attester's later verdict supersedes its
    /// earlier ones.
    pub verdicts: Vec<VerdictRecord>,
    /// The parts of it the pledger reversed, in log order; `value` is what remains. Last, so that
    /// a record stored before reversals existed reads as one with none (docs/format.md §3).
    pub reversals: Vec<Dated>,
}

impl FulfillmentRecord {
    /// Its value as of effective date `as_of`, as known now: reversals dated after it do not
    /// count yet.
    pub fn value_as_of(&self, as_of: Option<Date>) -> u64 {
        let later: u64 = self.reversals.iter().filter(|r| as_of.is_some_and(|d| r.date > d)).map(|r| r.value).sum();
        self.value + later
    }

    /// Each attester's current verdict.
    pub fn current_verdicts(&self, as_of: Option<Date>) -> Vec<&VerdictRecord> {
        let mut current: Vec<&VerdictRecord> = Vec::new();
        for v in self.verdicts.iter().filter(|v| as_of.is_none_or(|d| v.date <= d)) {
            current.retain(|c| c.attester != v.attester);
            current.push(v);
        }
        current
    }

    /// Where the delivery stands now.
    pub fn status(&self) -> DeliveryStatus {
        self.status_as_of(None)
    }

    /// Where the delivery stood by effective date `as_of`, as known now.
    pub fn status_as_of(&self, as_of: Option<Date>) -> DeliveryStatus {
        let current = self.current_verdicts(as_of);
        if current.iter().any(|v| v.verdict == Verdict::Disputed) {
            DeliveryStatus::Disputed
        } else if current.iter().any(|v| v.verdict == Verdict::Confirmed) {
            DeliveryStatus::Confirmed
        } else {
            DeliveryStatus::Claimed
        }
    }
}

/// A record an event creates or replaces.
// Records live briefly in an outcome's short vector on their way to the store; boxing the large
// ones would add an allocation per event on the append path for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A member admitted, or changed by a key or an IATI identifier.
    Member(MemberRecord),
    /// The member that holds a key.
    KeyHolder(KeyId, MemberId),
    /// The member an IATI organisation identifier is registered to.
    IatiOrg(crate::event::OrgRef, MemberId),
    /// An area defined.
    Area(AreaRecord),
    /// A category defined.
    Category(CategoryRecord),
    /// A pledge made or changed.
    Pledge(PledgeRecord),
    /// A fulfillment made or changed.
    Fulfillment(FulfillmentRecord),
    /// The entry that created a numbered record (`A-000004` → its sequence number).
    Numbered(ShortId, u64),
    /// An event id, recorded at a sequence number.
    EventId(EventId, u64),
}

/// What a recorded event is known by: the id a write command prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assigned {
    /// A numbered record (`P-000012`).
    Short(ShortId),
    /// A member admitted.
    Member(MemberId),
    /// A key added or revoked.
    Key(KeyId),
    /// An area defined.
    Area(AreaCode),
    /// A category defined.
    Category(CategoryCode),
    /// The ledger itself (genesis): its origin.
    Ledger(String),
}

impl fmt::Display for Assigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Assigned::Short(id) => id.fmt(f),
            Assigned::Member(id) => id.fmt(f),
            Assigned::Key(id) => id.fmt(f),
            Assigned::Area(code) => code.fmt(f),
            Assigned::Category(code) => code.fmt(f),
            Assigned::Ledger(origin) => f.write_str(origin),
        }
    }
}

/// Everything one accepted event changes: the records it writes and the new head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the event is known by.
    pub assigned: Assigned,
    /// The records it creates or replaces.
    pub records: Vec<Record>,
    /// The head after it.
    pub head: Head,
}

/// Read access to the state the rules need. Reads may fail only if the storage behind them does.
/// Records come borrowed from memory ([`MemState`]) and owned from a store that decodes them:
/// the rules copy only the records an event changes.
pub trait StateView {
    /// The ledger's counters.
    fn head(&self) -> &Head;
    /// A member, by id.
    fn member(&self, id: &MemberId) -> Result<Option<Cow<'_, MemberRecord>>>;
    /// The member that holds a key, by key id.
    fn key_holder(&self, key: &KeyId) -> Result<Option<MemberId>>;
    /// The member an IATI organisation identifier is registered to, if any.
    fn iati_org_holder(&self, org: &crate::event::OrgRef) -> Result<Option<MemberId>>;
    /// An area, by code.
    fn area(&self, code: &AreaCode) -> Result<Option<Cow<'_, AreaRecord>>>;
    /// A category, by code.
    fn category(&self, code: &CategoryCode) -> Result<Option<Cow<'_, CategoryRecord>>>;
    /// A pledge, by number.
    fn pledge(&self, id: PledgeId) -> Result<Option<Cow<'_, PledgeRecord>>>;
    /// A fulfillment, by number.
    fn fulfillment(&self, id: FulfillmentId) -> Result<Option<Cow<'_, FulfillmentRecord>>>;
    /// The entry that recorded an event id, if one did.
    fn event_seq(&self, id: &EventId) -> Result<Option<u64>>;
}

/// Pledges by number: a whole state's, or some of them.
pub type Pledges = Table<PledgeId, PledgeRecord>;
/// Fulfillments by number: a whole state's, or the few a query reads.
pub type Fulfillments = Table<FulfillmentId, FulfillmentRecord>;

/// The whole state in memory: what replay, audit and tests use — and a monitor keeps between
/// runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemState {
    /// Counters and facts about the whole ledger.
    pub head: Head,
    /// Members, by id.
    pub members: BTreeMap<MemberId, MemberRecord>,
    /// The member holding each key.
    pub key_holders: HashMap<KeyId, MemberId>,
    /// The member each IATI organisation identifier is registered to.
    pub iati_orgs: HashMap<crate::event::OrgRef, MemberId>,
    /// Areas, by code.
    pub areas: BTreeMap<AreaCode, AreaRecord>,
    /// Categories, by code.
    pub categories: BTreeMap<CategoryCode, CategoryRecord>,
    /// Every pledge.
    pub pledges: Pledges,
    /// Every fulfillment.
    pub fulfillments: Fulfillments,
    /// The entry that created each attestation, amendment and withdrawal (`A-n`, `M-n`, `W-n`).
    pub numbered: NumberedSeqs,
    /// The entry that recorded each event id.
    pub event_ids: HashMap<EventId, u64>,
}

/// The entry that created each numbered record, by kind and number. The rules number each kind
/// 1, 2, 3… as they record it, so a kind is one vector with the entry of number n at index n − 1:
/// 8 bytes a record (docs/decisions.md, "Memory of an audit").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberedSeqs {
    by_kind: [Vec<u64>; 5],
}

/// A number not recorded, in a gap of [`NumberedSeqs`] (the rules leave none).
const NOT_RECORDED: u64 = u64::MAX;

impl NumberedSeqs {
    fn slot(id: &ShortId) -> Option<usize> {
        id.n.checked_sub(1).and_then(|i| usize::try_from(i).ok())
    }

    /// The entry that created `id`, if it is recorded.
    pub fn get(&self, id: &ShortId) -> Option<u64> {
        let seq = *self.by_kind[id.kind as usize].get(Self::slot(id)?)?;
        (seq != NOT_RECORDED).then_some(seq)
    }

    /// Whether `id` is recorded.
    pub fn contains_key(&self, id: &ShortId) -> bool {
        self.get(id).is_some()
    }

    /// Records that entry `seq` created `id`. Numbers come from the rules, each the one after
    /// the last of its kind; a number further on leaves a gap of unrecorded numbers.
    pub fn insert(&mut self, id: ShortId, seq: u64) {
        let Some(i) = Self::slot(&id) else { return };
        let seqs = &mut self.by_kind[id.kind as usize];
        if i >= seqs.len() {
            seqs.resize(i + 1, NOT_RECORDED);
        }
        seqs[i] = seq;
    }

    /// Every recorded number with its entry, kind by kind, in number order.
    pub fn iter(&self) -> impl Iterator<Item = (ShortId, u64)> + '_ {
        Numbered::ALL.into_iter().flat_map(move |kind| {
            self.by_kind[kind as usize]
                .iter()
                .enumerate()
                .filter(|(_, seq)| **seq != NOT_RECORDED)
                .map(move |(i, seq)| (ShortId::new(kind, i as u64 + 1), *seq))
        })
    }
}

/// The most entries [`MemState::reserve_for`] makes room for: a hint it cannot check (a bundle's
/// header) costs at most the event-id map's control bytes for this many (8 MiB).
const MAX_RESERVED: u64 = 1 << 22;

impl MemState {
    /// An empty state: a ledger before genesis.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room ahead for a log of `entries` entries, so that the state's largest parts do not
    /// move as they grow — a move holds the old beside the new (docs/decisions.md): the event-id
    /// map for one id an entry, the tables of pledges and of
    /// fulfillments for half as many each (a ledger's are about a quarter each; past half, a
    /// table grows as it would have). The tables reserve address space, touched as records
    /// arrive. A hint beyond 4M entries (`MAX_RESERVED`) reserves for that many; room that cannot be
    /// had is not reserved.
    pub fn reserve_for(&mut self, entries: u64) {
        let n = usize::try_from(entries.min(MAX_RESERVED)).unwrap_or(0);
        // Ignored on failure: reserving is only a way to grow less often.
        let _ = self.event_ids.try_reserve(n.saturating_sub(self.event_ids.len()));
        self.pledges.try_reserve(n / 2);
        self.fulfillments.try_reserve(n / 2);
    }

    /// Checks `rec` against the rules and, if it passes, applies it.
    /// A refused event leaves the state exactly as it was.
    pub fn apply(&mut self, rec: &Recorded) -> Result<Outcome> {
        let outcome = crate::rules::decide(self, rec)?;
        self.commit(&outcome);
        Ok(outcome)
    }

    /// Writes an outcome that [`crate::rules::decide`] produced against this state.
    pub fn commit(&mut self, outcome: &Outcome) {
        for r in &outcome.records {
            self.put(r.clone());
        }
        self.head = outcome.head.clone();
    }

    /// [`MemState::commit`] of an outcome no longer needed: its records move in, uncloned (an
    /// audit commits a million of them).
    pub fn commit_owned(&mut self, outcome: Outcome) {
        for r in outcome.records {
            self.put(r);
        }
        self.head = outcome.head;
    }

    fn put(&mut self, r: Record) {
        match r {
            Record::Member(m) => {
                self.members.insert(m.id.clone(), m);
            }
            Record::IatiOrg(o, m) => {
                self.iati_orgs.insert(o, m);
            }
            Record::KeyHolder(k, m) => {
                self.key_holders.insert(k, m);
            }
            Record::Area(a) => {
                self.areas.insert(a.code.clone(), a);
            }
            Record::Category(c) => {
                self.categories.insert(c.code.clone(), c);
            }
            Record::Pledge(p) => {
                self.pledges.insert(p.id, p);
            }
            Record::Fulfillment(f) => {
                self.fulfillments.insert(f.id, f);
            }
            // A pledge or fulfillment is found by its number, its record holding its entry: a
            // million-entry audit keeps half a million fewer ids.
            Record::Numbered(id, _) if matches!(id.kind, Numbered::Pledge | Numbered::Fulfillment) => {}
            Record::Numbered(id, seq) => {
                self.numbered.insert(id, seq);
            }
            Record::EventId(id, seq) => {
                self.event_ids.insert(id, seq);
            }
        }
    }
}

impl StateView for MemState {
    fn head(&self) -> &Head {
        &self.head
    }
    fn member(&self, id: &MemberId) -> Result<Option<Cow<'_, MemberRecord>>> {
        Ok(self.members.get(id).map(Cow::Borrowed))
    }
    fn iati_org_holder(&self, org: &crate::event::OrgRef) -> Result<Option<MemberId>> {
        Ok(self.iati_orgs.get(org).cloned())
    }
    fn key_holder(&self, key: &KeyId) -> Result<Option<MemberId>> {
        Ok(self.key_holders.get(key).cloned())
    }
    fn area(&self, code: &AreaCode) -> Result<Option<Cow<'_, AreaRecord>>> {
        Ok(self.areas.get(code).map(Cow::Borrowed))
    }
    fn category(&self, code: &CategoryCode) -> Result<Option<Cow<'_, CategoryRecord>>> {
        Ok(self.categories.get(code).map(Cow::Borrowed))
    }
    fn pledge(&self, id: PledgeId) -> Result<Option<Cow<'_, PledgeRecord>>> {
        Ok(self.pledges.get(&id).map(Cow::Borrowed))
    }
    fn fulfillment(&self, id: FulfillmentId) -> Result<Option<Cow<'_, FulfillmentRecord>>> {
        Ok(self.fulfillments.get(&id).map(Cow::Borrowed))
    }
    fn event_seq(&self, id: &EventId) -> Result<Option<u64>> {
        Ok(self.event_ids.get(id).copied())
    }
}

impl Outcome {
    pub(crate) fn new(head: &Head, assigned: Assigned) -> Self {
        Outcome { assigned, records: Vec::new(), head: head.clone() }
    }
    pub(crate) fn number(&mut self, kind: Numbered, seq: u64) -> u64 {
        let n = self.head.next(kind);
        self.records.push(Record::Numbered(ShortId::new(kind, n), seq));
        self.assigned = Assigned::Short(ShortId::new(kind, n));
        n
    }
}

/// The categories every ledger starts with (docs/format.md §3, genesis); genesis defines them.
pub const DEFAULT_CATEGORIES: [(&str, &str); 9] = [
    ("funding", "Funding"),
    ("equipment", "Equipment"),
    ("software", "Software"),
    ("training", "Training"),
    ("technical-assistance", "Technical assistance"),
    ("staffing", "Staffing"),
    ("connectivity", "Connectivity"),
    ("meetings", "Meetings"),
    ("other", "Other"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_seqs_answer_as_a_map() {
        let mut seqs = NumberedSeqs::default();
        let mut map = HashMap::new();
        let ids = [(Numbered::Attestation, 1, 10), (Numbered::Attestation, 2, 12), (Numbered::Withdrawal, 3, 15)];
        for (kind, n, seq) in ids {
            seqs.insert(ShortId::new(kind, n), seq);
            map.insert(ShortId::new(kind, n), seq);
        }
        seqs.insert(ShortId::new(Numbered::Amendment, 0), 99); // no number 0: ignored
        for kind in Numbered::ALL {
            for n in 0..5 {
                let id = ShortId::new(kind, n);
                assert_eq!(seqs.get(&id), map.get(&id).copied(), "{kind:?} {n}");
            }
        }
        assert_eq!(seqs.iter().collect::<HashMap<_, _>>(), map);
        assert_eq!(seqs.iter().count(), 3);
    }

    #[test]
    fn room_is_reserved_up_to_a_bound_whatever_the_hint() {
        let mut s = MemState::new();
        s.reserve_for(1000);
        assert!(s.event_ids.capacity() >= 1000);
        let mut promised_much = MemState::new();
        promised_much.reserve_for(u64::MAX);
        let cap = promised_much.event_ids.capacity();
        assert!((1 << 22..1 << 24).contains(&cap), "{cap}");
        assert_eq!(promised_much, MemState::new(), "room holds nothing");
    }
}
