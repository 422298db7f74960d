//! The rules of docs/format.md §3, as one pure function: [`decide`] reads the state an event needs and
//! says what the event changes, or which rule it breaks. Append, replay and audit all call it.

use std::borrow::Cow;

use chrono::Duration;

use crate::error::{Result, RuleError};
use crate::event::{
    AmendmentBody, AttestationBody, Body, Event, FulfillmentBody, Genesis, KeyAdded, KeyRevoked, MemberAdmitted,
    MemberKind, Name, PledgeBody, PublicKey, ReversalBody, WithdrawalBody,
};
use crate::ids::{AreaCode, CategoryCode, KeyId, MemberId, Numbered, PledgeId};
use crate::measure::{Measure, MAX_VALUE};
use crate::state::{
    AmendmentRecord, AreaRecord, Assigned, CategoryRecord, Dated, DeliveryStatus, FulfillmentRecord, KeyRecord,
    MemberRecord, Outcome, PledgeRecord, Record, Recorded, StateView, VerdictRecord, DEFAULT_CATEGORIES,
};

/// How far a signer's claimed signing time may lie after the recording time.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// Most areas one pledge may cover.
pub const MAX_AREAS: usize = 64;
/// Most tranches one pledge may have (ten years of months).
pub const MAX_TRANCHES: usize = 120;

/// The public key that must have signed `event` if it is recorded at `seq`: the genesis key for
/// genesis, else the signer's key named by `event.key`, which must be the signer's and live.
pub fn signing_key<V: StateView + ?Sized>(view: &V, event: &Event, seq: u64) -> Result<PublicKey> {
    if let Body::Genesis(g) = &event.body {
        check_key_id(&event.key, &g.public_key)?;
        return Ok(g.public_key);
    }
    let member = view.member(&event.signer)?.ok_or_else(|| RuleError::UnknownMember(event.signer.clone()))?;
    live_key(&member, &event.key, seq).map(|k| k.public_key)
}

fn live_key<'m>(member: &'m MemberRecord, key: &KeyId, seq: u64) -> Result<&'m KeyRecord> {
    let k = member.key(key).ok_or_else(|| RuleError::KeyNotHeld { key: key.clone(), member: member.id.clone() })?;
    match k.revoked_seq {
        Some(r) if seq > r => Err(RuleError::KeyRevoked { key: key.clone(), member: member.id.clone(), revoked_at: r }),
        _ => Ok(k),
    }
}

fn check_key_id(claimed: &KeyId, key: &PublicKey) -> Result<()> {
    let derived = key.key_id();
    if &derived == claimed {
        Ok(())
    } else {
        Err(RuleError::KeyIdMismatch { claimed: claimed.clone(), derived })
    }
}

/// Decides whether `rec` may be recorded on top of `view`, and what it changes.
/// Pure: the same state and entry always give the same answer. The signature is not checked
/// here; [`signing_key`] names the key it must verify under.
pub fn decide<V: StateView + ?Sized>(view: &V, rec: &Recorded) -> Result<Outcome> {
    let head = view.head();
    let event = &rec.event;
    let seq = rec.seq;
    if seq != head.size {
        return Err(RuleError::State(format!("entry {seq} does not follow the head, of size {}", head.size)));
    }
    if let Some(previous) = head.last_recorded {
        if rec.recorded_at < previous {
            return Err(RuleError::RecordedBackwards { recorded_at: rec.recorded_at, previous });
        }
    }
    if event.signed_at > rec.recorded_at + Duration::seconds(MAX_CLOCK_SKEW_SECS) {
        return Err(RuleError::SignedInFuture { signed_at: event.signed_at, recorded_at: rec.recorded_at });
    }
    let mut out = match (seq, &event.body) {
        (0, Body::Genesis(g)) => genesis(view, rec, g)?,
        (0, body) => return Err(RuleError::FirstNotGenesis { kind: body.kind().as_str() }),
        (_, Body::Genesis(_)) => return Err(RuleError::GenesisNotFirst { seq }),
        (_, body) => {
            if event.origin != head.origin {
                return Err(RuleError::WrongOrigin { expected: head.origin.clone(), found: event.origin.clone() });
            }
            if let Some(at) = view.event_seq(&event.id)? {
                return Err(RuleError::DuplicateEvent { id: event.id, seq: at });
            }
            let signer = view.member(&event.signer)?.ok_or_else(|| RuleError::UnknownMember(event.signer.clone()))?;
            live_key(&signer, &event.key, seq)?;
            let cx = Cx { view, rec, signer };
            match body {
                Body::Genesis(_) => unreachable!("handled above"),
                Body::MemberAdmitted(b) => cx.member_admitted(b)?,
                Body::KeyAdded(b) => cx.key_added(b)?,
                Body::KeyRevoked(b) => cx.key_revoked(b)?,
                Body::AreaDefined(b) => cx.area_defined(b)?,
                Body::CategoryDefined(b) => cx.category_defined(&b.code, &b.name)?,
                Body::Pledge(b) => cx.pledge(b)?,
                Body::Amendment(b) => cx.amendment(b)?,
                Body::Fulfillment(b) => cx.fulfillment(b)?,
                Body::Attestation(b) => cx.attestation(b)?,
                Body::Withdrawal(b) => cx.withdrawal(b)?,
                Body::Reversal(b) => cx.reversal(b)?,
                Body::IatiOrgAdded(b) => cx.iati_org_added(b)?,
            }
        }
    };
    out.records.push(Record::EventId(event.id, seq));
    out.head.size = seq + 1;
    out.head.last_recorded = Some(rec.recorded_at);
    Ok(out)
}

fn genesis<V: StateView + ?Sized>(view: &V, rec: &Recorded, g: &Genesis) -> Result<Outcome> {
    let event = &rec.event;
    check_key_id(&event.key, &g.public_key)?;
    if event.signer != g.member {
        return Err(RuleError::Malformed(format!("genesis is signed by {} but admits {}", event.signer, g.member)));
    }
    let mut out = Outcome::new(view.head(), Assigned::Ledger(event.origin.clone()));
    out.head.origin = event.origin.clone();
    out.head.members = 1;
    out.head.live_convener_keys = 1;
    out.head.log_key = Some(g.log_key);
    let mut keys = vec![KeyRecord { id: event.key.clone(), public_key: g.public_key, added_seq: 0, revoked_seq: None }];
    out.records.push(Record::KeyHolder(event.key.clone(), g.member.clone()));
    if g.log_key != g.public_key {
        let id = g.log_key.key_id();
        keys.push(KeyRecord { id: id.clone(), public_key: g.log_key, added_seq: 0, revoked_seq: None });
        out.records.push(Record::KeyHolder(id, g.member.clone()));
        out.head.live_convener_keys += 1;
    }
    out.records.push(Record::Member(MemberRecord {
        id: g.member.clone(),
        name: g.name.clone(),
        kind: g.kind,
        convener: true,
        admitted_seq: 0,
        keys,
        iati_orgs: Vec::new(),
    }));
    for (code, name) in DEFAULT_CATEGORIES {
        out.head.categories += 1;
        out.records.push(Record::Category(CategoryRecord {
            code: CategoryCode::parse(code)?,
            name: Name::parse(name)?,
            seq: 0,
        }));
    }
    Ok(out)
}

/// What every handler needs: the state, the entry, and the signer's record.
struct Cx<'a, V: StateView + ?Sized> {
    view: &'a V,
    rec: &'a Recorded,
    signer: Cow<'a, MemberRecord>,
}

impl<'a, V: StateView + ?Sized> Cx<'a, V> {
    fn seq(&self) -> u64 {
        self.rec.seq
    }

    fn outcome(&self, assigned: Assigned) -> Outcome {
        Outcome::new(self.view.head(), assigned)
    }

    fn require_convener(&self, action: &'static str) -> Result<()> {
        if self.signer.convener {
            Ok(())
        } else {
            Err(RuleError::NotConvener { member: self.signer.id.clone(), action })
        }
    }

    fn member(&self, id: &MemberId) -> Result<Cow<'a, MemberRecord>> {
        self.view.member(id)?.ok_or_else(|| RuleError::UnknownMember(id.clone()))
    }

    fn new_key(&self, key: &PublicKey) -> Result<KeyId> {
        let id = key.key_id();
        if self.view.key_holder(&id)?.is_some() {
            return Err(RuleError::DuplicateKey(id));
        }
        Ok(id)
    }

    fn member_admitted(&self, b: &MemberAdmitted) -> Result<Outcome> {
        self.require_convener("admits members")?;
        if self.view.member(&b.member)?.is_some() {
            return Err(RuleError::MemberExists(b.member.clone()));
        }
        let key = self.new_key(&b.public_key)?;
        let mut out = self.outcome(Assigned::Member(b.member.clone()));
        for (i, org) in b.iati_orgs.iter().enumerate() {
            if b.iati_orgs[..i].contains(org) {
                return Err(RuleError::Malformed(format!("IATI organisation {org} is listed twice")));
            }
            self.free_iati_org(org)?;
            out.records.push(Record::IatiOrg(org.clone(), b.member.clone()));
        }
        out.head.members += 1;
        if b.convener {
            out.head.live_convener_keys += 1;
        }
        out.records.push(Record::Member(MemberRecord {
            id: b.member.clone(),
            name: b.name.clone(),
            kind: b.kind,
            convener: b.convener,
            admitted_seq: self.seq(),
            keys: vec![KeyRecord {
                id: key.clone(),
                public_key: b.public_key,
                added_seq: self.seq(),
                revoked_seq: None,
            }],
            iati_orgs: b.iati_orgs.clone(),
        }));
        out.records.push(Record::KeyHolder(key, b.member.clone()));
        Ok(out)
    }

    fn key_manager(&self, member: &MemberId) -> Result<MemberRecord> {
        let target = self.member(member)?;
        if target.id != self.signer.id && !self.signer.convener {
            return Err(RuleError::NotKeyManager { signer: self.signer.id.clone(), member: member.clone() });
        }
        Ok(target.into_owned())
    }

    fn key_added(&self, b: &KeyAdded) -> Result<Outcome> {
        let mut target = self.key_manager(&b.member)?;
        let key = self.new_key(&b.public_key)?;
        let mut out = self.outcome(Assigned::Key(key.clone()));
        if b.log {
            self.require_convener("names the log key")?;
            if !target.convener {
                return Err(RuleError::LogKeyHolder(target.id));
            }
            out.head.log_key = Some(b.public_key);
        }
        if target.convener {
            out.head.live_convener_keys += 1;
        }
        target.keys.push(KeyRecord {
            id: key.clone(),
            public_key: b.public_key,
            added_seq: self.seq(),
            revoked_seq: None,
        });
        out.records.push(Record::Member(target));
        out.records.push(Record::KeyHolder(key, b.member.clone()));
        Ok(out)
    }

    fn key_revoked(&self, b: &KeyRevoked) -> Result<Outcome> {
        let mut target = self.key_manager(&b.member)?;
        let seq = self.seq();
        let mut out = self.outcome(Assigned::Key(b.key.clone()));
        let key = target
            .keys
            .iter_mut()
            .find(|k| k.id == b.key)
            .ok_or_else(|| RuleError::KeyNotHeld { key: b.key.clone(), member: b.member.clone() })?;
        if key.revoked_seq.is_some() {
            return Err(RuleError::KeyAlreadyRevoked { key: b.key.clone(), member: b.member.clone() });
        }
        key.revoked_seq = Some(seq);
        let public_key = key.public_key;
        if target.convener {
            if out.head.live_convener_keys <= 1 {
                return Err(RuleError::LastConvenerKey(b.key.clone()));
            }
            out.head.live_convener_keys -= 1;
        }
        if out.head.log_key == Some(public_key) {
            return Err(RuleError::LogKeyRevoked(b.key.clone()));
        }
        out.records.push(Record::Member(target));
        Ok(out)
    }

    fn area_defined(&self, b: &crate::event::AreaDefined) -> Result<Outcome> {
        self.require_convener("defines areas")?;
        if self.view.area(&b.code)?.is_some() {
            return Err(RuleError::AreaExists(b.code.clone()));
        }
        if let Some(parent) = &b.parent {
            let p = self.view.area(parent)?.ok_or_else(|| RuleError::UnknownArea(parent.clone()))?;
            if p.level >= b.level {
                return Err(RuleError::AreaLevel {
                    code: b.code.clone(),
                    level: b.level.as_str(),
                    parent: parent.clone(),
                    parent_level: p.level.as_str(),
                });
            }
        }
        let mut out = self.outcome(Assigned::Area(b.code.clone()));
        out.head.areas += 1;
        out.records.push(Record::Area(AreaRecord {
            code: b.code.clone(),
            name: b.name.clone(),
            level: b.level,
            parent: b.parent.clone(),
            seq: self.seq(),
        }));
        Ok(out)
    }

    fn category_defined(&self, code: &CategoryCode, name: &Name) -> Result<Outcome> {
        self.require_convener("defines categories")?;
        if self.view.category(code)?.is_some() {
            return Err(RuleError::CategoryExists(code.clone()));
        }
        let mut out = self.outcome(Assigned::Category(code.clone()));
        out.head.categories += 1;
        out.records.push(Record::Category(CategoryRecord { code: code.clone(), name: name.clone(), seq: self.seq() }));
        Ok(out)
    }

    /// The areas, checked, with their codes as the area records hold them (shared, not copied).
    fn check_areas(&self, areas: &[AreaCode]) -> Result<Vec<AreaCode>> {
        if areas.is_empty() || areas.len() > MAX_AREAS {
            return Err(RuleError::Malformed(format!("a pledge covers 1 to {MAX_AREAS} areas, not {}", areas.len())));
        }
        let mut known = Vec::with_capacity(areas.len());
        for (i, a) in areas.iter().enumerate() {
            if areas[..i].contains(a) {
                return Err(RuleError::Malformed(format!("area {a} is listed twice")));
            }
            let area = self.view.area(a)?.ok_or_else(|| RuleError::UnknownArea(a.clone()))?;
            known.push(area.code.clone());
        }
        Ok(known)
    }

    fn pledge(&self, b: &PledgeBody) -> Result<Outcome> {
        if b.to == self.signer.id {
            return Err(RuleError::PledgeToSelf(b.to.clone()));
        }
        // Ids and codes as the state's records hold them: a pledge kept by the hundred thousand
        // then shares them instead of holding copies parsed from its event.
        let beneficiary = self.member(&b.to)?.id.clone();
        let category = match self.view.category(&b.category)? {
            Some(c) => c.code.clone(),
            None => return Err(RuleError::UnknownCategory(b.category.clone())),
        };
        let areas: std::sync::Arc<[AreaCode]> = self.check_areas(&b.areas)?.into();
        let tranches = self.check_tranches(b)?;
        let mut out = self.outcome(Assigned::Ledger(String::new()));
        let n = out.number(Numbered::Pledge, self.seq());
        out.records.push(Record::Pledge(PledgeRecord {
            id: PledgeId(n),
            seq: self.seq(),
            pledger: self.signer.id.clone(),
            beneficiary,
            category,
            areas: areas.clone(),
            unit: b.amount.unit.clone(),
            original: b.amount.value,
            increased: 0,
            withdrawn: 0,
            claimed: 0,
            confirmed: 0,
            disputed: 0,
            due: b.due,
            title: b.title.clone(),
            made: self.rec.event.effective,
            fulfillments: Vec::new(),
            first_due: b.due,
            first_title: b.title.clone(),
            first_areas: areas,
            amendments: Vec::new(),
            withdrawals: Vec::new(),
            events: vec![self.seq()],
            tranches,
        }));
        Ok(out)
    }

    /// A pledge's schedule: tranches in its unit, due on distinct dates in order, between the
    /// pledge's date and its due date, adding up to its amount.
    fn check_tranches(&self, b: &PledgeBody) -> Result<Vec<crate::state::TrancheRecord>> {
        if b.tranches.len() > MAX_TRANCHES {
            return Err(RuleError::Malformed(format!(
                "a pledge has at most {MAX_TRANCHES} tranches, not {}",
                b.tranches.len()
            )));
        }
        let made = self.rec.event.effective;
        let mut sum = 0u64;
        let mut out = Vec::with_capacity(b.tranches.len());
        for (i, t) in b.tranches.iter().enumerate() {
            let bad = |why: String| RuleError::Tranche { n: i + 1, why };
            if t.amount.unit != b.amount.unit {
                return Err(bad(format!(
                    "it is in {} but the pledge in {}",
                    describe_unit(&t.amount.unit),
                    describe_unit(&b.amount.unit)
                )));
            }
            if let Some(before) = out.last().map(|r: &crate::state::TrancheRecord| r.due) {
                if t.due <= before {
                    return Err(bad(format!("due {} is not after the tranche before it ({before})", t.due)));
                }
            }
            if t.due < made || t.due > b.due {
                return Err(bad(format!(
                    "due {} is not between the pledge's date ({made}) and its due date ({})",
                    t.due, b.due
                )));
            }
            sum = sum.checked_add(t.amount.value).ok_or_else(|| RuleError::Overflow("the tranches' sum".into()))?;
            out.push(crate::state::TrancheRecord { due: t.due, value: t.amount.value });
        }
        if !out.is_empty() && sum != b.amount.value {
            return Err(RuleError::Malformed(format!(
                "the tranches add up to {}, not the pledge's {}",
                b.amount.unit.format(sum),
                b.amount
            )));
        }
        Ok(out)
    }

    /// The pledge `id`, which the signer made and has not fully withdrawn.
    fn own_live_pledge(&self, id: PledgeId, action: &'static str, what: &'static str) -> Result<PledgeRecord> {
        let p = self.own_pledge(id, action, what)?;
        if p.fully_withdrawn() {
            return Err(RuleError::PledgeWithdrawn(id));
        }
        Ok(p)
    }

    /// The pledge `id`, which the signer made, dated no later than this event.
    fn own_pledge(&self, id: PledgeId, action: &'static str, what: &'static str) -> Result<PledgeRecord> {
        let p = self.view.pledge(id)?.ok_or(RuleError::UnknownPledge(id))?;
        if p.pledger != self.signer.id {
            return Err(RuleError::NotPledger {
                member: self.signer.id.clone(),
                pledge: id,
                pledger: p.pledger.clone(),
                action,
            });
        }
        let date = self.rec.event.effective;
        if date < p.made {
            return Err(RuleError::DateOrder { what, date: date.0, of: format!("pledge {id}"), of_date: p.made.0 });
        }
        Ok(p.into_owned())
    }

    fn same_unit(&self, p: &PledgeRecord, m: &Measure, what: &'static str) -> Result<()> {
        if m.unit == p.unit {
            Ok(())
        } else {
            Err(RuleError::MeasureMismatch {
                what,
                pledge: p.id,
                expected: describe_unit(&p.unit),
                found: describe_unit(&m.unit),
            })
        }
    }

    fn amendment(&self, b: &AmendmentBody) -> Result<Outcome> {
        let mut p = self.own_live_pledge(b.pledge, "amends it", "amendment")?;
        if b.due.is_none() && b.title.is_none() && b.areas.is_none() && b.increase.is_none() {
            return Err(RuleError::EmptyAmendment);
        }
        let areas = b.areas.as_deref().map(|a| self.check_areas(a)).transpose()?;
        if let Some(areas) = &areas {
            p.areas = areas.as_slice().into();
        }
        if let Some(inc) = &b.increase {
            self.same_unit(&p, inc, "the increase")?;
            p.increased = p
                .increased
                .checked_add(inc.value)
                .filter(|i| p.original + i <= MAX_VALUE)
                .ok_or_else(|| RuleError::Overflow(format!("pledge {} with this increase", p.id)))?;
        }
        if let Some(due) = b.due {
            if let Some(last) = p.tranches.last().filter(|t| t.due > due) {
                return Err(RuleError::Tranche {
                    n: p.tranches.len(),
                    why: format!("due {} is after the pledge's new due date {due}", last.due),
                });
            }
            p.due = due;
        }
        if let Some(title) = &b.title {
            p.title = title.clone();
        }
        grow(
            &mut p.amendments,
            AmendmentRecord {
                seq: self.seq(),
                date: self.rec.event.effective,
                due: b.due,
                title: b.title.clone(),
                areas,
                increase: b.increase.as_ref().map(|m| m.value),
            },
        );
        grow(&mut p.events, self.seq());
        let mut out = self.outcome(Assigned::Ledger(String::new()));
        out.number(Numbered::Amendment, self.seq());
        out.records.push(Record::Pledge(p));
        Ok(out)
    }

    fn fulfillment(&self, b: &FulfillmentBody) -> Result<Outcome> {
        // A delivery beyond the words may land on a withdrawn pledge: the money went anyway.
        let mut p = if b.beyond {
            self.own_pledge(b.pledge, "fulfills it", "fulfillment")?
        } else {
            self.own_live_pledge(b.pledge, "fulfills it", "fulfillment")?
        };
        self.same_unit(&p, &b.amount, "the fulfillment")?;
        let available = p.undelivered();
        if b.beyond && b.amount.value <= available {
            return Err(RuleError::NotBeyond {
                pledge: p.id,
                asked: b.amount.to_string(),
                available: p.unit.format(available),
            });
        }
        if !b.beyond && b.amount.value > available {
            return Err(RuleError::FulfillmentExceedsOutstanding {
                pledge: p.id,
                asked: b.amount.to_string(),
                available: p.unit.format(available),
            });
        }
        let mut out = self.outcome(Assigned::Ledger(String::new()));
        let n = out.number(Numbered::Fulfillment, self.seq());
        let id = crate::ids::FulfillmentId(n);
        p.claimed = p.claimed.checked_add(b.amount.value).filter(|c| *c <= MAX_VALUE).ok_or_else(|| {
            RuleError::Overflow(format!("what pledge {} claims delivered with this fulfillment", p.id))
        })?;
        grow(&mut p.fulfillments, id);
        grow(&mut p.events, self.seq());
        out.records.push(Record::Fulfillment(FulfillmentRecord {
            id,
            seq: self.seq(),
            pledge: p.id,
            value: b.amount.value,
            delivered: self.rec.event.effective,
            evidence: b.evidence.clone(),
            note: b.note.clone(),
            verdicts: Vec::new(),
            reversals: Vec::new(),
        }));
        out.records.push(Record::Pledge(p));
        Ok(out)
    }

    fn attestation(&self, b: &AttestationBody) -> Result<Outcome> {
        let f = self.view.fulfillment(b.fulfillment)?.ok_or(RuleError::UnknownFulfillment(b.fulfillment))?;
        let p = self
            .view
            .pledge(f.pledge)?
            .ok_or_else(|| RuleError::State(format!("fulfillment {} names missing pledge {}", f.id, f.pledge)))?;
        let me = &self.signer.id;
        if &p.pledger == me {
            return Err(RuleError::SelfAttestation { member: me.clone(), pledge: p.id, fulfillment: f.id });
        }
        if &p.beneficiary != me && self.signer.kind != MemberKind::Auditor {
            return Err(RuleError::NotAttester {
                member: me.clone(),
                fulfillment: f.id,
                beneficiary: p.beneficiary.clone(),
            });
        }
        let date = self.rec.event.effective;
        if date < f.delivered {
            return Err(RuleError::DateOrder {
                what: "attestation",
                date: date.0,
                of: format!("fulfillment {}", f.id),
                of_date: f.delivered.0,
            });
        }
        let (mut f, mut p) = (f.into_owned(), p.into_owned());
        let before = f.status();
        grow(&mut f.verdicts, VerdictRecord { attester: me.clone(), verdict: b.verdict, seq: self.seq(), date });
        grow(&mut p.events, self.seq());
        let after = f.status();
        tally(&mut p, before, f.value, false);
        tally(&mut p, after, f.value, true);
        let mut out = self.outcome(Assigned::Ledger(String::new()));
        out.number(Numbered::Attestation, self.seq());
        out.records.push(Record::Fulfillment(f));
        out.records.push(Record::Pledge(p));
        Ok(out)
    }

    fn withdrawal(&self, b: &WithdrawalBody) -> Result<Outcome> {
        let mut p = self.own_live_pledge(b.pledge, "withdraws it", "withdrawal")?;
        let available = p.undelivered();
        let value = match &b.amount {
            Some(m) => {
                self.same_unit(&p, m, "the withdrawal")?;
                if m.value > available {
                    return Err(RuleError::WithdrawalExceedsUndelivered {
                        pledge: p.id,
                        asked: m.to_string(),
                        available: p.unit.format(available),
                    });
                }
                m.value
            }
            None if available == 0 => return Err(RuleError::NothingToWithdraw(p.id)),
            None => available,
        };
        p.withdrawn += value;
        grow(&mut p.withdrawals, Dated { seq: self.seq(), date: self.rec.event.effective, value });
        grow(&mut p.events, self.seq());
        let mut out = self.outcome(Assigned::Ledger(String::new()));
        out.number(Numbered::Withdrawal, self.seq());
        out.records.push(Record::Pledge(p));
        Ok(out)
    }
}

impl<'a, V: StateView + ?Sized> Cx<'a, V> {
    /// An IATI organisation identifier no member holds yet: one publisher, one member.
    fn free_iati_org(&self, org: &crate::event::OrgRef) -> Result<()> {
        match self.view.iati_org_holder(org)? {
            Some(holder) => Err(RuleError::IatiOrgHeld { org: org.to_string(), member: holder }),
            None => Ok(()),
        }
    }

    fn iati_org_added(&self, b: &crate::event::IatiOrgAdded) -> Result<Outcome> {
        self.require_convener("registers IATI organisations")?;
        let mut target = self.member(&b.member)?.into_owned();
        self.free_iati_org(&b.iati_org)?;
        let mut out = self.outcome(Assigned::Member(b.member.clone()));
        grow(&mut target.iati_orgs, b.iati_org.clone());
        out.records.push(Record::Member(target));
        out.records.push(Record::IatiOrg(b.iati_org.clone(), b.member.clone()));
        Ok(out)
    }

    fn reversal(&self, b: &ReversalBody) -> Result<Outcome> {
        let f = self.view.fulfillment(b.fulfillment)?.ok_or(RuleError::UnknownFulfillment(b.fulfillment))?;
        let mut p = self.own_pledge(f.pledge, "reverses its fulfillments", "reversal")?;
        let date = self.rec.event.effective;
        if date < f.delivered {
            return Err(RuleError::DateOrder {
                what: "reversal",
                date: date.0,
                of: format!("fulfillment {}", f.id),
                of_date: f.delivered.0,
            });
        }
        self.same_unit(&p, &b.amount, "the reversal")?;
        if b.amount.value > f.value {
            return Err(RuleError::ReversalExceedsFulfillment {
                fulfillment: f.id,
                asked: b.amount.to_string(),
                available: p.unit.format(f.value),
            });
        }
        let mut f = f.into_owned();
        let status = f.status();
        tally(&mut p, status, f.value, false);
        f.value -= b.amount.value;
        tally(&mut p, status, f.value, true);
        p.claimed -= b.amount.value;
        grow(&mut f.reversals, Dated { seq: self.seq(), date, value: b.amount.value });
        grow(&mut p.events, self.seq());
        let mut out = self.outcome(Assigned::Short(crate::ids::ShortId::new(Numbered::Fulfillment, f.id.0)));
        out.records.push(Record::Fulfillment(f));
        out.records.push(Record::Pledge(p));
        Ok(out)
    }
}

/// Appends `item` to a record's list, growing it by one: the rules copy a record (its lists at
/// their exact length) at every event that changes it, and a state keeps hundreds of thousands
/// of them — a doubled list would leave up to three quarters of it unused.
fn grow<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

/// Adds (or removes) a fulfillment's value to the pledge total its status counts toward.
fn tally(p: &mut PledgeRecord, status: DeliveryStatus, value: u64, add: bool) {
    let slot = match status {
        DeliveryStatus::Claimed => return,
        DeliveryStatus::Confirmed => &mut p.confirmed,
        DeliveryStatus::Disputed => &mut p.disputed,
    };
    *slot = if add { *slot + value } else { slot.saturating_sub(value) };
}

fn describe_unit(u: &crate::measure::Unit) -> String {
    match u {
        crate::measure::Unit::Currency(c) => c.clone(),
        crate::measure::Unit::Count(unit) => format!("{unit:?}"),
    }
}
