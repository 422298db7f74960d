//! Realistic ledgers for benchmarks: ~200 members each with its own key, a country with its
//! regions and ~70 districts, pledges, amendments, fulfillments, attestations and withdrawals in
//! the proportions a national ledger sees, effective dates spread over about nine years — every
//! event really signed, and every one accepted by the rules (each is checked against the state as it
//! is generated). Deterministic for a seed, apart from nothing: keys come from the seed too.

pub mod crash;
pub mod measure;
pub mod net;
pub mod peer;

use std::io::Write;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use ed25519_dalek::SigningKey;
use pledger_core::event::{
    AmendmentBody, AreaDefined, AttestationBody, Body, Date, Event, FulfillmentBody, Genesis, Level, MemberAdmitted,
    MemberKind, Name, Note, PledgeBody, PublicKey, Title, Verdict, WithdrawalBody,
};
use pledger_core::ids::{AreaCode, CategoryCode, EventId, FulfillmentId, MemberId, PledgeId};
use pledger_core::testkit::Rng;
use pledger_core::{decide, Measure, MemState, Recorded, Unit};
use pledger_log::sign::sign_event;
use rayon::prelude::*;

/// The generated ledger's origin.
pub const ORIGIN: &str = "bench.pledger/ml";
/// Members of the generated ledger.
pub const MEMBERS: usize = 200;
const REGIONS: [&str; 9] = ["ML-1", "ML-2", "ML-3", "ML-4", "ML-5", "ML-6", "ML-7", "ML-8", "ML-BKO"];
const DISTRICTS_PER_REGION: usize = 8;
const CATEGORIES: [&str; 9] = [
    "funding", "equipment", "software", "training", "technical-assistance", "staffing", "connectivity", "meetings",
    "other",
];

/// A member of the generated ledger.
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// Its kind.
    pub kind: MemberKind,
    /// Its key.
    pub key: SigningKey,
}

impl Member {
    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }
}

/// The generated members: `m000` the convener (government), then auditors, donors,
/// government units and implementers. Keys derive from the seed.
pub fn members(seed: u64) -> Vec<Member> {
    (0..MEMBERS)
        .map(|i| {
            let mut secret = [0u8; 32];
            secret.copy_from_slice(blake3::hash(format!("pledger-bench {seed} member {i}").as_bytes()).as_bytes());
            Member {
                id: MemberId::parse(&format!("m{i:03}")).unwrap_or_else(|_| unreachable!()),
                kind: match i {
                    0 => MemberKind::Government,
                    1..=5 => MemberKind::Auditor,
                    6..=45 => MemberKind::Donor,
                    46..=79 => MemberKind::Government,
                    _ => MemberKind::Implementer,
                },
                key: SigningKey::from_bytes(&secret),
            }
        })
        .collect()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap_or_else(|_| unreachable!())
}

/// The areas: Mali, its regions, and districts under each region.
pub fn areas() -> Vec<AreaDefined> {
    let mut out = vec![AreaDefined { code: code("ML"), name: name("Mali"), level: Level::Country, parent: None }];
    for r in REGIONS {
        out.push(AreaDefined { code: code(r), name: name(r), level: Level::Region, parent: Some(code("ML")) });
        for d in 1..=DISTRICTS_PER_REGION {
            let c = format!("{r}-D{d:02}");
            out.push(AreaDefined { code: code(&c), name: name(&c), level: Level::District, parent: Some(code(r)) });
        }
    }
    out
}

fn code(s: &str) -> AreaCode {
    AreaCode::parse(s).unwrap_or_else(|_| unreachable!())
}

/// What the generator remembers to make plausible, valid events.
struct Open {
    id: PledgeId,
    pledger: usize,
    beneficiary: usize,
    unit: Unit,
    made: NaiveDate,
}

/// A generator of one ledger, event by event.
pub struct Generator {
    /// The members, with their keys.
    pub members: Vec<Member>,
    state: MemState,
    rng: Rng,
    open: Vec<Open>,
    unattested: Vec<(FulfillmentId, usize, NaiveDate)>,
    made: u64,
    start: NaiveDate,
    /// Events per simulated day: 300 over a million events, fewer over fewer, so that any
    /// ledger spans about nine years.
    per_day: u64,
    setup: Vec<(usize, Body)>,
}

impl Generator {
    /// A generator paced for `n` events: about nine years of them, whatever `n` (300 a day over
    /// a million).
    pub fn for_events(seed: u64, n: u64) -> Self {
        let members = members(seed);
        let mut setup: Vec<(usize, Body)> = vec![(
            0,
            Body::Genesis(Genesis {
                member: members[0].id.clone(),
                name: name("Direction Nationale de la Santé"),
                kind: MemberKind::Government,
                public_key: members[0].public(),
                log_key: members[0].public(),
            }),
        )];
        setup.extend(areas().into_iter().map(|a| (0, Body::AreaDefined(a))));
        for m in &members[1..] {
            setup.push((
                0,
                Body::MemberAdmitted(MemberAdmitted {
                    member: m.id.clone(),
                    name: name(&format!("Member {}", m.id)),
                    kind: m.kind,
                    convener: false,
                    public_key: m.public(),
                    iati_orgs: Vec::new(),
                }),
            ));
        }
        setup.reverse();
        Generator {
            members,
            state: MemState::new(),
            rng: Rng::new(seed),
            open: Vec::new(),
            unattested: Vec::new(),
            made: 0,
            start: NaiveDate::from_ymd_opt(2014, 1, 1).unwrap_or_default(),
            per_day: (n.saturating_mul(300) / 1_000_000).max(1),
            setup,
        }
    }

    /// The simulated date of the i-th event.
    fn today(&self) -> NaiveDate {
        self.start + Duration::days((self.made / self.per_day) as i64)
    }

    fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    /// A candidate next event: (signer, effective date, body).
    fn candidate(&mut self) -> (usize, NaiveDate, Body) {
        if let Some((signer, body)) = self.setup.pop() {
            return (signer, self.start, body);
        }
        let today = self.today();
        let roll = self.rng.below(100);
        // Attestations (27 %) need only a delivery waiting for one.
        if (56..83).contains(&roll) && !self.unattested.is_empty() {
            let i = self.pick(self.unattested.len());
            let (f, beneficiary, delivered) = self.unattested.swap_remove(i);
            let attester = if self.rng.chance(90) { beneficiary } else { 1 + self.pick(5) };
            let verdict = if self.rng.chance(92) { Verdict::Confirmed } else { Verdict::Disputed };
            let date = (today + Duration::days(self.rng.below(30) as i64)).max(delivered);
            return (attester, date, Body::Attestation(AttestationBody { fulfillment: f, verdict, note: None }));
        }
        let picked = if roll < 26 { None } else { self.pick_open() };
        let Some(i) = picked else {
            return self.new_pledge(today);
        };
        let (id, pledger, unit, made) = {
            let o = &self.open[i];
            (o.id, o.pledger, o.unit.clone(), o.made)
        };
        let left = self.state.pledges[&id].undelivered();
        let body = match roll {
            // Fulfillments (30 %).
            26..=82 => {
                let value = (left / (1 + self.rng.below(3))).clamp(1, left);
                Body::Fulfillment(FulfillmentBody {
                    beyond: false,
                    pledge: id,
                    amount: Measure::new(value, unit).unwrap_or_else(|_| unreachable!()),
                    evidence: None,
                    note: None,
                })
            }
            // Amendments (11 %).
            83..=93 => Body::Amendment(AmendmentBody {
                pledge: id,
                due: self.rng.chance(50).then(|| Date(today + Duration::days(90 + self.rng.below(365) as i64))),
                title: None,
                areas: None,
                increase: Some(Measure::new((left / 10).max(1), unit).unwrap_or_else(|_| unreachable!())),
            }),
            // Withdrawals (6 %).
            _ => Body::Withdrawal(WithdrawalBody {
                pledge: id,
                amount: self
                    .rng
                    .chance(60)
                    .then(|| Measure::new((left / 2).max(1), unit.clone()).unwrap_or_else(|_| unreachable!())),
                reason: Note::parse("Budget revision").unwrap_or_else(|_| unreachable!()),
            }),
        };
        (pledger, today.max(made), body)
    }

    /// A new pledge (26 % of events).
    fn new_pledge(&mut self, today: NaiveDate) -> (usize, NaiveDate, Body) {
        let pledger = 6 + self.pick(MEMBERS - 6);
        let beneficiary = if self.rng.chance(70) { 0 } else { 46 + self.pick(34) };
        let beneficiary = if beneficiary == pledger { 0 } else { beneficiary };
        let unit = match self.rng.below(10) {
            0..=5 => Unit::currency("XOF"),
            6..=8 => Unit::currency("USD"),
            _ => Unit::count("laptops"),
        }
        .unwrap_or_else(|_| unreachable!());
        let value = match &unit {
            Unit::Currency(c) if c == "XOF" => 1_000_000 + self.rng.below(200_000_000),
            Unit::Currency(_) => 100_000 + self.rng.below(50_000_000),
            Unit::Count(_) => 5 + self.rng.below(200),
        };
        let region = REGIONS[self.pick(REGIONS.len())];
        let mut areas = vec![code(&format!("{region}-D{:02}", 1 + self.pick(DISTRICTS_PER_REGION)))];
        if self.rng.chance(30) {
            let other = code(&format!("{region}-D{:02}", 1 + self.pick(DISTRICTS_PER_REGION)));
            if !areas.contains(&other) {
                areas.push(other);
            }
        }
        if self.rng.chance(10) {
            areas = vec![code(region)];
        }
        let due = today + Duration::days(180 + self.rng.below(540) as i64);
        let body = Body::Pledge(PledgeBody {
            to: self.members[beneficiary].id.clone(),
            category: CategoryCode::parse(CATEGORIES[self.pick(CATEGORIES.len())]).unwrap_or_else(|_| unreachable!()),
            areas,
            amount: Measure::new(value, unit).unwrap_or_else(|_| unreachable!()),
            due: Date(due),
            title: Title::parse("Support to the district health information system").unwrap_or_else(|_| unreachable!()),
            tranches: Vec::new(),
        });
        (pledger, today, body)
    }

    /// The next event, valid against the ledger so far.
    pub fn next_event(&mut self) -> Event {
        loop {
            let (signer, date, body) = self.candidate();
            let m = &self.members[signer];
            let seq = self.state.head.size;
            let event = Event {
                id: EventId(((self.rng.next_u64() as u128) << 64 | self.rng.next_u64() as u128).to_be_bytes()),
                origin: ORIGIN.to_owned(),
                signer: m.id.clone(),
                key: pledger_log::keys::key_id(&m.key.verifying_key()),
                signed_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default(),
                effective: Date(date),
                body,
            };
            let rec = Recorded { seq, recorded_at: Utc::now(), event };
            let Ok(outcome) = decide(&self.state, &rec) else { continue };
            self.state.commit(&outcome);
            self.made += 1;
            self.remember(&rec.event);
            return rec.event;
        }
    }

    fn remember(&mut self, e: &Event) {
        match &e.body {
            Body::Pledge(p) => {
                let id = PledgeId(self.state.head.count(pledger_core::Numbered::Pledge));
                let pledger = self.members.iter().position(|m| m.id == e.signer).unwrap_or(0);
                let beneficiary = self.members.iter().position(|m| m.id == p.to).unwrap_or(0);
                self.open.push(Open { id, pledger, beneficiary, unit: p.amount.unit.clone(), made: e.effective.0 });
            }
            Body::Fulfillment(f) => {
                let id = FulfillmentId(self.state.head.count(pledger_core::Numbered::Fulfillment));
                let beneficiary = self.open.iter().find(|o| o.id == f.pledge).map_or(0, |o| o.beneficiary);
                self.unattested.push((id, beneficiary, e.effective.0));
            }
            _ => {}
        }
        if self.open.len() > 50_000 {
            self.open.drain(..10_000);
        }
    }

    /// A pledge with something left to deliver, dropping exhausted ones from the pool as they
    /// are met; `None` when none is left.
    fn pick_open(&mut self) -> Option<usize> {
        while !self.open.is_empty() {
            let i = self.pick(self.open.len());
            if self.state.pledges.get(&self.open[i].id).is_some_and(|p| p.undelivered() > 0) {
                return Some(i);
            }
            self.open.swap_remove(i);
        }
        None
    }
}

/// Writes `n` signed envelopes, one per line, to `out`; signing runs on every core.
pub fn generate(seed: u64, n: u64, out: &mut impl Write, mut progress: impl FnMut(u64)) -> std::io::Result<Generator> {
    let mut g = Generator::for_events(seed, n);
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(50_000);
        let events: Vec<Event> = (0..chunk).map(|_| g.next_event()).collect();
        let keys: Vec<&SigningKey> =
            events.iter().map(|e| &g.members[e.signer.as_str()[1..].parse::<usize>().unwrap_or(0)].key).collect();
        let lines: Vec<String> =
            events.par_iter().zip(keys.par_iter()).map(|(e, k)| sign_event(e, k).to_json()).collect();
        for l in lines {
            out.write_all(l.as_bytes())?;
            out.write_all(b"\n")?;
        }
        done += chunk;
        progress(done);
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ledger_is_all_valid_and_realistic() {
        let mut buf = Vec::new();
        generate(7, 3000, &mut buf, |_| {}).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let mut state = MemState::new();
        let mut kinds = std::collections::BTreeMap::new();
        for (seq, line) in text.lines().enumerate() {
            let env = pledger_log::Envelope::parse(line.as_bytes()).unwrap();
            let entry = pledger_log::Entry { seq: seq as u64, recorded_at: Utc::now(), envelope: env };
            let (rec, outcome) = pledger_log::check(&state, &entry).unwrap_or_else(|e| panic!("entry {seq}: {e}"));
            state.commit(&outcome);
            *kinds.entry(rec.event.kind().as_str()).or_insert(0) += 1;
        }
        assert_eq!(state.head.size, 3000);
        assert_eq!(state.members.len(), MEMBERS);
        for k in ["pledge", "fulfillment", "attestation", "amendment", "withdrawal"] {
            assert!(kinds.get(k).copied().unwrap_or(0) > 30, "{k}: {kinds:?}");
        }
        // Effective dates spread over years, even in a small ledger.
        let dates: Vec<Date> = text
            .lines()
            .map(|l| {
                let env = pledger_log::Envelope::parse(l.as_bytes()).unwrap();
                Event::parse(&env.payload).unwrap().effective
            })
            .collect();
        let (first, last) = (dates.iter().min().unwrap(), dates.iter().max().unwrap());
        assert!((last.0 - first.0).num_days() > 5 * 365, "{first} to {last}");
        // The same seed gives the same ledger.
        let mut again = Vec::new();
        generate(7, 3000, &mut again, |_| {}).unwrap();
        assert_eq!(text.as_bytes(), &again[..]);
    }
}
