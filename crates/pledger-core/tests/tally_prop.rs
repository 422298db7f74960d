//! Property tests of the running tallies: kept up entry by entry, they equal the tallies of the
//! final state, and the scorecard and coverage read from them equal those computed from every
//! pledge's status, whatever date they are judged on.

use std::collections::{BTreeMap, BTreeSet};

use pledger_core::projection::{
    self, ratio_ppm, unit_fields, AreaCoverage, CategoryCell, Coverage, Horizon, MemberScore, MonthRow, PledgeState,
    PledgeStatus, TrancheState, UnitSums,
};
use pledger_core::state::{AreaRecord, DeliveryStatus, Fulfillments, MemState, MemberRecord, PledgeRecord, Record};
use pledger_core::tally::{Facts, Tallies};
use pledger_core::testkit::{cast, fake_key, hurried, ledger, recorded};
use pledger_core::{AreaCode, CategoryCode, Date, MemberId, PledgeId, Unit};
use proptest::prelude::*;

/// The facts of one pledge at the head of `s`.
fn facts(s: &MemState, id: PledgeId) -> Option<Facts> {
    s.pledges.get(&id).and_then(|p| Facts::at_head(p, &s.fulfillments))
}

fn statuses(s: &MemState, eval: Date) -> Vec<PledgeStatus> {
    s.pledges.values().filter_map(|p| projection::status(p, &s.fulfillments, &Horizon::head(eval))).collect()
}

// The scorecard and coverage as first written, pledge by pledge, before the tallies: the oracle.
/// The median of whole numbers, in halves.
fn median_halves(values: &mut [i64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let halves = if n % 2 == 1 { 2 * values[n / 2] } else { values[n / 2 - 1] + values[n / 2] };
    Some(halves.max(0) as u64)
}

/// The scorecard as first written, pledge by pledge: the oracle. One row per member with pledges (and per member in `always`, even without).
fn naive_scorecard(statuses: &[PledgeStatus], members: &[MemberRecord], always: &[MemberId]) -> Vec<MemberScore> {
    let mut by_member: BTreeMap<&MemberId, Vec<&PledgeStatus>> = BTreeMap::new();
    for s in statuses {
        by_member.entry(&s.pledger).or_default().push(s);
    }
    let mut out = Vec::new();
    for m in members {
        let mine = by_member.remove(&m.id).unwrap_or_default();
        if mine.is_empty() && !always.contains(&m.id) {
            continue;
        }
        let n = mine.len() as u64;
        let mean =
            |f: &dyn Fn(&PledgeStatus) -> u64| mine.iter().map(|s| f(s)).sum::<u64>().checked_div(n).unwrap_or(0);
        // What is judged for timeliness: a pledge by its due date, or each tranche of its
        // schedule (not withdrawn) by its own: (met, met on time, days late if met, overdue, past due).
        let judgments: Vec<(bool, bool, Option<i64>, bool, bool)> = mine
            .iter()
            .flat_map(|s| -> Vec<(bool, bool, Option<i64>, bool, bool)> {
                if s.tranches.is_empty() {
                    let met = s.state == PledgeState::Fulfilled;
                    let on_time = met && s.met.is_some_and(|d| d <= s.due);
                    vec![(
                        met,
                        on_time,
                        if met { s.days_late } else { None },
                        s.state == PledgeState::Overdue,
                        s.past_due,
                    )]
                } else {
                    s.tranches
                        .iter()
                        .filter(|t| t.state != TrancheState::Withdrawn)
                        .map(|t| {
                            let met = t.state == TrancheState::Met;
                            let on_time = met && t.met.is_some_and(|d| d <= t.due);
                            (
                                met,
                                on_time,
                                if met { t.days_late } else { None },
                                t.state == TrancheState::Overdue,
                                t.past_due,
                            )
                        })
                        .collect()
                }
            })
            .collect();
        let judged: Vec<_> = judgments.iter().filter(|j| j.0 || j.4).collect();
        let on_time = judgments.iter().filter(|j| j.1).count() as u64;
        let mut delays: Vec<i64> = judgments.iter().filter_map(|j| j.2).collect();
        let late = delays.len() as u64;
        let median = median_halves(&mut delays);
        let mut sums: BTreeMap<Unit, UnitSums> = BTreeMap::new();
        for s in &mine {
            let e = sums.entry(s.measure()).or_insert_with(|| {
                let (currency, unit) = unit_fields(&s.measure());
                UnitSums { currency, unit, ..UnitSums::default() }
            });
            e.words += u128::from(s.words);
            e.withdrawn += u128::from(s.withdrawn);
            e.claimed += u128::from(s.claimed);
            e.confirmed += u128::from(s.confirmed);
        }
        out.push(MemberScore {
            member: m.id.clone(),
            name: m.name.clone(),
            kind: m.kind,
            pledges: n,
            follow_through_ppm: mean(&|s| ratio_ppm(s.confirmed, s.words)),
            claimed_rate_ppm: mean(&|s| ratio_ppm(s.claimed, s.words)),
            withdrawn_share_ppm: mean(&|s| ratio_ppm(s.withdrawn, s.words)),
            judged: judged.len() as u64,
            on_time,
            on_time_share_ppm: (!judged.is_empty()).then(|| ratio_ppm(on_time, judged.len() as u64)),
            late,
            median_delay_half_days: median,
            overdue: judgments.iter().filter(|j| j.3).count() as u64,
            sums: sums.into_values().collect(),
        });
    }
    out
}

/// The coverage matrix: per area (rolled up the area tree) and category, who pledges and who
/// delivered, and whether the area is covered, promised or a gap.
fn naive_coverage(statuses: &[PledgeStatus], areas: &[AreaRecord], root: Option<&AreaCode>) -> Vec<AreaCoverage> {
    // Direct cells: area → category → (pledging, delivered).
    type Cell = (BTreeSet<MemberId>, BTreeSet<MemberId>);
    let mut direct: BTreeMap<&AreaCode, BTreeMap<&CategoryCode, Cell>> = BTreeMap::new();
    for s in statuses {
        let live = s.words > s.withdrawn;
        let delivered = s.confirmed > 0;
        if !live && !delivered {
            continue;
        }
        for a in &s.areas {
            let cell = direct.entry(a).or_default().entry(&s.category).or_default();
            if live {
                cell.0.insert(s.pledger.clone());
            }
            if delivered {
                cell.1.insert(s.pledger.clone());
            }
        }
    }
    let shown: Option<BTreeSet<AreaCode>> = root.map(|r| projection::subtree(areas, r));
    let mut out = Vec::new();
    for (a, depth) in projection::area_tree(areas) {
        if shown.as_ref().is_some_and(|s| !s.contains(&a.code)) {
            continue;
        }
        let below = projection::subtree(areas, &a.code);
        let mut cats: BTreeMap<&CategoryCode, Cell> = BTreeMap::new();
        for code in &below {
            if let Some(cells) = direct.get(code) {
                for (cat, (p, d)) in cells {
                    let e = cats.entry(cat).or_default();
                    e.0.extend(p.iter().cloned());
                    e.1.extend(d.iter().cloned());
                }
            }
        }
        let status_of = |p: &BTreeSet<MemberId>, d: &BTreeSet<MemberId>| {
            if !d.is_empty() {
                Coverage::Covered
            } else if !p.is_empty() {
                Coverage::Promised
            } else {
                Coverage::Gap
            }
        };
        let mut pledging = BTreeSet::new();
        let mut delivered = BTreeSet::new();
        let categories: Vec<CategoryCell> = cats
            .into_iter()
            .map(|(cat, (p, d))| {
                pledging.extend(p.iter().cloned());
                delivered.extend(d.iter().cloned());
                CategoryCell {
                    category: cat.clone(),
                    status: status_of(&p, &d),
                    pledging: p.into_iter().collect(),
                    delivered: d.into_iter().collect(),
                }
            })
            .collect();
        out.push(AreaCoverage {
            code: a.code.clone(),
            name: a.name.clone(),
            level: a.level,
            parent: a.parent.clone(),
            depth: shown
                .as_ref()
                .map_or(depth, |_| depth.saturating_sub(root.map_or(0, |r| projection_depth_of(areas, r)))),
            status: status_of(&pledging, &delivered),
            pledging: pledging.into_iter().collect(),
            delivered: delivered.into_iter().collect(),
            categories,
        });
    }
    out
}

fn projection_depth_of(areas: &[AreaRecord], code: &AreaCode) -> usize {
    projection::area_tree(areas).into_iter().find(|(a, _)| &a.code == code).map_or(0, |(_, d)| d)
}

/// The timeline, month by month (by effective dates), per unit: rows for the months in which
/// something happened in that unit, with running totals.
fn naive_timeline(pledges: &[&PledgeRecord], fulfillments: &Fulfillments, h: &Horizon) -> Vec<MonthRow> {
    // (unit, month) → (words, confirmed, withdrawn, due)
    let mut cells: BTreeMap<(&Unit, String), (u128, u128, u128, u128)> = BTreeMap::new();
    let mut first_pledge: BTreeMap<&MemberId, String> = BTreeMap::new();
    for p in pledges.iter().filter(|p| h.sees(p.made)) {
        let f = first_pledge.entry(&p.pledger).or_insert_with(|| month_of(p.made));
        if month_of(p.made) < *f {
            *f = month_of(p.made);
        }
        cells.entry((&p.unit, month_of(p.made))).or_default().0 += u128::from(p.original);
        for a in p.amendments.iter().filter(|a| h.sees(a.date)) {
            if let Some(inc) = a.increase {
                cells.entry((&p.unit, month_of(a.date))).or_default().0 += u128::from(inc);
            }
        }
        for w in p.withdrawals.iter().filter(|w| h.sees(w.date)) {
            cells.entry((&p.unit, month_of(w.date))).or_default().2 += u128::from(w.value);
        }
        for f in p.fulfillments.iter().filter_map(|id| fulfillments.get(id)).filter(|f| h.sees(f.delivered)) {
            if f.status_as_of(h.as_of) == DeliveryStatus::Confirmed {
                cells.entry((&p.unit, month_of(f.delivered))).or_default().1 += u128::from(f.value_as_of(h.as_of));
            }
        }
        // What falls due: the words less withdrawals at the due date, or each tranche's part.
        let s = projection::status(p, fulfillments, h).expect("made by the horizon");
        if s.tranches.is_empty() {
            if s.words > s.withdrawn {
                cells.entry((&p.unit, month_of(s.due))).or_default().3 += u128::from(s.words - s.withdrawn);
            }
        } else {
            for t in &s.tranches {
                if t.value > 0 {
                    cells.entry((&p.unit, month_of(t.due))).or_default().3 += u128::from(t.value);
                }
            }
        }
    }
    let firsts: Vec<&String> = first_pledge.values().collect();
    let mut out = Vec::new();
    let mut totals: BTreeMap<&Unit, (u128, u128, u128, u128)> = BTreeMap::new();
    for ((unit, m), (w, c, x, due)) in cells {
        let t = totals.entry(unit).or_default();
        t.0 += w;
        t.1 += c;
        t.2 += x;
        t.3 += due;
        let (currency, u) = unit_fields(unit);
        out.push(MonthRow {
            members: firsts.iter().filter(|f| f.as_str() <= m.as_str()).count() as u64,
            month: m,
            currency,
            unit: u,
            words: w,
            confirmed: c,
            withdrawn: x,
            due,
            words_total: t.0,
            confirmed_total: t.1,
            withdrawn_total: t.2,
            due_total: t.3,
        });
    }
    out.sort_by(|a, b| a.month.cmp(&b.month).then(a.measure().cmp(&b.measure())));
    out
}

fn month_of(d: Date) -> String {
    d.0.format("%Y-%m").to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// At the head a pledge's status takes its sums from the pledge's running totals and reads
    /// its fulfillments only for the date a fulfilled pledge was met: the same status as summing
    /// every fulfillment, whatever date it is judged on.
    #[test]
    fn head_statuses_from_running_totals_equal_those_summed_from_the_fulfillments(seed in any::<u64>(), n in 1usize..300) {
        let actors = cast(5, fake_key);
        let mut state = MemState::new();
        let events = if seed % 2 == 0 { hurried(&actors, ledger(&actors, seed, n)) } else { ledger(&actors, seed, n) };
        for (i, event) in events.into_iter().enumerate() {
            let _ = state.apply(&recorded(state.head.size, i as u64, event));
        }
        let lean: Fulfillments = state
            .pledges
            .values()
            .filter(|p| projection::reads_fulfillments_at_head(p))
            .flat_map(|p| p.fulfillments.iter().map(|id| (*id, state.fulfillments[id].clone())))
            .collect();
        let dues: BTreeSet<Date> = state.pledges.values().map(|p| p.due).collect();
        let end_of_time = Date::parse("2999-12-31").unwrap();
        for eval in dues.iter().step_by(4).copied().chain([Date::parse("2990-01-01").unwrap()]) {
            // Everything known, summed delivery by delivery: a horizon that sees every date.
            let summed = Horizon { as_of: Some(end_of_time), eval };
            for p in state.pledges.values() {
                let want = projection::status(p, &state.fulfillments, &summed);
                prop_assert_eq!(&projection::status(p, &state.fulfillments, &Horizon::head(eval)), &want, "{} on {}", p.id, eval);
                prop_assert_eq!(&projection::status(p, &lean, &Horizon::head(eval)), &want, "{} on {}, lean", p.id, eval);
            }
        }
    }

    #[test]
    fn incremental_tallies_equal_the_full_projections(seed in any::<u64>(), n in 1usize..300, members in 3usize..8) {
        let actors = cast(members, fake_key);
        let mut state = MemState::new();
        let mut tallies = Tallies::default();
        let events = if seed % 2 == 0 { hurried(&actors, ledger(&actors, seed, n)) } else { ledger(&actors, seed, n) };
        for (i, event) in events.into_iter().enumerate() {
            let rec = recorded(state.head.size, i as u64, event);
            let Ok(outcome) = pledger_core::decide(&state, &rec) else { continue };
            // The pledges an entry touches, as the store finds them.
            let touched: BTreeSet<PledgeId> = outcome
                .records
                .iter()
                .filter_map(|r| match r {
                    Record::Pledge(p) => Some(p.id),
                    Record::Fulfillment(f) => Some(f.pledge),
                    _ => None,
                })
                .collect();
            let before: BTreeMap<PledgeId, Option<Facts>> = touched.iter().map(|id| (*id, facts(&state, *id))).collect();
            state.commit(&outcome);
            for (id, old) in before {
                if let Some(old) = old {
                    tallies.remove(&old);
                }
                if let Some(new) = facts(&state, id) {
                    tallies.add(&new);
                }
            }
        }
        prop_assert_eq!(&tallies, &Tallies::of_state(&state));
        // The pledges split by pledger, counted apart and joined (as verify and rebuild count
        // them on two cores): the same tallies, wherever the split falls.
        let ids: Vec<&MemberId> = state.members.keys().collect();
        for cut in [0, ids.len() / 3, ids.len() / 2, ids.len()] {
            let (a, b): (Vec<&PledgeRecord>, Vec<&PledgeRecord>) =
                state.pledges.values().partition(|p| ids[..cut].contains(&&p.pledger));
            let joined = Tallies::of_pledges(a, &state.fulfillments).join(Tallies::of_pledges(b, &state.fulfillments));
            prop_assert_eq!(&joined, &tallies, "split at member {}", cut);
        }
        let members: Vec<_> = state.members.values().cloned().collect();
        let areas: Vec<_> = state.areas.values().cloned().collect();
        let dues: BTreeSet<Date> = state.pledges.values().map(|p| p.due).collect();
        // Before every due date, on it, after it, and far from all of them.
        let mut evals: Vec<Date> = dues.iter().flat_map(|d| [d.0.pred_opt(), Some(d.0), d.0.succ_opt()]).flatten().map(Date).collect();
        evals.extend([Date::parse("1990-01-01").unwrap(), Date::parse("2990-01-01").unwrap()]);
        for eval in evals.into_iter().step_by(3) {
            let st = statuses(&state, eval);
            let naive = naive_scorecard(&st, &members, &[]);
            prop_assert_eq!(&projection::scorecard(&st, &members, &[]), &naive, "scorecard judged on {}", eval);
            let tallied = projection::scorecard_of(&tallies.members, &tallies.due_from(eval), &members, &[]);
            prop_assert_eq!(&tallied, &naive, "tallied scorecard judged on {}", eval);
        }
        let pledges: Vec<&PledgeRecord> = state.pledges.values().collect();
        for h in [Horizon::head(Date::parse("2990-01-01").unwrap())].into_iter().chain(dues.iter().step_by(5).map(|d| Horizon::as_of(*d))) {
            let naive = naive_timeline(&pledges, &state.fulfillments, &h);
            prop_assert_eq!(&projection::timeline(&pledges, &state.fulfillments, &h), &naive, "timeline at {:?}", h);
        }
        let naive = naive_timeline(&pledges, &state.fulfillments, &Horizon::head(Date::parse("2990-01-01").unwrap()));
        prop_assert_eq!(&projection::timeline_of(&tallies.months, &tallies.first), &naive, "tallied timeline");
        let st = statuses(&state, Date::parse("2990-01-01").unwrap());
        for root in std::iter::once(None).chain(areas.iter().map(|a| Some(&a.code))) {
            let naive = naive_coverage(&st, &areas, root);
            prop_assert_eq!(&projection::coverage(&st, &areas, root), &naive);
            prop_assert_eq!(&projection::coverage_of(&tallies.cell_members(), &areas, root), &naive);
        }
    }
}
