//! Random ledgers for tests: a cast of members, a setup (genesis, areas, admissions) and random
//! sequences of pledges, amendments, deliveries, attestations, withdrawals and key changes —
//! mostly valid, some not, so both acceptance and refusal are exercised. Deterministic per seed.
//! The caller supplies the public keys, so the same events can be signed for real.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::event::{
    AmendmentBody, AreaDefined, AttestationBody, Body, Date, Event, FulfillmentBody, Genesis, KeyRevoked, Level,
    MemberAdmitted, MemberKind, Name, Note, PledgeBody, PublicKey, Title, Tranche, Verdict, WithdrawalBody,
};
use crate::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, MemberId, PledgeId};
use crate::measure::{Measure, Unit};
use crate::state::Recorded;

/// A member of the cast and its key.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Its member id (`m0`, `m1`…).
    pub id: MemberId,
    /// Its kind.
    pub kind: MemberKind,
    /// Whether it is a convener.
    pub convener: bool,
    /// Its key.
    pub key: PublicKey,
}

/// The origin of every test ledger.
pub const ORIGIN: &str = "test.pledger/ledger";

/// A small deterministic generator (SplitMix64), so tests need no RNG crate.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`: the same seed, the same numbers.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A cast of `n` members (n ≥ 3): a convener, an auditor, and others; keys from `key_of`.
pub fn cast(n: usize, mut key_of: impl FnMut(usize) -> PublicKey) -> Vec<Actor> {
    (0..n.max(3))
        .map(|i| Actor {
            id: MemberId::parse(&format!("m{i}")).unwrap_or_else(|_| unreachable!()),
            kind: match i {
                0 => MemberKind::Government,
                1 => MemberKind::Auditor,
                i if i % 2 == 0 => MemberKind::Donor,
                _ => MemberKind::Implementer,
            },
            convener: i == 0,
            key: key_of(i),
        })
        .collect()
}

/// A fake key for tests of the core alone, which never checks signatures.
pub fn fake_key(i: usize) -> PublicKey {
    PublicKey(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

/// The areas every test ledger defines: code, level and parent.
pub const AREAS: [(&str, Level, Option<&str>); 6] = [
    ("ML", Level::Country, None),
    ("ML-1", Level::Region, Some("ML")),
    ("ML-3", Level::Region, Some("ML")),
    ("ML-8", Level::Region, Some("ML")),
    ("ML-BKO", Level::Region, Some("ML")),
    ("ML-3-KTL", Level::District, Some("ML-3")),
];

fn base_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2014, 1, 1).unwrap_or_default()
}

/// The signing and recording time of the i-th event of a test ledger.
pub fn time(i: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default() + Duration::seconds(i as i64)
}

fn event(rng: &mut Rng, signer: &Actor, i: u64, day: i64, body: Body) -> Event {
    Event {
        id: EventId(((rng.next_u64() as u128) << 64 | rng.next_u64() as u128).to_be_bytes()),
        origin: ORIGIN.to_owned(),
        signer: signer.id.clone(),
        key: signer.key.key_id(),
        signed_at: time(i),
        effective: Date(base_date() + Duration::days(day)),
        body,
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap_or_else(|_| unreachable!())
}

/// Genesis, the areas, and the admission of every other actor.
pub fn setup(actors: &[Actor], rng: &mut Rng) -> Vec<Event> {
    let first = &actors[0];
    let mut out = vec![event(
        rng,
        first,
        0,
        0,
        Body::Genesis(Genesis {
            member: first.id.clone(),
            name: name("Convener"),
            kind: first.kind,
            public_key: first.key,
            log_key: first.key,
        }),
    )];
    for (code, level, parent) in AREAS {
        let i = out.len() as u64;
        out.push(event(
            rng,
            first,
            i,
            0,
            Body::AreaDefined(AreaDefined {
                code: AreaCode::parse(code).unwrap_or_else(|_| unreachable!()),
                name: name(code),
                level,
                parent: parent.map(|p| AreaCode::parse(p).unwrap_or_else(|_| unreachable!())),
            }),
        ));
    }
    for a in &actors[1..] {
        let i = out.len() as u64;
        out.push(event(
            rng,
            first,
            i,
            0,
            Body::MemberAdmitted(MemberAdmitted {
                member: a.id.clone(),
                name: name(a.id.as_str()),
                kind: a.kind,
                convener: a.convener,
                public_key: a.key,
                iati_orgs: Vec::new(),
            }),
        ));
    }
    out
}

/// What the generator remembers of the pledges it made, to refer to them plausibly.
struct Made {
    pledger: usize,
    beneficiary: usize,
    unit: Unit,
    value: u64,
}

const UNITS: [&str; 3] = ["XOF", "USD", "laptops"];

fn unit_of(rng: &mut Rng) -> Unit {
    match *rng.pick(&UNITS) {
        "laptops" => Unit::count("laptops").unwrap_or_else(|_| unreachable!()),
        c => Unit::currency(c).unwrap_or_else(|_| unreachable!()),
    }
}

fn measure(value: u64, unit: &Unit) -> Measure {
    Measure::new(value.clamp(1, crate::measure::MAX_VALUE), unit.clone()).unwrap_or_else(|_| unreachable!())
}

/// `n` random events after the setup, starting at sequence number `start`.
pub fn random_ops(actors: &[Actor], rng: &mut Rng, start: u64, n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    let mut made: Vec<Made> = Vec::new();
    let mut fulfillments: Vec<usize> = Vec::new();
    let areas: Vec<AreaCode> =
        AREAS.iter().map(|(c, ..)| AreaCode::parse(c).unwrap_or_else(|_| unreachable!())).collect();
    for k in 0..n {
        let i = start + k as u64;
        let day = 30 + k as i64 * 3 - if rng.chance(5) { 400 } else { 0 };
        let mut roll = rng.below(100);
        if (70..=87).contains(&roll) && fulfillments.is_empty() {
            // Nothing to attest yet: deliver something instead.
            roll = 45;
        }
        let (signer, body) = if roll < 30 || made.is_empty() {
            let p = rng.below(actors.len() as u64) as usize;
            let b =
                if rng.chance(95) { (p + 1 + rng.below(actors.len() as u64 - 1) as usize) % actors.len() } else { p };
            let unit = unit_of(rng);
            let value = 1 + rng.below(1_000_000);
            made.push(Made { pledger: p, beneficiary: b, unit: unit.clone(), value });
            let mut covered: Vec<AreaCode> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let a = rng.pick(&areas).clone();
                if !covered.contains(&a) {
                    covered.push(a);
                }
            }
            let category = if rng.chance(97) { "training" } else { "unheard-of" };
            let span = rng.below(700) as i64;
            // A quarter in tranches: k parts due in order up to the due date; a few add up wrong.
            let mut tranches = Vec::new();
            let k = 2 + rng.below(3) as i64;
            if rng.chance(25) && span >= k && value >= k as u64 {
                let mut left = value;
                for i in 1..=k {
                    let part = if i == k { left } else { 1 + rng.below(left - (k - i) as u64) };
                    left -= part;
                    let part = if i == k && rng.chance(5) { part + 1 } else { part };
                    tranches.push(Tranche {
                        due: Date(base_date() + Duration::days(day + span * i / k)),
                        amount: measure(part, &unit),
                    });
                }
            }
            (
                p,
                Body::Pledge(PledgeBody {
                    to: actors[b].id.clone(),
                    category: CategoryCode::parse(category).unwrap_or_else(|_| unreachable!()),
                    areas: covered,
                    amount: measure(value, &unit),
                    due: Date(base_date() + Duration::days(day + span)),
                    title: Title::parse("A pledge").unwrap_or_else(|_| unreachable!()),
                    tranches,
                }),
            )
        } else {
            let pi = rng.below(made.len() as u64 + 1) as usize;
            let target = made.get(pi.min(made.len() - 1)).map(|m| (m.pledger, m.beneficiary, m.unit.clone(), m.value));
            let (pledger, beneficiary, unit, value) = target.unwrap_or((0, 1, unit_of(rng), 10));
            // Usually the pledge's own pledger, sometimes someone else.
            let who = if rng.chance(90) { pledger } else { rng.below(actors.len() as u64) as usize };
            let unit = if rng.chance(95) { unit } else { unit_of(rng) };
            let pledge = PledgeId(if rng.chance(97) { pi as u64 + 1 } else { 10_000 });
            match roll {
                30..=44 => (
                    who,
                    Body::Amendment(AmendmentBody {
                        pledge,
                        due: rng.chance(50).then(|| Date(base_date() + Duration::days(day + 365))),
                        title: None,
                        areas: rng.chance(20).then(|| vec![rng.pick(&areas).clone()]),
                        increase: rng.chance(60).then(|| measure(1 + rng.below(value), &unit)),
                    }),
                ),
                45..=69 => {
                    fulfillments.push(pi);
                    (
                        who,
                        Body::Fulfillment(FulfillmentBody {
                            beyond: false,
                            pledge,
                            amount: measure(1 + rng.below(value / 2 + 1), &unit),
                            evidence: None,
                            note: None,
                        }),
                    )
                }
                70..=87 => {
                    let f = 1 + rng.below(fulfillments.len() as u64 + 1);
                    let attester = match rng.below(10) {
                        0..=5 => beneficiary,
                        6..=7 => 1,
                        _ => rng.below(actors.len() as u64) as usize,
                    };
                    let verdict = if rng.chance(75) { Verdict::Confirmed } else { Verdict::Disputed };
                    (
                        attester,
                        Body::Attestation(AttestationBody { fulfillment: FulfillmentId(f), verdict, note: None }),
                    )
                }
                // Key revocations come late, so most of a ledger is signed with live keys.
                _ if roll >= 98 && k < n * 4 / 5 => (
                    who,
                    Body::Withdrawal(WithdrawalBody {
                        pledge,
                        amount: None,
                        reason: Note::parse("Budget cut").unwrap_or_else(|_| unreachable!()),
                    }),
                ),
                88..=97 => (
                    who,
                    Body::Withdrawal(WithdrawalBody {
                        pledge,
                        amount: rng.chance(70).then(|| measure(1 + rng.below(value / 2 + 1), &unit)),
                        reason: Note::parse("Budget cut").unwrap_or_else(|_| unreachable!()),
                    }),
                ),
                _ => {
                    let m = 1 + rng.below(actors.len() as u64 - 1) as usize;
                    let by = if rng.chance(50) { m } else { 0 };
                    (
                        by,
                        Body::KeyRevoked(KeyRevoked {
                            member: actors[m].id.clone(),
                            key: actors[m].key.key_id(),
                            reason: None,
                        }),
                    )
                }
            }
        };
        out.push(event(rng, &actors[signer], i, day, body));
    }
    out
}

/// Setup plus `n` random events.
pub fn ledger(actors: &[Actor], seed: u64, n: usize) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut events = setup(actors, &mut rng);
    let start = events.len() as u64;
    events.extend(random_ops(actors, &mut rng, start, n));
    events
}

/// `events` of `actors` with every other pledge due a few days after it is made (before any
/// amendment postpones it), every other delivery of all that is left to deliver, and every other
/// attestation a confirmation of the latest delivery by its beneficiary, so that a ledger holds
/// pledges met on time, met late, and overdue. The events are decided in order as they are
/// changed, so that they name the pledges and deliveries the rules numbered.
pub fn hurried(actors: &[Actor], mut events: Vec<Event>) -> Vec<Event> {
    let mut state = crate::MemState::new();
    let (mut pledges, mut deliveries, mut attestations) = (0i64, 0u64, 0u64);
    for (i, e) in events.iter_mut().enumerate() {
        match &mut e.body {
            Body::Pledge(p) => {
                pledges += 1;
                if pledges % 2 == 0 {
                    let span = pledges % 9;
                    p.due = Date(e.effective.0 + Duration::days(span));
                    // Its tranches, if any, squeezed into the shorter span (or dropped).
                    let k = p.tranches.len() as i64;
                    if span >= k {
                        for (i, t) in p.tranches.iter_mut().enumerate() {
                            t.due = Date(e.effective.0 + Duration::days(span * (i as i64 + 1) / k.max(1)));
                        }
                    } else {
                        p.tranches.clear();
                    }
                }
            }
            Body::Fulfillment(f) => {
                deliveries += 1;
                if let (0, Some(p)) = (deliveries % 2, state.pledges.get(&f.pledge)) {
                    if p.undelivered() > 0 {
                        f.amount = measure(p.undelivered(), &p.unit);
                    }
                }
            }
            Body::Attestation(a) => {
                attestations += 1;
                let latest = state.fulfillments.values().next_back();
                let beneficiary = latest.and_then(|f| state.pledges.get(&f.pledge)).map(|p| &p.beneficiary);
                let by = beneficiary.and_then(|b| actors.iter().find(|x| &x.id == b));
                if let (0, Some(f), Some(actor)) = (attestations % 2, latest, by) {
                    a.fulfillment = f.id;
                    a.verdict = Verdict::Confirmed;
                    e.signer = actor.id.clone();
                    e.key = actor.key.key_id();
                }
            }
            _ => {}
        }
        let _ = state.apply(&recorded(state.head.size, i as u64, e.clone()));
    }
    events
}

/// An event as the log would record it at `seq`, at the test clock's time for `i`.
pub fn recorded(seq: u64, i: u64, event: Event) -> Recorded {
    Recorded { seq, recorded_at: time(i), event }
}

/// A small ledger built by hand, event by event, for tests whose expected answers are worked
/// out by hand: the cast's setup is applied, then each event is decided and committed.
pub struct HandLedger {
    /// The state so far.
    pub state: crate::MemState,
    /// The cast.
    pub actors: Vec<Actor>,
    /// The generator the events' ids come from.
    pub rng: Rng,
    /// The next entry's recording time, in seconds after 2026-01-01 (see [`time`]).
    pub clock: u64,
}

impl HandLedger {
    /// `members` actors with fake keys (see [`cast`]), the areas of [`AREAS`], all admitted.
    pub fn new(members: usize, seed: u64) -> Self {
        let actors = cast(members, fake_key);
        let mut rng = Rng::new(seed);
        let mut state = crate::MemState::new();
        let events = setup(&actors, &mut rng);
        let n = events.len() as u64;
        for (i, e) in events.into_iter().enumerate() {
            if let Err(e) = state.apply(&recorded(i as u64, i as u64, e)) {
                panic!("setup refused: {e}");
            }
        }
        HandLedger { state, actors, rng, clock: n }
    }

    /// An event by actor `signer`, effective on `date` (`YYYY-MM-DD`).
    pub fn event(&mut self, signer: usize, date: &str, body: Body) -> Event {
        let a = &self.actors[signer];
        Event {
            id: EventId(((self.rng.next_u64() as u128) << 64 | self.rng.next_u64() as u128).to_be_bytes()),
            origin: ORIGIN.into(),
            signer: a.id.clone(),
            key: a.key.key_id(),
            signed_at: time(self.clock),
            effective: Date::parse(date).unwrap_or_else(|e| panic!("{e}")),
            body,
        }
    }

    /// Records `event` if the rules accept it, returning what it is known by. A refused event
    /// must leave the state exactly as it was; this checks it.
    pub fn try_event(&mut self, event: Event) -> Result<String, crate::RuleError> {
        let rec = Recorded { seq: self.state.head.size, recorded_at: time(self.clock), event };
        self.clock += 1;
        let before = self.state.clone();
        let r = self.state.apply(&rec).map(|o| o.assigned.to_string());
        if r.is_err() {
            assert_eq!(self.state, before, "a refused event changed the state");
        }
        r
    }

    /// Records an event by actor `signer`, effective on `date`, if the rules accept it.
    pub fn try_(&mut self, signer: usize, date: &str, body: Body) -> Result<String, crate::RuleError> {
        let e = self.event(signer, date, body);
        self.try_event(e)
    }

    /// Records an event the test expects to be accepted.
    pub fn ok(&mut self, signer: usize, date: &str, body: Body) -> String {
        self.try_(signer, date, body).unwrap_or_else(|e| panic!("refused: {e}"))
    }
}

/// A fulfillment of pledge `P-p`.
pub fn fulfill(p: u64, amount: Measure) -> Body {
    Body::Fulfillment(FulfillmentBody { pledge: PledgeId(p), amount, beyond: false, evidence: None, note: None })
}

/// An attestation of fulfillment `F-f`.
pub fn attest(f: u64, verdict: Verdict) -> Body {
    Body::Attestation(AttestationBody { fulfillment: FulfillmentId(f), verdict, note: None })
}
