//! The running totals of the scorecard, the coverage matrix and the timeline (docs/guide.md §3:
//! projections are maintained incrementally, not replayed per query).
//!
//! Each pledge contributes its [`Facts`] — its figures at the head, without what depends on the
//! date they are judged on — to tallies per member, per (due date, member), per (area, category,
//! member), per month, and to each member's first pledge month. When an entry changes a pledge,
//! its old facts are removed and its new ones added; the store writes the tallies it touched with
//! the entry. A scorecard then reads the member tallies and the due dates on or after its
//! evaluation date (whatever was due before is past due) instead of every pledge; coverage reads
//! each cell's members; the timeline its months. The same tallies, built from every pledge at a
//! horizon, are how [`crate::projection`] computes these projections for `--at` and `--as-of`:
//! one definition of every figure, whichever way the totals came.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::Date;
use crate::ids::{AreaCode, CategoryCode, MemberId};
use crate::measure::{Total, Unit};
use crate::projection::{self, Horizon, PledgeState, PledgeStatus, TrancheState};
use crate::state::{Fulfillments, MemState, PledgeRecord};

/// What one pledge contributes to the tallies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Who pledged.
    pub pledger: MemberId,
    /// What is pledged.
    pub category: CategoryCode,
    /// Where.
    pub areas: Vec<AreaCode>,
    /// Its unit.
    pub measure: Unit,
    /// What was pledged: the original amount plus increases.
    pub words: u64,
    /// What was withdrawn.
    pub withdrawn: u64,
    /// What is claimed delivered.
    pub claimed: u64,
    /// What is confirmed delivered.
    pub confirmed: u64,
    /// What timeliness is judged on: the pledge, or each tranche of its schedule.
    pub judgments: Vec<Judgment>,
    /// Its part in the timeline, where it counts there.
    pub timeline: Option<MonthFacts>,
}

/// One thing judged for timeliness: a pledge by its due date, or one tranche of a schedule by
/// its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgment {
    /// When it is due.
    pub due: Date,
    /// Confirmed deliveries reached it.
    pub settled: bool,
    /// Not settled and not all claimed: overdue once its due date is past.
    pub open: bool,
    /// Days between the due date and the date it was met, when met late.
    pub late_days: Option<u64>,
    /// Met by its due date.
    pub on_time: bool,
}

/// What one pledge adds to the timeline's months.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthFacts {
    /// The month it was made, `YYYY-MM`.
    pub made: String,
    /// Words, confirmed deliveries and withdrawals by the month they happened.
    pub months: BTreeMap<String, MonthSums>,
}

/// Sums of one unit in one month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthSums {
    /// Words added: pledges made and increases.
    pub words: Total,
    /// Deliveries made that month that are confirmed.
    pub confirmed: Total,
    /// Withdrawals taking effect that month.
    pub withdrawn: Total,
    /// Words falling due that month: a pledge's words less withdrawals in its due month, or each
    /// tranche of a schedule in its own.
    pub due: Total,
}

impl MonthSums {
    /// Adds `by` to these sums, or takes it away (see [`bump`]).
    fn change(&mut self, by: &MonthSums, add: bool) {
        bump_total(&mut self.words, by.words, add);
        bump_total(&mut self.confirmed, by.confirmed, add);
        bump_total(&mut self.withdrawn, by.withdrawn, add);
        bump_total(&mut self.due, by.due, add);
    }
}

/// `YYYY-MM`: the date as written, less its day.
pub fn month(d: Date) -> String {
    let mut s = d.to_string();
    s.truncate(s.len().saturating_sub(3));
    s
}

impl MonthFacts {
    /// What pledge `p` adds to the months, at the horizon; `None` if not yet made then.
    pub fn of(p: &PledgeRecord, fulfillments: &Fulfillments, h: &Horizon) -> Option<Self> {
        if !h.sees(p.made) {
            return None;
        }
        let mut months: BTreeMap<String, MonthSums> = BTreeMap::new();
        months.entry(month(p.made)).or_default().words += Total::from(p.original);
        for a in p.amendments.iter().filter(|a| h.sees(a.date)) {
            if let Some(inc) = a.increase {
                months.entry(month(a.date)).or_default().words += Total::from(inc);
            }
        }
        for w in p.withdrawals.iter().filter(|w| h.sees(w.date)) {
            months.entry(month(w.date)).or_default().withdrawn += Total::from(w.value);
        }
        for f in p.fulfillments.iter().filter_map(|id| fulfillments.get(id)).filter(|f| h.sees(f.delivered)) {
            if f.status_as_of(h.as_of) == crate::state::DeliveryStatus::Confirmed {
                months.entry(month(f.delivered)).or_default().confirmed += Total::from(f.value_as_of(h.as_of));
            }
        }
        for (due, value) in projection::falling_due(p, fulfillments, h) {
            months.entry(month(due)).or_default().due += Total::from(value);
        }
        Some(MonthFacts { made: month(p.made), months })
    }
}

impl Facts {
    /// The facts of a pledge's status at any horizon.
    pub fn of_status(s: &PledgeStatus) -> Facts {
        let judgments = if s.tranches.is_empty() {
            let fulfilled = s.state == PledgeState::Fulfilled;
            vec![Judgment {
                due: s.due,
                settled: fulfilled,
                open: matches!(s.state, PledgeState::Open | PledgeState::Partial | PledgeState::Overdue),
                late_days: if fulfilled { s.days_late.and_then(|d| u64::try_from(d).ok()) } else { None },
                on_time: fulfilled && s.met.is_some_and(|m| m <= s.due),
            }]
        } else {
            s.tranches
                .iter()
                .filter(|t| t.state != TrancheState::Withdrawn)
                .map(|t| {
                    let settled = t.state == TrancheState::Met;
                    Judgment {
                        due: t.due,
                        settled,
                        open: matches!(t.state, TrancheState::Overdue | TrancheState::Due),
                        late_days: if settled { t.days_late.and_then(|d| u64::try_from(d).ok()) } else { None },
                        on_time: settled && t.met.is_some_and(|m| m <= t.due),
                    }
                })
                .collect()
        };
        Facts {
            pledger: s.pledger.clone(),
            category: s.category.clone(),
            areas: s.areas.clone(),
            measure: s.measure(),
            words: s.words,
            withdrawn: s.withdrawn,
            claimed: s.claimed,
            confirmed: s.confirmed,
            judgments,
            timeline: None,
        }
    }

    /// The facts of pledge `p` at the head; `fulfillments` must hold its fulfillments.
    pub fn at_head(p: &PledgeRecord, fulfillments: &Fulfillments) -> Option<Facts> {
        // Judged on the earliest date, no pledge is past due: the facts leave that to the query.
        let never_due = Horizon::head(Date(chrono::NaiveDate::MIN));
        let mut facts = projection::status(p, fulfillments, &never_due).map(|s| Facts::of_status(&s))?;
        facts.timeline = MonthFacts::of(p, fulfillments, &never_due);
        Some(facts)
    }
}

/// Sums of one unit, in its minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sums {
    /// What was pledged: original amounts plus increases.
    pub words: Total,
    /// What was withdrawn.
    pub withdrawn: Total,
    /// What is claimed delivered.
    pub claimed: Total,
    /// What is confirmed delivered.
    pub confirmed: Total,
}

/// One member's pledges, summed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberTally {
    /// Its pledges.
    pub pledges: u64,
    /// Sums over its pledges of min(1, confirmed ÷ words), of min(1, claimed ÷ words) and of
    /// withdrawn ÷ words, in parts per million.
    pub follow_through: Total,
    /// See `follow_through`.
    pub claimed_rate: Total,
    /// See `follow_through`.
    pub withdrawn_share: Total,
    /// Pledges fully delivered, confirmed.
    pub fulfilled: u64,
    /// Pledges fully delivered by their due date.
    pub on_time: u64,
    /// Days late → pledges fulfilled that late.
    pub delays: BTreeMap<u64, u64>,
    /// Pledges not fulfilled (judged for timeliness once past due).
    pub unsettled: u64,
    /// Pledges open or partly delivered (overdue once past due).
    pub open: u64,
    /// Sums per unit.
    pub sums: BTreeMap<Unit, Sums>,
}

/// Pledges of one member due on one date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueCount {
    /// Pledges of the member due that day and not fulfilled.
    pub unsettled: u64,
    /// Pledges of the member due that day still open or partly delivered.
    pub open: u64,
}

/// One member's pledges in one (area, category) cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellCount {
    /// Pledges not entirely withdrawn.
    pub live: u64,
    /// Pledges with a confirmed delivery.
    pub delivered: u64,
}

/// Counts per member.
pub type ByMember<T> = BTreeMap<MemberId, T>;

/// The members with live pledges and with confirmed deliveries in one (area, category) cell:
/// what coverage reads, derived from the cells' counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellMembers {
    /// Members with live pledges in the cell.
    pub live: BTreeSet<MemberId>,
    /// Members with confirmed deliveries in the cell.
    pub delivered: BTreeSet<MemberId>,
}

/// Every cell's members.
pub type CellsMembers = BTreeMap<(AreaCode, CategoryCode), CellMembers>;

/// The tallies, or the part of them an entry touches. Each count is kept per member, so that a
/// change rewrites a few small values, never one that grows with the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Per member.
    pub members: BTreeMap<MemberId, MemberTally>,
    /// (due date, member) → its pledges due that day.
    pub due: BTreeMap<(Date, MemberId), DueCount>,
    /// (area, category, member) → its pledges there.
    pub cells: BTreeMap<(AreaCode, CategoryCode, MemberId), CellCount>,
    /// Month `YYYY-MM` → per unit, what happened that month.
    pub months: BTreeMap<String, BTreeMap<Unit, MonthSums>>,
    /// Member → the month of its first pledge. Pledges are never removed and the month one was
    /// made never changes, so this only ever moves earlier: taking a pledge's facts away leaves
    /// it as it is.
    pub first: BTreeMap<MemberId, String>,
}

/// Adds `by` to `v`, or takes it away; totals that would go below zero stop at zero (only an
/// altered store can ask that, and `verify` names it).
fn bump(v: &mut u64, by: u64, add: bool) {
    *v = if add { v.saturating_add(by) } else { v.saturating_sub(by) };
}

/// [`bump`] for a [`Total`], which no sum of a ledger's values can overflow.
fn bump_total(v: &mut Total, by: impl Into<Total>, add: bool) {
    let by = by.into();
    *v = if add { v.saturating_add(by) } else { v.saturating_sub(by) };
}

impl Tallies {
    /// The tallies of every pledge of a state, at the head.
    pub fn of_state(s: &MemState) -> Tallies {
        Tallies::of_pledges(s.pledges.values(), &s.fulfillments)
    }

    /// The tallies of these pledges at the head; `fulfillments` must hold theirs.
    pub fn of_pledges<'p>(pledges: impl IntoIterator<Item = &'p PledgeRecord>, fulfillments: &Fulfillments) -> Tallies {
        let mut t = Tallies::default();
        for p in pledges {
            if let Some(f) = Facts::at_head(p, fulfillments) {
                t.add(&f);
            }
        }
        t
    }

    /// The tallies of two sets of pledges **made by different members**: every count but the
    /// months' is kept per member, so those are joined as they are and the months' added up.
    /// (Tallies of one member's pledges in both would lose counts: that is a caller's error.)
    pub fn join(mut self, mut other: Tallies) -> Tallies {
        debug_assert!(other.members.keys().all(|m| !self.members.contains_key(m)), "joined tallies share a member");
        self.members.append(&mut other.members);
        self.due.append(&mut other.due);
        self.cells.append(&mut other.cells);
        self.first.append(&mut other.first);
        for (month, by_unit) in other.months {
            let mine = self.months.entry(month).or_default();
            for (unit, sums) in by_unit {
                mine.entry(unit).or_default().change(&sums, true);
            }
        }
        self
    }

    /// The tallies of these statuses.
    pub fn of_statuses(statuses: &[PledgeStatus]) -> Tallies {
        let mut t = Tallies::default();
        for s in statuses {
            t.add(&Facts::of_status(s));
        }
        t
    }

    /// Adds a pledge's months alone (the timeline of a horizon).
    pub fn add_months(&mut self, pledger: &MemberId, unit: &Unit, tl: &MonthFacts) {
        self.change_months(pledger, unit, tl, true);
    }

    fn change_months(&mut self, pledger: &MemberId, unit: &Unit, tl: &MonthFacts, add: bool) {
        for (m, sums) in &tl.months {
            let by_unit = self.months.entry(m.clone()).or_default();
            let t = by_unit.entry(unit.clone()).or_default();
            t.change(sums, add);
            if *t == MonthSums::default() {
                by_unit.remove(unit);
            }
            if by_unit.is_empty() {
                self.months.remove(m);
            }
        }
        if add {
            let first = self.first.entry(pledger.clone()).or_insert_with(|| tl.made.clone());
            if tl.made < *first {
                *first = tl.made.clone();
            }
        }
    }

    /// Adds one pledge's facts.
    pub fn add(&mut self, f: &Facts) {
        self.change(f, true);
    }

    /// Takes one pledge's facts away (before adding its new ones).
    pub fn remove(&mut self, f: &Facts) {
        self.change(f, false);
    }

    fn change(&mut self, f: &Facts, add: bool) {
        let m = self.members.entry(f.pledger.clone()).or_default();
        bump(&mut m.pledges, 1, add);
        bump_total(&mut m.follow_through, projection::ratio_ppm(f.confirmed, f.words), add);
        bump_total(&mut m.claimed_rate, projection::ratio_ppm(f.claimed, f.words), add);
        bump_total(&mut m.withdrawn_share, projection::ratio_ppm(f.withdrawn, f.words), add);
        for j in &f.judgments {
            bump(&mut m.fulfilled, u64::from(j.settled), add);
            bump(&mut m.on_time, u64::from(j.on_time), add);
            if let Some(days) = j.late_days {
                let n = m.delays.entry(days).or_default();
                bump(n, 1, add);
                if *n == 0 {
                    m.delays.remove(&days);
                }
            }
            bump(&mut m.unsettled, u64::from(!j.settled), add);
            bump(&mut m.open, u64::from(j.open), add);
        }
        let s = m.sums.entry(f.measure.clone()).or_default();
        bump_total(&mut s.words, f.words, add);
        bump_total(&mut s.withdrawn, f.withdrawn, add);
        bump_total(&mut s.claimed, f.claimed, add);
        bump_total(&mut s.confirmed, f.confirmed, add);
        if *s == Sums::default() {
            m.sums.remove(&f.measure);
        }
        if *m == MemberTally::default() {
            self.members.remove(&f.pledger);
        }

        for j in f.judgments.iter().filter(|j| !j.settled) {
            let key = (j.due, f.pledger.clone());
            let d = self.due.entry(key.clone()).or_default();
            bump(&mut d.unsettled, 1, add);
            bump(&mut d.open, u64::from(j.open), add);
            if *d == DueCount::default() {
                self.due.remove(&key);
            }
        }

        if let Some(tl) = &f.timeline {
            self.change_months(&f.pledger, &f.measure, tl, add);
        }

        let live = f.words > f.withdrawn;
        let delivered = f.confirmed > 0;
        if live || delivered {
            for a in &f.areas {
                let key = (a.clone(), f.category.clone(), f.pledger.clone());
                let c = self.cells.entry(key.clone()).or_default();
                bump(&mut c.live, u64::from(live), add);
                bump(&mut c.delivered, u64::from(delivered), add);
                if *c == CellCount::default() {
                    self.cells.remove(&key);
                }
            }
        }
    }

    /// Per member, the unsettled and open pledges due on or after `date`: not yet past due
    /// when judged on it.
    pub fn due_from(&self, date: Date) -> ByMember<DueCount> {
        sum_due(self.due.iter().filter(|((d, _), _)| *d >= date).map(|((_, m), c)| (m, c)))
    }

    /// Who pledges and who delivered in each cell.
    pub fn cell_members(&self) -> CellsMembers {
        let mut out = CellsMembers::new();
        for ((a, c, m), n) in &self.cells {
            let cell = out.entry((a.clone(), c.clone())).or_default();
            if n.live > 0 {
                cell.live.insert(m.clone());
            }
            if n.delivered > 0 {
                cell.delivered.insert(m.clone());
            }
        }
        out.retain(|_, c| !c.live.is_empty() || !c.delivered.is_empty());
        out
    }
}

/// The per-member sum of due-date counts.
pub fn sum_due<'a>(counts: impl Iterator<Item = (&'a MemberId, &'a DueCount)>) -> ByMember<DueCount> {
    let mut out: ByMember<DueCount> = BTreeMap::new();
    for (m, c) in counts {
        let o = out.entry(m.clone()).or_default();
        o.unsettled = o.unsettled.saturating_add(c.unsettled);
        o.open = o.open.saturating_add(c.open);
    }
    out
}

/// The value at sorted position `k` of a histogram (value → count).
fn nth(hist: &BTreeMap<u64, u64>, k: u64) -> Option<u64> {
    let mut seen = 0u64;
    for (v, n) in hist {
        seen = seen.saturating_add(*n);
        if seen > k {
            return Some(*v);
        }
    }
    None
}

/// The median of a histogram's values, in halves (so that the median of an even count is exact).
pub fn median_halves(hist: &BTreeMap<u64, u64>) -> Option<u64> {
    // Saturating: a stored histogram may have been altered (`verify` names it).
    let n: u64 = hist.values().fold(0u64, |a, c| a.saturating_add(*c));
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        nth(hist, n / 2).map(|v| v.saturating_mul(2))
    } else {
        Some(nth(hist, n / 2 - 1)?.saturating_add(nth(hist, n / 2)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_a_histogram_is_the_median_of_its_values() {
        let hist = |pairs: &[(u64, u64)]| pairs.iter().copied().collect::<BTreeMap<u64, u64>>();
        assert_eq!(median_halves(&hist(&[])), None);
        assert_eq!(median_halves(&hist(&[(7, 1)])), Some(14));
        // 3, 3, 10, 20: (3 + 10) / 2 = 6.5 days.
        assert_eq!(median_halves(&hist(&[(3, 2), (10, 1), (20, 1)])), Some(13));
        // 1, 5, 5, 5, 9
        assert_eq!(median_halves(&hist(&[(1, 1), (5, 3), (9, 1)])), Some(10));
    }

    #[test]
    fn absurd_histograms_answer_without_overflowing() {
        let hist: BTreeMap<u64, u64> = [(u64::MAX, u64::MAX), (1, 5)].into_iter().collect();
        assert_eq!(median_halves(&hist), Some(u64::MAX));
        let even: BTreeMap<u64, u64> = [(u64::MAX, 1), (u64::MAX - 1, 1)].into_iter().collect();
        assert_eq!(median_halves(&even), Some(u64::MAX));
    }

    #[test]
    fn a_month_is_its_dates_year_and_month() {
        assert_eq!(month(Date::parse("2014-03-31").unwrap()), "2014-03");
        assert_eq!(month(Date::parse("1900-01-01").unwrap()), "1900-01");
    }

    #[test]
    fn adding_then_removing_leaves_nothing() {
        let f = Facts {
            pledger: MemberId::parse("gavi").unwrap(),
            category: CategoryCode::parse("training").unwrap(),
            areas: vec![AreaCode::parse("ml-kay").unwrap(), AreaCode::parse("ml-sik").unwrap()],
            measure: Unit::currency("USD").unwrap(),
            words: 100,
            withdrawn: 10,
            claimed: 50,
            confirmed: 40,
            judgments: vec![Judgment {
                due: Date::parse("2025-06-30").unwrap(),
                settled: false,
                open: true,
                late_days: None,
                on_time: false,
            }],
            timeline: None,
        };
        let mut t = Tallies::default();
        t.add(&f);
        assert_eq!(t.members[&f.pledger].pledges, 1);
        assert_eq!(t.members[&f.pledger].follow_through, 400_000);
        assert_eq!(t.cells.len(), 2);
        assert_eq!(t.due_from(f.judgments[0].due)[&f.pledger], DueCount { unsettled: 1, open: 1 });
        assert!(t.due_from(Date::parse("2025-07-01").unwrap()).is_empty());
        t.remove(&f);
        assert_eq!(t, Tallies::default());
    }
}
