//! Each rule of docs/format.md §3, accepting what it should and refusing what it must, on small ledgers
//! built by hand.

use chrono::Duration;
use pledger_core::event::*;
use pledger_core::ids::*;
use pledger_core::state::MemState;
use pledger_core::testkit::{attest, fake_key, fulfill, time, Actor, HandLedger};
use pledger_core::{Measure, Recorded, RuleError, Unit};

trait Pledging {
    fn pledge(&mut self, by: usize, to: usize, amount: Measure) -> String;
}

impl Pledging for HandLedger {
    fn pledge(&mut self, by: usize, to: usize, amount: Measure) -> String {
        let to = self.actors[to].id.clone();
        self.ok(by, "2014-03-01", pledge_body(to, amount))
    }
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
fn xof(v: u64) -> Measure {
    Measure::new(v, Unit::currency("XOF").unwrap()).unwrap()
}
fn laptops(v: u64) -> Measure {
    Measure::new(v, Unit::count("laptops").unwrap()).unwrap()
}

fn pledge_body(to: MemberId, amount: Measure) -> Body {
    Body::Pledge(PledgeBody {
        to,
        category: CategoryCode::parse("equipment").unwrap(),
        areas: vec![AreaCode::parse("ML-3").unwrap()],
        amount,
        due: d("2014-12-31"),
        title: Title::parse("Laptops").unwrap(),
        tranches: Vec::new(),
    })
}

fn withdraw(p: u64, amount: Option<Measure>) -> Body {
    Body::Withdrawal(WithdrawalBody { pledge: PledgeId(p), amount, reason: Note::parse("cut").unwrap() })
}

#[test]
fn ids_are_numbered_per_kind_in_log_order() {
    let mut l = HandLedger::new(5, 7);
    assert_eq!(l.pledge(2, 0, xof(100)), "P-000001");
    assert_eq!(l.pledge(3, 0, laptops(10)), "P-000002");
    assert_eq!(l.ok(2, "2014-04-01", fulfill(1, xof(40))), "F-000001");
    assert_eq!(l.ok(0, "2014-04-02", attest(1, Verdict::Confirmed)), "A-000001");
    assert_eq!(l.ok(2, "2014-04-03", withdraw(1, Some(xof(10)))), "W-000001");
}

#[test]
fn genesis_only_first() {
    let mut l = HandLedger::new(5, 7);
    let a = l.actors[0].clone();
    let e = l.try_(
        0,
        "2014-01-01",
        Body::Genesis(Genesis {
            member: a.id,
            name: Name::parse("Again").unwrap(),
            kind: a.kind,
            public_key: a.key,
            log_key: a.key,
        }),
    );
    assert!(matches!(e, Err(RuleError::GenesisNotFirst { .. })), "{e:?}");
    let mut fresh = MemState::new();
    let ev = l.event(2, "2014-01-01", pledge_body(l.actors[0].id.clone(), xof(1)));
    let e = fresh.apply(&Recorded { seq: 0, recorded_at: time(0), event: ev });
    assert!(matches!(e, Err(RuleError::FirstNotGenesis { .. })), "{e:?}");
}

#[test]
fn only_conveners_admit_and_define() {
    let mut l = HandLedger::new(5, 7);
    let body = Body::MemberAdmitted(MemberAdmitted {
        member: MemberId::parse("newcomer").unwrap(),
        name: Name::parse("New").unwrap(),
        kind: MemberKind::Other,
        convener: false,
        public_key: fake_key(99),
        iati_orgs: Vec::new(),
    });
    assert!(matches!(l.try_(2, "2014-01-01", body.clone()), Err(RuleError::NotConvener { .. })));
    assert_eq!(l.ok(0, "2014-01-01", body.clone()), "newcomer");
    assert!(matches!(l.try_(0, "2014-01-01", body), Err(RuleError::MemberExists(_))));
    let area = Body::AreaDefined(AreaDefined {
        code: AreaCode::parse("ML-2").unwrap(),
        name: Name::parse("Koulikoro").unwrap(),
        level: Level::Region,
        parent: Some(AreaCode::parse("ML").unwrap()),
    });
    assert!(matches!(l.try_(3, "2014-01-01", area.clone()), Err(RuleError::NotConvener { .. })));
    assert_eq!(l.ok(0, "2014-01-01", area), "ML-2");
    let bad_level = Body::AreaDefined(AreaDefined {
        code: AreaCode::parse("ML-X").unwrap(),
        name: Name::parse("X").unwrap(),
        level: Level::Region,
        parent: Some(AreaCode::parse("ML-3-KTL").unwrap()),
    });
    assert!(matches!(l.try_(0, "2014-01-01", bad_level), Err(RuleError::AreaLevel { .. })));
    let cat = Body::CategoryDefined(CategoryDefined {
        code: CategoryCode::parse("dhis2").unwrap(),
        name: Name::parse("DHIS 2").unwrap(),
    });
    assert!(matches!(l.try_(2, "2014-01-01", cat.clone()), Err(RuleError::NotConvener { .. })));
    assert_eq!(l.ok(0, "2014-01-01", cat.clone()), "dhis2");
    assert!(matches!(l.try_(0, "2014-01-01", cat), Err(RuleError::CategoryExists(_))));
}

#[test]
fn keys_sign_only_for_their_member_and_not_after_revocation() {
    let mut l = HandLedger::new(5, 7);
    // m2 signing with m3's key.
    let mut e = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(5)));
    e.key = l.actors[3].key.key_id();
    assert!(matches!(l.try_event(e), Err(RuleError::KeyNotHeld { .. })));
    // An unknown signer.
    let mut e = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(5)));
    e.signer = MemberId::parse("ghost").unwrap();
    assert!(matches!(l.try_event(e), Err(RuleError::UnknownMember(_))));
    // m2 adds a second key, then revokes its first; the first signs nothing more.
    let second = fake_key(42);
    l.ok(2, "2014-03-01", Body::KeyAdded(KeyAdded { member: l.actors[2].id.clone(), public_key: second, log: false }));
    let first = l.actors[2].key.key_id();
    let revoke = Body::KeyRevoked(KeyRevoked { member: l.actors[2].id.clone(), key: first.clone(), reason: None });
    // Another non-convener may not revoke m2's key.
    assert!(matches!(l.try_(3, "2014-03-01", revoke.clone()), Err(RuleError::NotKeyManager { .. })));
    l.ok(2, "2014-03-01", revoke.clone());
    assert!(matches!(l.try_(2, "2014-03-01", revoke), Err(RuleError::KeyRevoked { .. })));
    let e = l.try_(2, "2014-03-02", pledge_body(l.actors[0].id.clone(), xof(5)));
    assert!(matches!(e, Err(RuleError::KeyRevoked { .. })), "{e:?}");
    // With the new key it signs again.
    let mut e = l.event(2, "2014-03-02", pledge_body(l.actors[0].id.clone(), xof(5)));
    e.key = second.key_id();
    assert_eq!(l.try_event(e).unwrap(), "P-000001");
    // A key already registered cannot be added again, to anyone.
    let dup = Body::KeyAdded(KeyAdded { member: l.actors[3].id.clone(), public_key: second, log: false });
    assert!(matches!(l.try_(0, "2014-03-02", dup), Err(RuleError::DuplicateKey(_))));
}

#[test]
fn the_last_convener_key_is_never_revoked() {
    let mut l = HandLedger::new(5, 7);
    let k = l.actors[0].key.key_id();
    let e =
        l.try_(0, "2014-01-01", Body::KeyRevoked(KeyRevoked { member: l.actors[0].id.clone(), key: k, reason: None }));
    assert!(matches!(e, Err(RuleError::LastConvenerKey(_))), "{e:?}");
}

#[test]
fn only_the_pledger_amends_fulfills_withdraws() {
    let mut l = HandLedger::new(5, 7);
    l.pledge(2, 0, xof(100));
    for body in [
        fulfill(1, xof(10)),
        withdraw(1, None),
        Body::Amendment(AmendmentBody {
            pledge: PledgeId(1),
            due: Some(d("2015-01-01")),
            title: None,
            areas: None,
            increase: None,
        }),
    ] {
        let e = l.try_(3, "2014-04-01", body);
        assert!(matches!(e, Err(RuleError::NotPledger { .. })), "{e:?}");
    }
    assert!(matches!(l.try_(2, "2014-04-01", fulfill(9, xof(1))), Err(RuleError::UnknownPledge(_))));
    let e = l.try_(
        2,
        "2014-04-01",
        Body::Amendment(AmendmentBody { pledge: PledgeId(1), due: None, title: None, areas: None, increase: None }),
    );
    assert!(matches!(e, Err(RuleError::EmptyAmendment)));
}

#[test]
fn attestation_by_beneficiary_or_auditor_never_the_pledger() {
    let mut l = HandLedger::new(5, 7);
    l.pledge(2, 0, xof(100));
    l.ok(2, "2014-04-01", fulfill(1, xof(60)));
    assert!(matches!(l.try_(2, "2014-04-02", attest(1, Verdict::Confirmed)), Err(RuleError::SelfAttestation { .. })));
    assert!(matches!(l.try_(3, "2014-04-02", attest(1, Verdict::Confirmed)), Err(RuleError::NotAttester { .. })));
    assert!(matches!(l.try_(0, "2014-04-02", attest(7, Verdict::Confirmed)), Err(RuleError::UnknownFulfillment(_))));
    // Before the delivery date: refused.
    assert!(matches!(l.try_(0, "2014-03-31", attest(1, Verdict::Confirmed)), Err(RuleError::DateOrder { .. })));
    l.ok(0, "2014-04-02", attest(1, Verdict::Confirmed));
    assert_eq!(l.state.pledges[&PledgeId(1)].confirmed, 60);
    // The auditor disputes: the delivery counts as disputed, not confirmed.
    l.ok(1, "2014-05-01", attest(1, Verdict::Disputed));
    let p = &l.state.pledges[&PledgeId(1)];
    assert_eq!((p.confirmed, p.disputed), (0, 60));
    // The auditor changes its mind: its later verdict supersedes the earlier one.
    l.ok(1, "2014-06-01", attest(1, Verdict::Confirmed));
    let p = &l.state.pledges[&PledgeId(1)];
    assert_eq!((p.confirmed, p.disputed), (60, 0));
    let f = &l.state.fulfillments[&FulfillmentId(1)];
    assert_eq!(
        (f.verdicts.len(), f.current_verdicts(None).len()),
        (3, 2),
        "history kept, one current verdict per attester"
    );
    // As of before the dispute, the delivery stood confirmed.
    assert_eq!(f.status_as_of(Some(d("2014-04-30"))), pledger_core::state::DeliveryStatus::Confirmed);
    assert_eq!(f.status_as_of(Some(d("2014-05-15"))), pledger_core::state::DeliveryStatus::Disputed);
}

#[test]
fn amounts_units_and_withdrawals() {
    let mut l = HandLedger::new(5, 7);
    l.pledge(2, 0, laptops(40));
    let e = l.try_(2, "2014-04-01", fulfill(1, xof(10)));
    assert!(matches!(e, Err(RuleError::MeasureMismatch { .. })), "{e:?}");
    assert!(matches!(
        l.try_(2, "2014-04-01", fulfill(1, laptops(41))),
        Err(RuleError::FulfillmentExceedsOutstanding { .. })
    ));
    l.ok(2, "2014-04-01", fulfill(1, laptops(25)));
    // 15 remain neither claimed nor withdrawn.
    let e = l.try_(2, "2014-05-01", withdraw(1, Some(laptops(16))));
    assert!(matches!(e, Err(RuleError::WithdrawalExceedsUndelivered { .. })), "{e:?}");
    l.ok(2, "2014-05-01", withdraw(1, Some(laptops(5))));
    // Withdrawing "the rest" takes the remaining 10.
    l.ok(2, "2014-05-02", withdraw(1, None));
    assert_eq!(l.state.pledges[&PledgeId(1)].withdrawn, 15);
    assert!(matches!(l.try_(2, "2014-05-03", withdraw(1, None)), Err(RuleError::NothingToWithdraw(_))));
    // An increase reopens the pledge; a decrease does not exist.
    l.ok(
        2,
        "2014-06-01",
        Body::Amendment(AmendmentBody {
            pledge: PledgeId(1),
            due: None,
            title: None,
            areas: None,
            increase: Some(laptops(10)),
        }),
    );
    l.ok(2, "2014-06-02", fulfill(1, laptops(10)));
    // A fully withdrawn pledge takes nothing more.
    l.pledge(2, 0, xof(100));
    l.ok(2, "2014-06-03", withdraw(2, None));
    for body in [
        fulfill(2, xof(1)),
        withdraw(2, None),
        Body::Amendment(AmendmentBody {
            pledge: PledgeId(2),
            due: None,
            title: None,
            areas: None,
            increase: Some(xof(5)),
        }),
    ] {
        assert!(matches!(l.try_(2, "2014-06-04", body), Err(RuleError::PledgeWithdrawn(_))));
    }
    // Sums stay below 2^53.
    l.pledge(2, 0, xof(pledger_core::measure::MAX_VALUE - 1));
    let e = l.try_(
        2,
        "2014-06-05",
        Body::Amendment(AmendmentBody {
            pledge: PledgeId(3),
            due: None,
            title: None,
            areas: None,
            increase: Some(xof(2)),
        }),
    );
    assert!(matches!(e, Err(RuleError::Overflow(_))), "{e:?}");
}

#[test]
fn references_must_exist_and_pledges_are_to_others() {
    let mut l = HandLedger::new(5, 7);
    let ghost = MemberId::parse("ghost").unwrap();
    assert!(matches!(l.try_(2, "2014-03-01", pledge_body(ghost, xof(1))), Err(RuleError::UnknownMember(_))));
    let me = l.actors[2].id.clone();
    assert!(matches!(l.try_(2, "2014-03-01", pledge_body(me, xof(1))), Err(RuleError::PledgeToSelf(_))));
    let mut b = pledge_body(l.actors[0].id.clone(), xof(1));
    if let Body::Pledge(p) = &mut b {
        p.areas = vec![AreaCode::parse("ML-9").unwrap()];
    }
    assert!(matches!(l.try_(2, "2014-03-01", b), Err(RuleError::UnknownArea(_))));
    let mut b = pledge_body(l.actors[0].id.clone(), xof(1));
    if let Body::Pledge(p) = &mut b {
        p.category = CategoryCode::parse("sorcery").unwrap();
    }
    assert!(matches!(l.try_(2, "2014-03-01", b), Err(RuleError::UnknownCategory(_))));
    let mut b = pledge_body(l.actors[0].id.clone(), xof(1));
    if let Body::Pledge(p) = &mut b {
        p.areas = vec![AreaCode::parse("ML-3").unwrap(), AreaCode::parse("ML-3").unwrap()];
    }
    assert!(matches!(l.try_(2, "2014-03-01", b), Err(RuleError::Malformed(_))));
}

#[test]
fn duplicates_foreign_origins_and_clocks() {
    let mut l = HandLedger::new(5, 7);
    let e = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(1)));
    l.try_event(e.clone()).unwrap();
    assert!(matches!(l.try_event(e.clone()), Err(RuleError::DuplicateEvent { .. })));
    let mut foreign = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(1)));
    foreign.origin = "another.ledger/x".into();
    assert!(matches!(l.try_event(foreign), Err(RuleError::WrongOrigin { .. })));
    // Signed 6 minutes after the recording time: refused; 4 minutes: accepted.
    let mut future = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(1)));
    future.signed_at = time(l.clock) + Duration::minutes(6);
    assert!(matches!(l.try_event(future), Err(RuleError::SignedInFuture { .. })));
    let mut near = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(1)));
    near.signed_at = time(l.clock) + Duration::minutes(4);
    assert!(l.try_event(near).is_ok());
    // The log never records backwards in time.
    let e = l.event(2, "2014-03-01", pledge_body(l.actors[0].id.clone(), xof(1)));
    let rec = Recorded { seq: l.state.head.size, recorded_at: time(0), event: e };
    assert!(matches!(l.state.apply(&rec), Err(RuleError::RecordedBackwards { .. })));
}

#[test]
fn the_log_key_is_named_by_genesis_and_rotated_by_a_convener() {
    let mut l = HandLedger::new(5, 7);
    assert_eq!(l.state.head.log_key, Some(l.actors[0].key));
    let new_log = fake_key(77);
    let rotate =
        |member: &Actor| Body::KeyAdded(KeyAdded { member: member.id.clone(), public_key: new_log, log: true });
    // Not on a non-convener, not by a non-convener.
    let m2 = l.actors[2].clone();
    assert!(matches!(l.try_(0, "2015-01-01", rotate(&m2)), Err(RuleError::LogKeyHolder(_))));
    assert!(matches!(l.try_(2, "2015-01-01", rotate(&m2)), Err(RuleError::NotConvener { .. })));
    // The current log key cannot be revoked, even with other convener keys live.
    l.ok(
        0,
        "2015-01-01",
        Body::KeyAdded(KeyAdded { member: l.actors[0].id.clone(), public_key: fake_key(78), log: false }),
    );
    let revoke_first =
        Body::KeyRevoked(KeyRevoked { member: l.actors[0].id.clone(), key: l.actors[0].key.key_id(), reason: None });
    assert!(matches!(l.try_(0, "2015-01-01", revoke_first.clone()), Err(RuleError::LogKeyRevoked(_))));
    let m0 = l.actors[0].clone();
    l.ok(0, "2015-01-01", rotate(&m0));
    assert_eq!(l.state.head.log_key, Some(new_log));
    // Once replaced, the old one may go.
    l.ok(0, "2015-01-02", revoke_first);
}

/// The record a pledge event makes, as `decide` returns it (before anything clones it).
fn decided_pledge(l: &mut HandLedger, signer: usize, date: &str, body: Body) -> pledger_core::state::PledgeRecord {
    let event = l.event(signer, date, body);
    let rec = Recorded { seq: l.state.head.size, recorded_at: time(l.clock), event };
    let mut outcome = pledger_core::decide(&l.state, &rec).expect("accepted");
    l.state.commit(&outcome);
    l.clock += 1;
    // Moved out, not cloned: a clone would have lists exactly as long as they are.
    let at = outcome.records.iter().position(|r| matches!(r, pledger_core::state::Record::Pledge(_)));
    match outcome.records.swap_remove(at.expect("the event writes its pledge")) {
        pledger_core::state::Record::Pledge(p) => p,
        _ => unreachable!(),
    }
}

/// A state holds hundreds of thousands of pledges: each shares its ids and codes with the
/// state's records, and its lists hold no room they do not use (docs/architecture.md).
#[test]
fn a_pledge_shares_its_ids_with_the_state_and_its_lists_grow_by_one() {
    let mut l = HandLedger::new(5, 7);
    // The event's own ids, parsed anew: equal to the state's, not the same text.
    let to = MemberId::parse(l.actors[0].id.as_str()).unwrap();
    let p = decided_pledge(&mut l, 2, "2014-03-01", pledge_body(to.clone(), xof(100)));
    let same = |a: &str, b: &str| std::ptr::eq(a.as_ptr(), b.as_ptr());
    assert!(same(p.beneficiary.as_str(), l.state.members[&to].id.as_str()), "beneficiary shared");
    let category = CategoryCode::parse("equipment").unwrap();
    assert!(same(p.category.as_str(), l.state.categories[&category].code.as_str()), "category shared");
    let area = AreaCode::parse("ML-3").unwrap();
    assert!(same(p.areas[0].as_str(), l.state.areas[&area].code.as_str()), "area shared");
    // Each event that changes the pledge adds one element to its lists, no more room.
    l.ok(2, "2014-04-01", fulfill(1, xof(40)));
    l.ok(0, "2014-04-02", attest(1, Verdict::Confirmed));
    let p = decided_pledge(&mut l, 2, "2014-05-01", withdraw(1, Some(xof(10))));
    assert_eq!(p.events.len(), 4);
    assert_eq!(p.events.capacity(), p.events.len(), "history");
    assert_eq!(p.withdrawals.capacity(), 1, "withdrawals");
}

fn beyond(p: u64, amount: Measure) -> Body {
    Body::Fulfillment(FulfillmentBody { pledge: PledgeId(p), amount, beyond: true, evidence: None, note: None })
}

fn reverse(f: u64, amount: Measure) -> Body {
    Body::Reversal(ReversalBody { fulfillment: FulfillmentId(f), amount, reason: Note::parse("refund").unwrap() })
}

#[test]
fn a_delivery_beyond_the_words_is_declared_and_recorded_as_such() {
    let mut l = HandLedger::new(5, 7);
    l.pledge(2, 0, xof(100));
    // Marked beyond while the pledge still has room: refused, the mark must be true.
    let e = l.try_(2, "2014-04-01", beyond(1, xof(100)));
    assert!(matches!(e, Err(RuleError::NotBeyond { .. })), "{e:?}");
    l.ok(2, "2014-04-01", fulfill(1, xof(70)));
    // Unmarked, more than remains is refused as before.
    assert!(matches!(
        l.try_(2, "2014-04-02", fulfill(1, xof(31))),
        Err(RuleError::FulfillmentExceedsOutstanding { .. })
    ));
    l.ok(2, "2014-04-02", beyond(1, xof(50)));
    let p = &l.state.pledges[&PledgeId(1)];
    assert_eq!((p.claimed, p.undelivered(), p.beyond()), (120, 0, 20));
    // A withdrawn pledge takes a delivery only beyond its words.
    l.pledge(2, 0, xof(10));
    l.ok(2, "2014-05-01", withdraw(2, None));
    assert!(matches!(l.try_(2, "2014-05-02", fulfill(2, xof(5))), Err(RuleError::PledgeWithdrawn(_))));
    l.ok(2, "2014-05-02", beyond(2, xof(5)));
    assert_eq!(l.state.pledges[&PledgeId(2)].beyond(), 5);
    // Only the pledger, and never before the pledge.
    assert!(matches!(l.try_(3, "2014-05-03", beyond(1, xof(1))), Err(RuleError::NotPledger { .. })));
    assert!(matches!(l.try_(2, "2014-02-01", beyond(1, xof(1))), Err(RuleError::DateOrder { .. })));
}

#[test]
fn a_reversal_takes_back_part_of_a_fulfillment_and_keeps_its_history() {
    let mut l = HandLedger::new(5, 7);
    l.pledge(2, 0, xof(100));
    l.ok(2, "2014-04-01", fulfill(1, xof(60)));
    l.ok(0, "2014-04-02", attest(1, Verdict::Confirmed));
    // Only the pledger, in the pledge's unit, never more than the fulfillment counts for, never
    // dated before the delivery.
    assert!(matches!(l.try_(0, "2014-05-01", reverse(1, xof(10))), Err(RuleError::NotPledger { .. })));
    assert!(matches!(l.try_(2, "2014-05-01", reverse(1, laptops(1))), Err(RuleError::MeasureMismatch { .. })));
    assert!(matches!(l.try_(2, "2014-05-01", reverse(1, xof(61))), Err(RuleError::ReversalExceedsFulfillment { .. })));
    assert!(matches!(l.try_(2, "2014-03-31", reverse(1, xof(1))), Err(RuleError::DateOrder { .. })));
    assert!(matches!(l.try_(2, "2014-05-01", reverse(9, xof(1))), Err(RuleError::UnknownFulfillment(_))));
    assert_eq!(l.ok(2, "2014-05-01", reverse(1, xof(15))), "F-000001");
    let p = &l.state.pledges[&PledgeId(1)];
    assert_eq!((p.claimed, p.confirmed, p.undelivered()), (45, 45, 55), "a confirmed delivery counts for less");
    let f = &l.state.fulfillments[&FulfillmentId(1)];
    assert_eq!((f.value, f.reversals.len()), (45, 1));
    // Known now, as of a date before the reversal the delivery counted in full.
    assert_eq!(f.value_as_of(Some(d("2014-04-30"))), 60);
    assert_eq!(f.value_as_of(Some(d("2014-05-01"))), 45);
    assert_eq!(f.value_as_of(None), 45);
    // What the reversal freed may be delivered again; all of it may be reversed.
    l.ok(2, "2014-05-02", fulfill(1, xof(55)));
    l.ok(2, "2014-05-03", reverse(1, xof(45)));
    assert_eq!(l.state.pledges[&PledgeId(1)].claimed, 55);
    assert!(matches!(l.try_(2, "2014-05-04", reverse(1, xof(1))), Err(RuleError::ReversalExceedsFulfillment { .. })));
}
