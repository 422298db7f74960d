//! The key space of the one sled tree: a prefix byte per kind of record, then a key whose byte
//! order is the order pledger iterates in (big-endian numbers). See docs/architecture.md.

use chrono::Datelike;
use pledger_core::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, KeyId, MemberId, Numbered, PledgeId, ShortId};
use pledger_core::state::{FulfillmentRecord, PledgeRecord, Record};
use pledger_core::tally::{MemberTally, Tallies};
use pledger_core::Date;

// Every kind of key's first byte, here and nowhere else.

/// The store's format version: `v`.
pub const VERSION: u8 = b'v';
/// The head (size, frontier, counters): `h`.
pub const HEAD: u8 = b'h';
/// A log entry: `e` ‖ sequence number (big-endian).
pub const ENTRY: u8 = b'e';
/// A stored tree node: `n` ‖ level ‖ index (big-endian).
pub const NODE: u8 = b'n';
/// The member holding a key: `k` ‖ key id.
pub const HOLDER: u8 = b'k';
/// A numbered event's sequence number: `s` ‖ kind letter ‖ number (big-endian).
pub const NUMBERED: u8 = b's';
/// An event id's sequence number: `i` ‖ event id.
pub const EVENT_ID: u8 = b'i';
/// A rebuild in progress: `R`.
pub const REBUILDING: u8 = b'R';
/// The member index is complete: `I`.
pub const INDEXED: u8 = b'I';
/// The tallies' layout: `T`.
pub const TALLIED: u8 = b'T';
pub const MEMBER: u8 = b'm';
pub const AREA: u8 = b'a';
pub const CATEGORY: u8 = b'c';
pub const CHECKPOINT: u8 = b'C';
pub const PLEDGE: u8 = b'p';
pub const FULFILLMENT: u8 = b'f';
/// The member an IATI organisation identifier is registered to: `g` ‖ identifier.
pub const IATI_ORG: u8 = b'g';
/// A member's pledges, made or received: `o` ‖ member id ‖ 0x00 ‖ pledge number (big-endian).
pub const BY_MEMBER: u8 = b'o';
/// A member's tally: `t` ‖ member id.
pub const TALLY: u8 = b't';
/// A member's histogram of days late: `l` ‖ member id.
pub const DELAYS: u8 = b'l';
/// A member's unsettled pledges due on a date: `d` ‖ days since 0001-01-01 (u32 big-endian) ‖
/// member id.
pub const DUE: u8 = b'd';
/// A member's pledges in a coverage cell: `w` ‖ area code ‖ 0x00 ‖ category code ‖ 0x00 ‖
/// member id.
pub const CELL: u8 = b'w';
/// Who pledges and who delivered in a coverage cell: `W` ‖ area code ‖ 0x00 ‖ category code.
pub const CELL_MEMBERS: u8 = b'W';
/// What happened in a month, per unit: `M` ‖ `YYYY-MM`.
pub const MONTH: u8 = b'M';
/// The month of a member's first pledge: `F` ‖ member id.
pub const FIRST: u8 = b'F';
/// Every prefix of the tallies.
pub const TALLIES: [u8; 7] = [TALLY, DELAYS, DUE, CELL, CELL_MEMBERS, MONTH, FIRST];

pub enum Key {
    Version,
    Head,
    Entry(u64),
    Node(u8, u64),
    Member(MemberId),
    Holder(KeyId),
    IatiOrg(pledger_core::event::OrgRef),
    Area(AreaCode),
    Category(CategoryCode),
    Pledge(PledgeId),
    Fulfillment(FulfillmentId),
    Numbered(ShortId),
    EventId(EventId),
    Checkpoint(u64),
    Rebuilding,
    ByMember(MemberId, PledgeId),
    /// Present once every pledge is in the member index (ledgers made before it have none
    /// until a rebuild).
    Indexed,
    Tally(MemberId),
    Delays(MemberId),
    Due(Date, MemberId),
    Cell(AreaCode, CategoryCode, MemberId),
    CellMembers(AreaCode, CategoryCode),
    Month(String),
    First(MemberId),
    /// The tallies' layout once they cover every pledge (`2`; `1` was the layout whose coverage
    /// cells listed ids); absent from ledgers made before them until a rebuild.
    Tallied,
}

fn with(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

impl Key {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Version => vec![VERSION],
            Key::Head => vec![HEAD],
            Key::Entry(seq) => with(ENTRY, &seq.to_be_bytes()),
            Key::Node(level, index) => {
                let mut k = vec![NODE, *level];
                k.extend_from_slice(&index.to_be_bytes());
                k
            }
            Key::Member(id) => with(MEMBER, id.as_str().as_bytes()),
            Key::Holder(id) => with(HOLDER, id.as_str().as_bytes()),
            Key::IatiOrg(org) => with(IATI_ORG, org.as_str().as_bytes()),
            Key::Area(code) => with(AREA, code.as_str().as_bytes()),
            Key::Category(code) => with(CATEGORY, code.as_str().as_bytes()),
            Key::Pledge(id) => with(PLEDGE, &id.0.to_be_bytes()),
            Key::Fulfillment(id) => with(FULFILLMENT, &id.0.to_be_bytes()),
            Key::Numbered(id) => {
                let mut k = vec![NUMBERED, id.kind.prefix() as u8];
                k.extend_from_slice(&id.n.to_be_bytes());
                k
            }
            Key::EventId(id) => with(EVENT_ID, &id.0),
            Key::Checkpoint(size) => with(CHECKPOINT, &size.to_be_bytes()),
            Key::Rebuilding => vec![REBUILDING],
            Key::ByMember(m, p) => {
                let mut k = by_member_prefix(m);
                k.extend_from_slice(&p.0.to_be_bytes());
                k
            }
            Key::Indexed => vec![INDEXED],
            Key::Tally(m) => with(TALLY, m.as_str().as_bytes()),
            Key::Delays(m) => with(DELAYS, m.as_str().as_bytes()),
            Key::Due(d, m) => [&[DUE][..], &day_number(*d).to_be_bytes(), m.as_str().as_bytes()].concat(),
            Key::Cell(a, c, m) => {
                [&[CELL][..], a.as_str().as_bytes(), &[0], c.as_str().as_bytes(), &[0], m.as_str().as_bytes()].concat()
            }
            Key::CellMembers(a, c) => {
                [&[CELL_MEMBERS][..], a.as_str().as_bytes(), &[0], c.as_str().as_bytes()].concat()
            }
            Key::Month(m) => with(MONTH, m.as_bytes()),
            Key::First(m) => with(FIRST, m.as_str().as_bytes()),
            Key::Tallied => vec![TALLIED],
        }
    }
}

/// A date as its key: days since 0001-01-01, which orders keys by date (pledger's dates are
/// 1900 to 2999).
pub fn day_number(d: Date) -> u32 {
    u32::try_from(d.0.num_days_from_ce()).unwrap_or(0)
}

/// The date of a due-date key's number.
pub fn day_of(n: u32) -> Option<Date> {
    i32::try_from(n).ok().and_then(chrono::NaiveDate::from_num_days_from_ce_opt).map(Date)
}

/// The start of the due-date keys from `date` on.
pub fn due_from(date: Date) -> Vec<u8> {
    [&[DUE][..], &day_number(date).to_be_bytes()].concat()
}

/// The tally key `key` is, if it is one, written as pledger writes it.
pub fn tally_key(key: &[u8]) -> Option<Key> {
    fn text(b: &[u8]) -> Option<&str> {
        std::str::from_utf8(b).ok()
    }
    let member = |b: &[u8]| text(b).and_then(|s| MemberId::parse(s).ok());
    let parts = |b: &[u8]| -> Option<(AreaCode, CategoryCode, Option<MemberId>)> {
        let mut it = b.split(|c| *c == 0);
        let a = AreaCode::parse(text(it.next()?)?).ok()?;
        let c = CategoryCode::parse(text(it.next()?)?).ok()?;
        let m = match it.next() {
            Some(m) => Some(member(m)?),
            None => None,
        };
        it.next().is_none().then_some((a, c, m))
    };
    let parsed = match key {
        [TALLY, rest @ ..] => Key::Tally(member(rest)?),
        [DELAYS, rest @ ..] => Key::Delays(member(rest)?),
        [DUE, d0, d1, d2, d3, rest @ ..] => Key::Due(day_of(u32::from_be_bytes([*d0, *d1, *d2, *d3]))?, member(rest)?),
        [CELL, rest @ ..] => match parts(rest)? {
            (a, c, Some(m)) => Key::Cell(a, c, m),
            _ => return None,
        },
        [CELL_MEMBERS, rest @ ..] => match parts(rest)? {
            (a, c, None) => Key::CellMembers(a, c),
            _ => return None,
        },
        // `YYYY-MM`: a month of a date pledger accepts.
        [MONTH, rest @ ..] => {
            Date::parse(&format!("{}-01", text(rest)?)).ok().map(|d| Key::Month(pledger_core::tally::month(d)))?
        }
        [FIRST, rest @ ..] => Key::First(member(rest)?),
        _ => return None,
    };
    // One spelling per key: a day number or an id written otherwise is not pledger's.
    (parsed.bytes() == key).then_some(parsed)
}

/// The keys and encoded values of tallies: every member's tally and histogram of delays, every
/// due-date and cell count.
pub fn tally_entries(t: &Tallies) -> impl Iterator<Item = (Key, Vec<u8>)> + '_ {
    use super::encode;
    let members = t.members.iter().flat_map(|(m, v)| {
        let fixed = MemberTally { delays: Default::default(), ..v.clone() };
        let delays = (!v.delays.is_empty()).then(|| (Key::Delays(m.clone()), encode(&v.delays)));
        std::iter::once((Key::Tally(m.clone()), encode(&fixed))).chain(delays)
    });
    let due = t.due.iter().map(|((d, m), v)| (Key::Due(*d, m.clone()), encode(v)));
    let cells = t.cells.iter().map(|((a, c, m), v)| (Key::Cell(a.clone(), c.clone(), m.clone()), encode(v)));
    let months = t.months.iter().map(|(m, v)| (Key::Month(m.clone()), encode(v)));
    let first = t.first.iter().map(|(m, v)| (Key::First(m.clone()), encode(v)));
    members.chain(due).chain(cells).chain(months).chain(first)
}

/// The prefix of a member's keys in the member index.
pub fn by_member_prefix(m: &MemberId) -> Vec<u8> {
    let mut k = with(BY_MEMBER, m.as_str().as_bytes());
    k.push(0);
    k
}

/// The index keys of a pledge: under its pledger and its beneficiary.
pub fn by_member(p: &PledgeRecord) -> [Key; 2] {
    index_entries(p).map(|(m, id)| Key::ByMember(m.clone(), id))
}

/// Whom a pledge is indexed under: its pledger and its beneficiary.
pub fn index_entries(p: &PledgeRecord) -> [(&MemberId, PledgeId); 2] {
    [(&p.pledger, p.id), (&p.beneficiary, p.id)]
}

pub fn be_u64(v: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes)
}

pub fn entry_seq(key: &[u8]) -> Option<u64> {
    match key {
        [ENTRY, rest @ ..] => be_u64(rest),
        _ => None,
    }
}

/// The lowest level of the Merkle tree that is stored: a node below it covers at most 15 entries
/// and is recomputed from them when a proof needs it, which spares about two keys per entry.
pub const STORED_LEVEL: u8 = 4;

/// Whether the numbered records of this kind keep their own `s` key: pledges and fulfillments
/// do not, since their records (`p`, `f`) hold the sequence number that created them.
pub fn numbered_key(kind: Numbered) -> bool {
    !matches!(kind, Numbered::Pledge | Numbered::Fulfillment)
}

/// The key and encoded value a record is stored as; `None` for what needs no key of its own.
pub fn record(r: &Record) -> Option<(Key, Vec<u8>)> {
    use super::encode;
    Some(match r {
        Record::Member(m) => (Key::Member(m.id.clone()), encode(m)),
        Record::KeyHolder(k, m) => (Key::Holder(k.clone()), encode(m)),
        Record::IatiOrg(o, m) => (Key::IatiOrg(o.clone()), encode(m)),
        Record::Area(a) => (Key::Area(a.code.clone()), encode(a)),
        Record::Category(c) => (Key::Category(c.code.clone()), encode(c)),
        Record::Pledge(p) => pledge(p),
        Record::Fulfillment(f) => fulfillment(f),
        Record::Numbered(id, _) if !numbered_key(id.kind) => return None,
        Record::Numbered(id, seq) => (Key::Numbered(*id), encode(seq)),
        Record::EventId(id, seq) => (Key::EventId(*id), encode(seq)),
    })
}

/// The key and encoded value of a pledge's record.
pub fn pledge(p: &PledgeRecord) -> (Key, Vec<u8>) {
    (Key::Pledge(p.id), super::encode(p))
}

/// The key and encoded value of a fulfillment's record.
pub fn fulfillment(f: &FulfillmentRecord) -> (Key, Vec<u8>) {
    (Key::Fulfillment(f.id), super::encode(f))
}

/// The kind of numbered record whose short ids begin with `letter` (`P`, `F`, `A`, `M`, `W`).
fn numbered_kind(letter: u8) -> Option<Numbered> {
    Numbered::ALL.into_iter().find(|k| k.prefix() as u8 == letter)
}

/// Keys an earlier pledger wrote that pledger neither writes nor reads any more: tree nodes
/// below [`STORED_LEVEL`] and the short ids of pledges and fulfillments. `verify` passes over
/// them; `rebuild` removes them.
pub fn inert(key: &[u8]) -> bool {
    match key {
        [NODE, level, ..] => *level < STORED_LEVEL,
        [NUMBERED, letter, ..] => numbered_kind(*letter).is_some_and(|k| !numbered_key(k)),
        _ => false,
    }
}

/// A derived key named for a person: "pledge P-000003", "tree node (4, 1)", "timeline tally of
/// 2014-04"; a key pledger would not write, by its bytes.
pub fn describe(key: &[u8]) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let named = match key {
        [ENTRY, rest @ ..] => be_u64(rest).map(|n| format!("entry {n}")),
        [CHECKPOINT, rest @ ..] => be_u64(rest).map(|n| format!("kept checkpoint of size {n}")),
        [NODE, level, rest @ ..] => be_u64(rest).map(|i| format!("tree node ({level}, {i})")),
        [MEMBER, rest @ ..] => Some(format!("member {}", text(rest))),
        [HOLDER, rest @ ..] => Some(format!("holder of key {}", text(rest))),
        [IATI_ORG, rest @ ..] => Some(format!("holder of IATI organisation {}", text(rest))),
        [AREA, rest @ ..] => Some(format!("area {}", text(rest))),
        [CATEGORY, rest @ ..] => Some(format!("category {}", text(rest))),
        [PLEDGE, rest @ ..] => be_u64(rest).map(|n| format!("pledge {}", PledgeId(n))),
        [FULFILLMENT, rest @ ..] => be_u64(rest).map(|n| format!("fulfillment {}", FulfillmentId(n))),
        [NUMBERED, letter, rest @ ..] => numbered_kind(*letter)
            .zip(be_u64(rest))
            .map(|(kind, n)| format!("entry number of {}", ShortId::new(kind, n))),
        [EVENT_ID, rest @ ..] => <[u8; 16]>::try_from(rest).ok().map(|id| format!("index of event {}", EventId(id))),
        [BY_MEMBER, rest @ ..] if rest.len() > 9 && rest[rest.len() - 9] == 0 => {
            let (member, pledge) = rest.split_at(rest.len() - 9);
            be_u64(&pledge[1..]).map(|n| format!("member index entry of {} for {}", text(member), PledgeId(n)))
        }
        _ => tally_key(key).map(|k| match k {
            Key::Tally(m) => format!("scorecard tally of {m}"),
            Key::Delays(m) => format!("scorecard histogram of days late of {m}"),
            Key::Due(d, m) => format!("tally of {m}'s pledges due on {d}"),
            Key::Cell(a, c, m) => format!("coverage tally of {m} in {a} / {c}"),
            Key::CellMembers(a, c) => format!("coverage cell {a} / {c}"),
            Key::Month(m) => format!("timeline tally of {m}"),
            Key::First(m) => format!("first pledge month of {m}"),
            _ => String::new(),
        }),
    };
    named.filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        format!("key {hex}")
    })
}
