//! The projections of docs/guide.md §3 on a small ledger built by hand; every expected figure is worked
//! out in the comments.

use pledger_core::event::*;
use pledger_core::ids::*;
use pledger_core::projection::*;
use pledger_core::testkit::{attest, fulfill, Actor, HandLedger};
use pledger_core::{Measure, Unit};

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

type L = HandLedger;

trait Add {
    fn add(&mut self, signer: usize, date: &str, body: Body);
}

impl Add for HandLedger {
    fn add(&mut self, signer: usize, date: &str, body: Body) {
        self.ok(signer, date, body);
    }
}

fn xof(v: u64) -> Measure {
    Measure::new(v, Unit::currency("XOF").unwrap()).unwrap()
}
fn laptops(v: u64) -> Measure {
    Measure::new(v, Unit::count("laptops").unwrap()).unwrap()
}
fn pledge(to: &Actor, cat: &str, area: &str, amount: Measure, due: &str) -> Body {
    Body::Pledge(PledgeBody {
        to: to.id.clone(),
        category: CategoryCode::parse(cat).unwrap(),
        areas: vec![AreaCode::parse(area).unwrap()],
        amount,
        due: d(due),
        title: Title::parse("T").unwrap(),
        tranches: Vec::new(),
    })
}
/// m0 government (the beneficiary), m1 auditor, m2 donor, m3 implementer.
/// Areas: ML ⊃ {ML-1, ML-3 ⊃ ML-3-KTL, ML-8, ML-BKO}.
fn ledger() -> L {
    let mut l = HandLedger::new(4, 1);
    let m0 = l.actors[0].clone();
    // P1: m2, XOF 1000, training, Koutiala, made 01-10, due 06-30.
    l.add(2, "2014-01-10", pledge(&m0, "training", "ML-3-KTL", xof(1000), "2014-06-30"));
    // P2: m2, 10 laptops, equipment, Kayes, due 12-31.
    l.add(2, "2014-02-01", pledge(&m0, "equipment", "ML-1", laptops(10), "2014-12-31"));
    // P3: m2, XOF 500, funding, Kidal, due 09-30 — withdrawn entirely on 04-01.
    l.add(2, "2014-03-01", pledge(&m0, "funding", "ML-8", xof(500), "2014-09-30"));
    // P4: m3, XOF 2000, training, Bamako, due 06-30.
    l.add(3, "2014-01-15", pledge(&m0, "training", "ML-BKO", xof(2000), "2014-06-30"));
    // P5: m3, XOF 300, funding, Kayes, due 12-31 — nothing ever delivered.
    l.add(3, "2014-02-01", pledge(&m0, "funding", "ML-1", xof(300), "2014-12-31"));
    l.add(2, "2014-03-01", fulfill(1, xof(600))); // F1
    l.add(0, "2014-03-05", attest(1, Verdict::Confirmed));
    l.add(2, "2014-05-01", fulfill(2, laptops(10))); // F2
    l.add(0, "2014-05-10", attest(2, Verdict::Confirmed));
    l.add(
        2,
        "2014-04-01",
        Body::Withdrawal(WithdrawalBody { pledge: PledgeId(3), amount: None, reason: Note::parse("cut").unwrap() }),
    );
    l.add(3, "2014-05-01", fulfill(4, xof(500))); // F3
    l.add(0, "2014-05-10", attest(3, Verdict::Disputed));
    l.add(2, "2014-08-15", fulfill(1, xof(400))); // F4
    l.add(0, "2014-08-20", attest(4, Verdict::Confirmed));
    l
}

fn statuses(l: &L, h: &Horizon) -> Vec<PledgeStatus> {
    l.state.pledges.values().filter_map(|p| status(p, &l.state.fulfillments, h)).collect()
}

fn state_of(l: &L, p: u64, h: &Horizon) -> (PledgeState, Option<i64>) {
    let s = status(&l.state.pledges[&PledgeId(p)], &l.state.fulfillments, h).unwrap();
    (s.state, s.days_late)
}

#[test]
fn pledge_states_at_the_end() {
    let l = ledger();
    let h = Horizon::head(d("2015-01-31"));
    let all = statuses(&l, &h);
    let p1 = &all[0];
    // F1 600 + F4 400 confirmed = words 1000: fulfilled, met on F4's delivery, 08-15, which is
    // 46 days after the due date of 06-30.
    assert_eq!((p1.words, p1.claimed, p1.confirmed, p1.outstanding), (1000, 1000, 1000, 0));
    assert_eq!((p1.state, p1.met, p1.days_late), (PledgeState::Fulfilled, Some(d("2014-08-15")), Some(46)));
    assert_eq!((all[1].state, all[1].met, all[1].days_late), (PledgeState::Fulfilled, Some(d("2014-05-01")), None));
    assert_eq!((all[2].state, all[2].withdrawn, all[2].outstanding), (PledgeState::Withdrawn, 500, 0));
    // P4: 500 claimed and disputed: disputed, though also past due.
    assert_eq!(
        (all[3].state, all[3].disputed, all[3].confirmed, all[3].outstanding),
        (PledgeState::Disputed, 500, 0, 2000)
    );
    // P5: nothing, due 12-31, judged on 01-31: 31 days overdue.
    assert_eq!((all[4].state, all[4].days_late), (PledgeState::Overdue, Some(31)));
    // The same pledge judged on its due date is open.
    assert_eq!(state_of(&l, 5, &Horizon::head(d("2014-12-31"))), (PledgeState::Open, None));
}

#[test]
fn a_pledges_state_moves_over_time() {
    let l = ledger();
    // 03-02: F1 delivered 03-01, confirmed only on 03-05: claimed, not confirmed → partial.
    let s = status(&l.state.pledges[&PledgeId(1)], &l.state.fulfillments, &Horizon::as_of(d("2014-03-02"))).unwrap();
    assert_eq!((s.state, s.claimed, s.confirmed), (PledgeState::Partial, 600, 0));
    // 07-01: 600 of 1000 confirmed, past 06-30: overdue by one day.
    assert_eq!(state_of(&l, 1, &Horizon::as_of(d("2014-07-01"))), (PledgeState::Overdue, Some(1)));
    // 08-16: F4 delivered, not yet attested: all claimed.
    assert_eq!(state_of(&l, 1, &Horizon::as_of(d("2014-08-16"))).0, PledgeState::Claimed);
    // 08-20: confirmed, and late.
    assert_eq!(state_of(&l, 1, &Horizon::as_of(d("2014-08-20"))), (PledgeState::Fulfilled, Some(46)));
    // P3 before its withdrawal is open; before it was made it does not exist.
    assert_eq!(state_of(&l, 3, &Horizon::as_of(d("2014-03-15"))).0, PledgeState::Open);
    assert!(status(&l.state.pledges[&PledgeId(3)], &l.state.fulfillments, &Horizon::as_of(d("2014-02-28"))).is_none());
    // P4 before the dispute (05-10) was claimed-in-part.
    assert_eq!(state_of(&l, 4, &Horizon::as_of(d("2014-05-05"))).0, PledgeState::Partial);
}

#[test]
fn scorecard_by_hand() {
    let l = ledger();
    let members: Vec<_> = l.state.members.values().cloned().collect();
    let card = scorecard(&statuses(&l, &Horizon::head(d("2015-01-31"))), &members, &[]);
    assert_eq!(card.len(), 2, "only members who pledged");
    let m2 = &card[0];
    assert_eq!(m2.member.as_str(), "m2");
    assert_eq!(m2.pledges, 3);
    // follow-through: P1 1000/1000, P2 10/10, P3 0/500 → (1 + 1 + 0) / 3 = 66.7 %.
    assert_eq!(m2.follow_through_ppm, 666_666);
    assert_eq!(percent(m2.follow_through_ppm), "66.7%");
    assert_eq!(m2.claimed_rate_ppm, 666_666);
    // withdrawn share: (0 + 0 + 500/500) / 3.
    assert_eq!(m2.withdrawn_share_ppm, 333_333);
    // on time: judged = P1 (fulfilled), P2 (fulfilled), P3 (past due); on time = P2 only.
    assert_eq!((m2.judged, m2.on_time, m2.on_time_share_ppm), (3, 1, Some(333_333)));
    // late: P1, 46 days; the median of one.
    assert_eq!((m2.late, m2.median_delay_half_days), (1, Some(92)));
    assert_eq!(m2.overdue, 0);
    let xof = m2.sums.iter().find(|s| s.currency.as_deref() == Some("XOF")).unwrap();
    assert_eq!((xof.words, xof.withdrawn, xof.claimed, xof.confirmed), (1500, 500, 1000, 1000));
    let lap = m2.sums.iter().find(|s| s.unit.as_deref() == Some("laptops")).unwrap();
    assert_eq!((lap.words, lap.confirmed), (10, 10));
    let m3 = &card[1];
    // follow-through 0; claimed rate (500/2000 + 0) / 2 = 12.5 %; both judged, none on time.
    assert_eq!((m3.follow_through_ppm, m3.claimed_rate_ppm), (0, 125_000));
    assert_eq!(percent(m3.claimed_rate_ppm), "12.5%");
    assert_eq!((m3.judged, m3.on_time, m3.on_time_share_ppm, m3.median_delay_half_days), (2, 0, Some(0), None));
    assert_eq!(m3.overdue, 1, "P5; P4 is disputed, which comes first");
    // Asked about a member without pledges, it gets an empty row.
    let card = scorecard(&[], &members, &[l.actors[1].id.clone()]);
    assert_eq!((card.len(), card[0].pledges, card[0].on_time_share_ppm), (1, 0, None));
}

#[test]
fn median_of_an_even_count_is_exact() {
    // Two late pledges of 10 and 15 days: median 12.5 days = 25 half days.
    let mut l = ledger();
    let m0 = l.actors[0].clone();
    l.add(3, "2014-01-01", pledge(&m0, "funding", "ML", xof(10), "2014-02-01"));
    l.add(3, "2014-02-11", fulfill(6, xof(10)));
    l.add(0, "2014-02-12", attest(5, Verdict::Confirmed));
    l.add(3, "2014-01-01", pledge(&m0, "funding", "ML", xof(10), "2014-03-01"));
    l.add(3, "2014-03-16", fulfill(7, xof(10)));
    l.add(1, "2014-03-20", attest(6, Verdict::Confirmed));
    let members: Vec<_> = l.state.members.values().cloned().collect();
    let card = scorecard(&statuses(&l, &Horizon::head(d("2015-01-31"))), &members, &[]);
    let m3 = card.iter().find(|c| c.member.as_str() == "m3").unwrap();
    assert_eq!((m3.late, m3.median_delay_half_days), (2, Some(25)));
    assert_eq!(format_halves(25), "12.5");
    assert_eq!(serde_json::to_value(m3).unwrap()["median_delay_days"], serde_json::json!(12.5));
}

#[test]
fn coverage_rolls_up_the_area_tree() {
    let l = ledger();
    let areas: Vec<_> = l.state.areas.values().cloned().collect();
    let cov = coverage(&statuses(&l, &Horizon::head(d("2015-01-31"))), &areas, None);
    let get = |c: &str| cov.iter().find(|a| a.code.as_str() == c).unwrap();
    let names = |v: &pledger_core::projection::Members| v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",");
    // Tree order: ML, then its regions by code, Koutiala under Sikasso.
    let order: Vec<&str> = cov.iter().map(|a| a.code.as_str()).collect();
    assert_eq!(order, ["ML", "ML-1", "ML-3", "ML-3-KTL", "ML-8", "ML-BKO"]);
    assert_eq!(get("ML-3-KTL").depth, 2);
    // Koutiala: P1 delivered and confirmed. Sikasso is covered through it.
    assert_eq!(get("ML-3-KTL").status, Coverage::Covered);
    assert_eq!((get("ML-3").status, names(&get("ML-3").delivered)), (Coverage::Covered, "m2".into()));
    // Kayes: P2 confirmed (m2) and P5 live (m3).
    assert_eq!((get("ML-1").status, names(&get("ML-1").pledging)), (Coverage::Covered, "m2,m3".into()));
    assert_eq!(get("ML-1").categories.len(), 2);
    // Kidal: the only pledge was withdrawn entirely: a gap.
    assert_eq!((get("ML-8").status, get("ML-8").pledging.len()), (Coverage::Gap, 0));
    // Bamako: P4 live, its delivery disputed: promised.
    assert_eq!(get("ML-BKO").status, Coverage::Promised);
    // Mali rolls up everything.
    assert_eq!(
        (get("ML").status, names(&get("ML").pledging), names(&get("ML").delivered)),
        (Coverage::Covered, "m2,m3".into(), "m2".into())
    );
    // On 03-02 nothing was confirmed yet and P3 was still live: Kidal promised, Koutiala promised.
    let early = coverage(&statuses(&l, &Horizon::as_of(d("2014-03-02"))), &areas, None);
    let get = |c: &str| early.iter().find(|a| a.code.as_str() == c).unwrap().status;
    assert_eq!((get("ML-8"), get("ML-3-KTL"), get("ML")), (Coverage::Promised, Coverage::Promised, Coverage::Promised));
    // Restricted to Sikasso's subtree.
    let sik = coverage(&statuses(&l, &Horizon::head(d("2015-01-31"))), &areas, Some(&AreaCode::parse("ML-3").unwrap()));
    assert_eq!(sik.iter().map(|a| (a.code.as_str(), a.depth)).collect::<Vec<_>>(), [("ML-3", 0), ("ML-3-KTL", 1)]);
}

#[test]
fn timeline_by_hand() {
    let l = ledger();
    let pledges: Vec<_> = l.state.pledges.values().collect();
    let rows = timeline(&pledges, &l.state.fulfillments, &Horizon::head(d("2015-01-31")));
    type Row = (String, u64, u128, u128, u128, u128, u128, u128, u128, u128);
    let xof: Vec<Row> = rows
        .iter()
        .filter(|r| r.currency.as_deref() == Some("XOF"))
        .map(|r| {
            (
                r.month.clone(),
                r.members,
                r.words,
                r.confirmed,
                r.withdrawn,
                r.due,
                r.words_total,
                r.confirmed_total,
                r.withdrawn_total,
                r.due_total,
            )
        })
        .collect();
    assert_eq!(
        xof,
        [
            // January: P1 1000 + P4 2000; m2 and m3 have pledged.
            ("2014-01".into(), 2, 3000, 0, 0, 0, 3000, 0, 0, 0),
            // February: P5 300.
            ("2014-02".into(), 2, 300, 0, 0, 0, 3300, 0, 0, 0),
            // March: P3 500; F1 600 delivered and (later) confirmed.
            ("2014-03".into(), 2, 500, 600, 0, 0, 3800, 600, 0, 0),
            // April: P3 withdrawn. May's F3 is disputed, so May has no XOF row.
            ("2014-04".into(), 2, 0, 0, 500, 0, 3800, 600, 500, 0),
            // June: P1 1000 and P4 2000 fall due.
            ("2014-06".into(), 2, 0, 0, 0, 3000, 3800, 600, 500, 3000),
            // August: F4 400 confirmed.
            ("2014-08".into(), 2, 0, 400, 0, 0, 3800, 1000, 500, 3000),
            // December: P5 300 falls due; P3, withdrawn, nothing.
            ("2014-12".into(), 2, 0, 0, 0, 300, 3800, 1000, 500, 3300),
        ]
    );
    let lap: Vec<(String, u128, u128, u128)> =
        rows.iter().filter(|r| r.unit.is_some()).map(|r| (r.month.clone(), r.words, r.confirmed, r.due)).collect();
    assert_eq!(lap, [("2014-02".into(), 10, 0, 0), ("2014-05".into(), 0, 10, 0), ("2014-12".into(), 0, 0, 10)]);
    // As of 03-04, F1's confirmation (03-05) is not yet known.
    let rows = timeline(&pledges, &l.state.fulfillments, &Horizon::as_of(d("2014-03-04")));
    let march = rows.iter().find(|r| r.month == "2014-03" && r.currency.is_some()).unwrap();
    assert_eq!((march.words, march.confirmed), (500, 0));
}

fn tranched(to: &Actor, amount: Measure, due: &str, tranches: &[(&str, Measure)]) -> Body {
    let Body::Pledge(mut b) = pledge(to, "training", "ML-1", amount, due) else { unreachable!() };
    b.tranches = tranches.iter().map(|(d_, m)| Tranche { due: d(d_), amount: m.clone() }).collect();
    Body::Pledge(b)
}

/// A pledge in tranches is judged tranche by tranche: each is reached when confirmed
/// deliveries, oldest first, add up to it and the tranches before it.
#[test]
fn a_schedule_is_judged_tranche_by_tranche() {
    let mut l = HandLedger::new(4, 1);
    let m0 = l.actors[0].clone();
    // The rules: a schedule in the pledge's unit, in order, within its dates, adding up.
    for (bad, why) in [
        (vec![("2014-03-31", xof(400)), ("2014-09-30", xof(500))], "add up to XOF 900"),
        (vec![("2014-09-30", xof(400)), ("2014-03-31", xof(600))], "is not after the tranche before it"),
        (vec![("2014-03-31", xof(400)), ("2015-03-31", xof(600))], "is not between the pledge's date"),
        (vec![("2013-12-31", xof(400)), ("2014-09-30", xof(600))], "is not between the pledge's date"),
        (vec![("2014-03-31", laptops(400)), ("2014-09-30", xof(600))], "tranche 1: it is in \"laptops\""),
    ] {
        let e = l.try_(2, "2014-01-10", tranched(&m0, xof(1000), "2014-12-31", &bad)).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    // P1: XOF 1,000 due 2014-12-31, in two tranches: 400 by 03-31, 600 by 09-30.
    let p1 = [("2014-03-31", xof(400)), ("2014-09-30", xof(600))];
    l.add(2, "2014-01-10", tranched(&m0, xof(1000), "2014-12-31", &p1));
    l.add(2, "2014-03-15", fulfill(1, xof(400))); // F1, confirmed: the first tranche on time
    l.add(0, "2014-03-20", attest(1, Verdict::Confirmed));
    l.add(2, "2014-10-15", fulfill(1, xof(300))); // F2, confirmed: 700 of the 1,000
    l.add(0, "2014-10-20", attest(2, Verdict::Confirmed));
    let at = |l: &L, eval: &str| {
        status(&l.state.pledges[&PledgeId(1)], &l.state.fulfillments, &Horizon::head(d(eval))).unwrap()
    };
    let s = at(&l, "2014-10-01");
    assert_eq!(s.state, PledgeState::Overdue, "past the second tranche's date with 700 claimed of 1,000");
    assert_eq!(s.days_late, Some(1), "counted from the first tranche overdue");
    let t = &s.tranches;
    assert_eq!((t[0].state, t[0].met, t[0].days_late), (TrancheState::Met, Some(d("2014-03-15")), None));
    assert_eq!((t[1].value, t[1].state, t[1].days_late), (600, TrancheState::Overdue, Some(1)));
    // Before the second tranche's date the pledge is partly delivered, not overdue.
    assert_eq!(at(&l, "2014-09-01").state, PledgeState::Partial);
    // The rest delivered late and confirmed: the second tranche met 2014-11-30, 61 days late.
    l.add(2, "2014-11-30", fulfill(1, xof(300)));
    l.add(0, "2014-12-01", attest(3, Verdict::Confirmed));
    let s = at(&l, "2015-01-31");
    assert_eq!(s.state, PledgeState::Fulfilled);
    assert_eq!((s.tranches[1].met, s.tranches[1].days_late), (Some(d("2014-11-30")), Some(61)));
    // The scorecard judges each tranche: two judged, one on time, one 61 days late.
    let members: Vec<_> = l.state.members.values().cloned().collect();
    let card = scorecard(std::slice::from_ref(&s), &members, &[]);
    let m2 = card.iter().find(|c| c.member == l.actors[2].id).unwrap();
    assert_eq!((m2.judged, m2.on_time, m2.late, m2.median_delay_half_days), (2, 1, 1, Some(122)));
    // An increase falls due with the pledge; a withdrawal takes from the last tranches first.
    l.add(2, "2014-01-10", tranched(&m0, xof(1000), "2014-12-31", &p1)); // P2
    l.add(
        2,
        "2014-02-01",
        Body::Amendment(AmendmentBody {
            pledge: PledgeId(2),
            due: None,
            title: None,
            areas: None,
            increase: Some(xof(500)),
        }),
    );
    l.add(
        2,
        "2014-02-02",
        Body::Withdrawal(WithdrawalBody {
            pledge: PledgeId(2),
            amount: Some(xof(800)),
            reason: Note::parse("cut").unwrap(),
        }),
    );
    let s = status(&l.state.pledges[&PledgeId(2)], &l.state.fulfillments, &Horizon::head(d("2014-06-01"))).unwrap();
    let parts: Vec<(u64, TrancheState)> = s.tranches.iter().map(|t| (t.value, t.state)).collect();
    assert_eq!(parts, [(400, TrancheState::Overdue), (300, TrancheState::Due), (0, TrancheState::Withdrawn)]);
    // A due date amended before a tranche's is refused.
    let e = l
        .try_(
            2,
            "2014-02-03",
            Body::Amendment(AmendmentBody {
                pledge: PledgeId(2),
                due: Some(d("2014-06-30")),
                title: None,
                areas: None,
                increase: None,
            }),
        )
        .unwrap_err();
    assert!(e.to_string().contains("tranche 2: due 2014-09-30 is after the pledge's new due date"), "{e}");
}
