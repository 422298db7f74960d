//! The projections of docs/guide.md §3 — status, scorecard, coverage, timeline — as pure functions of
//! the ledger's records and a [`Horizon`]: the evaluation date, and optionally an effective date
//! "as of" which only what had happened by then counts. They never read the clock; callers pass
//! today's date. Every metric is defined in docs/guide.md, with a worked example.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::{Date, Level, MemberKind, Name, Title};
use crate::ids::{AreaCode, CategoryCode, MemberId, PledgeId};
use crate::measure::{Total, Unit};
use crate::state::{AreaRecord, DeliveryStatus, FulfillmentRecord, Fulfillments, MemberRecord, PledgeRecord};
use crate::tally::{ByMember, CellsMembers, DueCount, Facts, MemberTally, MonthSums, Tallies};

/// Parts per million: ratios are kept as exact integers.
pub const PPM: u64 = 1_000_000;

/// When projections are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// Only events effective on or before this date count (`--as-of`); `None`: everything known.
    pub as_of: Option<Date>,
    /// The date "overdue" and "on time" are judged on: `as_of` when given, else today.
    pub eval: Date,
}

impl Horizon {
    /// Everything known, judged on `today`.
    pub fn head(today: Date) -> Self {
        Horizon { as_of: None, eval: today }
    }

    /// What had happened by `date`, as known now, judged on `date`.
    pub fn as_of(date: Date) -> Self {
        Horizon { as_of: Some(date), eval: date }
    }

    /// Whether something dated `d` had happened by the horizon.
    pub fn sees(&self, d: Date) -> bool {
        self.as_of.is_none_or(|a| d <= a)
    }
}

/// A pledge's state, in the order they are decided (the first that applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PledgeState {
    /// Everything pledged was withdrawn.
    Withdrawn,
    /// Confirmed deliveries cover what was not withdrawn.
    Fulfilled,
    /// Some delivery is disputed by an attester.
    Disputed,
    /// Everything not withdrawn is claimed delivered, not all of it confirmed.
    Claimed,
    /// Past its due date and not all claimed.
    Overdue,
    /// Some delivery claimed, not yet due.
    Partial,
    /// Nothing claimed yet, not yet due.
    Open,
}

impl PledgeState {
    /// The state as written in JSON and CSV (`overdue`).
    pub fn as_str(self) -> &'static str {
        match self {
            PledgeState::Withdrawn => "withdrawn",
            PledgeState::Fulfilled => "fulfilled",
            PledgeState::Disputed => "disputed",
            PledgeState::Claimed => "claimed",
            PledgeState::Overdue => "overdue",
            PledgeState::Partial => "partial",
            PledgeState::Open => "open",
        }
    }
}

/// One pledge, as it stands at the horizon. Values are in the unit's minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeStatus {
    /// Its number.
    pub id: PledgeId,
    /// The member who pledged.
    pub pledger: MemberId,
    /// The member it is pledged to.
    pub beneficiary: MemberId,
    /// What is pledged.
    pub category: CategoryCode,
    /// Where.
    pub areas: Vec<AreaCode>,
    /// Its title at the horizon.
    pub title: Title,
    /// Its currency, when money.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Its unit, when a count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// When it was made.
    pub made: Date,
    /// When it is due at the horizon.
    pub due: Date,
    /// Original amount plus increases: what was pledged (`pledged` in JSON and CSV).
    #[serde(rename = "pledged", alias = "words")]
    pub words: u64,
    /// What was withdrawn.
    pub withdrawn: u64,
    /// What is claimed delivered.
    pub claimed: u64,
    /// What is confirmed delivered.
    pub confirmed: u64,
    /// What some attester disputes.
    pub disputed: u64,
    /// Words less withdrawals less confirmed deliveries.
    pub outstanding: u64,
    /// Claimed delivered beyond the words less withdrawals (fulfillments marked `beyond`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub beyond: u64,
    /// Where it stands.
    pub state: PledgeState,
    /// The date it was met: the delivery date of the last confirmed delivery, once fulfilled.
    pub met: Option<Date>,
    /// Days late: met − due when met after its due date; eval − due while overdue.
    pub days_late: Option<i64>,
    /// Whether the evaluation date is after the due date.
    pub past_due: bool,
    /// Each tranche of its schedule, judged, when it was pledged in tranches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tranches: Vec<TrancheStatus>,
}

/// Where one tranche of a pledge's schedule stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrancheState {
    /// Withdrawals took it back: nothing of it is still expected.
    Withdrawn,
    /// Confirmed deliveries reached it (on time or late: see `met`, `days_late`).
    Met,
    /// Claimed deliveries reach it, not yet all confirmed.
    Claimed,
    /// Past its due date, and deliveries claimed do not reach it.
    Overdue,
    /// Not yet due.
    Due,
}

/// One tranche: what falls due by when, and whether and when the deliveries reached it. A
/// schedule is cumulative: tranche k is reached when the deliveries, oldest first, add up to the
/// first k tranches (less what was withdrawn, taken from the last tranches first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrancheStatus {
    /// When it is due.
    pub due: Date,
    /// Its part of the words, in minor units (the last tranche carries any increase).
    pub value: u64,
    /// Where it stands.
    pub state: TrancheState,
    /// The delivery date on which confirmed deliveries reached it.
    pub met: Option<Date>,
    /// met − due when met late; evaluation date − due while overdue.
    pub days_late: Option<i64>,
    /// Whether the evaluation date is after its due date.
    pub past_due: bool,
}

impl PledgeStatus {
    /// The pledge's unit.
    pub fn measure(&self) -> Unit {
        unit_of(&self.currency, &self.unit).expect("a status names its currency or its unit")
    }
}

/// The unit that `currency` or `unit` names, as [`unit_fields`] writes it.
pub fn unit_of(currency: &Option<String>, unit: &Option<String>) -> Option<Unit> {
    match (currency, unit) {
        (Some(c), _) => Some(Unit::Currency(c.clone())),
        (None, Some(u)) => Some(Unit::Count(u.clone())),
        (None, None) => None,
    }
}

/// The currency and unit fields of `u`: one of them set, as JSON and CSV carry a unit.
pub fn unit_fields(u: &Unit) -> (Option<String>, Option<String>) {
    match u {
        Unit::Currency(c) => (Some(c.clone()), None),
        Unit::Count(n) => (None, Some(n.clone())),
    }
}

/// A pledge's areas, due date and title as of the horizon (amendments after it do not count).
pub fn terms_as_of<'p>(p: &'p PledgeRecord, h: &Horizon) -> (&'p [AreaCode], Date, &'p Title) {
    let (mut areas, mut due, mut title) = (&p.first_areas[..], p.first_due, &p.first_title);
    for a in p.amendments.iter().filter(|a| h.sees(a.date)) {
        if let Some(x) = &a.areas {
            areas = x;
        }
        if let Some(x) = a.due {
            due = x;
        }
        if let Some(x) = &a.title {
            title = x;
        }
    }
    (areas, due, title)
}

/// The status of pledge `p` at the horizon; `None` if it was not yet made then.
pub fn status(p: &PledgeRecord, fulfillments: &Fulfillments, h: &Horizon) -> Option<PledgeStatus> {
    if !h.sees(p.made) {
        return None;
    }
    let (areas, due, title) = terms_as_of(p, h);
    let words = p.original + p.amendments.iter().filter(|a| h.sees(a.date)).filter_map(|a| a.increase).sum::<u64>();
    let withdrawn: u64 = p.withdrawals.iter().filter(|w| h.sees(w.date)).map(|w| w.value).sum();
    // At the head, the pledge's running totals are its deliveries' sums (the rules keep them);
    // at an earlier horizon, the deliveries it saw are summed.
    let (claimed, confirmed, disputed) = match h.as_of {
        None => (p.claimed, p.confirmed, p.disputed),
        Some(_) => {
            let (mut claimed, mut confirmed, mut disputed) = (0u64, 0u64, 0u64);
            for f in seen_fulfillments(p, fulfillments, h) {
                let value = f.value_as_of(h.as_of);
                claimed += value;
                match f.status_as_of(h.as_of) {
                    DeliveryStatus::Confirmed => confirmed += value,
                    DeliveryStatus::Disputed => disputed += value,
                    DeliveryStatus::Claimed => {}
                }
            }
            (claimed, confirmed, disputed)
        }
    };
    let remaining = words.saturating_sub(withdrawn);
    let tranches = tranches_of(p, fulfillments, h, due, words, remaining, claimed);
    let first_overdue = tranches.iter().find(|t| t.state == TrancheState::Overdue).map(|t| t.due);
    let overdue = if tranches.is_empty() { h.eval > due } else { first_overdue.is_some() };
    let state = if remaining == 0 {
        PledgeState::Withdrawn
    } else if confirmed >= remaining {
        PledgeState::Fulfilled
    } else if disputed > 0 {
        PledgeState::Disputed
    } else if claimed >= remaining {
        PledgeState::Claimed
    } else if overdue {
        PledgeState::Overdue
    } else if claimed > 0 {
        PledgeState::Partial
    } else {
        PledgeState::Open
    };
    // The date it was met: its last confirmed delivery, the only figure read from the
    // fulfillments at the head (see [`reads_fulfillments_at_head`]).
    let met = (state == PledgeState::Fulfilled)
        .then(|| {
            seen_fulfillments(p, fulfillments, h)
                .filter(|f| f.status_as_of(h.as_of) == DeliveryStatus::Confirmed)
                .map(|f| f.delivered)
                .max()
        })
        .flatten();
    let days_late = match (state, met) {
        (PledgeState::Fulfilled, Some(m)) if m > due => Some((m.0 - due.0).num_days()),
        (PledgeState::Overdue, _) => Some((h.eval.0 - first_overdue.unwrap_or(due).0).num_days()),
        _ => None,
    };
    let (currency, unit) = unit_fields(&p.unit);
    Some(PledgeStatus {
        id: p.id,
        pledger: p.pledger.clone(),
        beneficiary: p.beneficiary.clone(),
        category: p.category.clone(),
        areas: areas.to_vec(),
        title: title.clone(),
        currency,
        unit,
        made: p.made,
        due,
        words,
        withdrawn,
        claimed,
        confirmed,
        disputed,
        outstanding: remaining.saturating_sub(confirmed),
        beyond: claimed.saturating_sub(remaining),
        state,
        met,
        days_late,
        past_due: h.eval > due,
        tranches,
    })
}

/// The tranches of `p` judged at the horizon (none for a pledge without a schedule). The last
/// tranche carries the increases, due with the pledge; withdrawals take from the last tranches
/// first.
fn tranches_of(
    p: &PledgeRecord,
    fulfillments: &Fulfillments,
    h: &Horizon,
    due: Date,
    words: u64,
    remaining: u64,
    claimed: u64,
) -> Vec<TrancheStatus> {
    let Some(last) = p.tranches.last() else { return Vec::new() };
    // Cumulative targets, each capped by what withdrawals leave.
    let mut schedule: Vec<(Date, u64)> = Vec::with_capacity(p.tranches.len() + 1);
    let mut cumulative = 0u64;
    for t in &p.tranches {
        cumulative += t.value;
        schedule.push((t.due, cumulative));
    }
    if words > cumulative {
        // Increases: due with the pledge, in the last tranche if it falls due then.
        if last.due == due {
            schedule.last_mut().expect("a tranche").1 = words;
        } else {
            schedule.push((due, words));
        }
    }
    // Confirmed deliveries by delivery date: the date each cumulative target was reached.
    let mut confirmed: Vec<(Date, u64)> = seen_fulfillments(p, fulfillments, h)
        .filter(|f| f.status_as_of(h.as_of) == DeliveryStatus::Confirmed)
        .map(|f| (f.delivered, f.value_as_of(h.as_of)))
        .collect();
    confirmed.sort();
    let reached = |target: u64| {
        let mut sum = 0u64;
        confirmed.iter().find_map(|(d, v)| {
            sum += v;
            (sum >= target).then_some(*d)
        })
    };
    let mut before = 0u64;
    let mut out = Vec::with_capacity(schedule.len());
    for (tranche_due, cumulative) in schedule {
        let target = cumulative.min(remaining);
        let value = target.saturating_sub(before);
        let (state, met, days_late) = if value == 0 {
            (TrancheState::Withdrawn, None, None)
        } else if let Some(m) = reached(target) {
            let late = (m > tranche_due).then(|| (m.0 - tranche_due.0).num_days());
            (TrancheState::Met, Some(m), late)
        } else if claimed >= target {
            (TrancheState::Claimed, None, None)
        } else if h.eval > tranche_due {
            (TrancheState::Overdue, None, Some((h.eval.0 - tranche_due.0).num_days()))
        } else {
            (TrancheState::Due, None, None)
        };
        out.push(TrancheStatus { due: tranche_due, value, state, met, days_late, past_due: h.eval > tranche_due });
        before = before.max(target);
    }
    out
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The fulfillments of `p` delivered by the horizon, of those in `fulfillments`.
fn seen_fulfillments<'f>(
    p: &'f PledgeRecord,
    fulfillments: &'f Fulfillments,
    h: &'f Horizon,
) -> impl Iterator<Item = &'f FulfillmentRecord> + 'f {
    p.fulfillments.iter().filter_map(|id| fulfillments.get(id)).filter(|f| h.sees(f.delivered))
}

/// What was claimed delivered, per unit and month of delivery (`YYYY-MM`), as of the horizon:
/// each fulfillment the horizon sees, at its value then (net of the reversals it sees). The
/// running sums are the pledges' `claimed`.
pub fn claimed_by_month(
    pledges: &[&PledgeRecord],
    fulfillments: &Fulfillments,
    h: &Horizon,
) -> BTreeMap<Unit, BTreeMap<String, Total>> {
    let mut out: BTreeMap<Unit, BTreeMap<String, Total>> = BTreeMap::new();
    for p in pledges.iter().filter(|p| h.sees(p.made)) {
        for f in seen_fulfillments(p, fulfillments, h) {
            let month = f.delivered.to_string()[..7].to_owned();
            *out.entry(p.unit.clone()).or_default().entry(month).or_default() += Total::from(f.value_as_of(h.as_of));
        }
    }
    out
}

/// What of pledge `p` falls due when, as of the horizon: its words less withdrawals on its due
/// date, or each tranche of its schedule on its own.
pub fn falling_due(p: &PledgeRecord, fulfillments: &Fulfillments, h: &Horizon) -> Vec<(Date, u64)> {
    let Some(s) = status(p, fulfillments, h) else { return Vec::new() };
    if s.tranches.is_empty() {
        let remaining = s.words.saturating_sub(s.withdrawn);
        return if remaining > 0 { vec![(s.due, remaining)] } else { Vec::new() };
    }
    s.tranches.iter().filter(|t| t.value > 0).map(|t| (t.due, t.value)).collect()
}

/// Whether [`status`] at the head reads any of `p`'s fulfillments: only a fulfilled pledge's,
/// for the date it was met, and a pledge in tranches'. Everything else comes from the pledge's running totals, so a query
/// of many pledges at the head reads only these pledges' fulfillments.
pub fn reads_fulfillments_at_head(p: &PledgeRecord) -> bool {
    let remaining = p.words().saturating_sub(p.withdrawn);
    // A schedule is judged tranche by tranche, on the dates of its confirmed deliveries.
    (remaining > 0 && p.confirmed >= remaining) || !p.tranches.is_empty()
}

/// `min(1, part / whole)` in parts per million, rounded down; 0 when `whole` is 0.
pub fn ratio_ppm(part: u64, whole: u64) -> u64 {
    ratio_of_totals_ppm(Total::from(part), Total::from(whole))
}

/// [`ratio_ppm`] of two [`Total`]s, exact for any totals of a ledger (below 2^117).
pub fn ratio_of_totals_ppm(part: Total, whole: Total) -> u64 {
    if whole == 0 {
        return 0;
    }
    if part >= whole {
        return PPM;
    }
    // part × 10^6 may not fit in 128 bits; part × 10^3 does (part < 2^117), and
    // ⌊part·10^6 / whole⌋ = 10^3·q + ⌊10^3·r / whole⌋ where part·10^3 = q·whole + r.
    let scaled = part * 1000;
    let (q, r) = (scaled / whole, scaled % whole);
    let ppm = q * 1000 + r * 1000 / whole;
    u64::try_from(ppm).expect("a share below one is below a million parts").min(PPM)
}

/// A ratio in parts per million as a percentage with one decimal, rounded half up: `83.3%`.
pub fn percent(ppm: u64) -> String {
    let tenths = (ppm + 500) / 1000;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// Sums of one unit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSums {
    /// The currency, when money.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The unit, when a count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What was pledged, increases included (`pledged` in JSON and CSV).
    #[serde(rename = "pledged", alias = "words")]
    pub words: Total,
    /// What was withdrawn.
    pub withdrawn: Total,
    /// What is claimed delivered.
    pub claimed: Total,
    /// What is confirmed delivered.
    pub confirmed: Total,
}

impl UnitSums {
    /// The unit the fields name.
    pub fn measure(&self) -> Option<Unit> {
        unit_of(&self.currency, &self.unit)
    }
}

/// One member's record as a pledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberScore {
    /// The member.
    pub member: MemberId,
    /// Its name.
    pub name: Name,
    /// Its kind.
    pub kind: MemberKind,
    /// The pledges it made.
    pub pledges: u64,
    /// Mean over its pledges of min(1, confirmed ÷ words), in parts per million.
    pub follow_through_ppm: u64,
    /// Mean over its pledges of min(1, claimed ÷ words).
    pub claimed_rate_ppm: u64,
    /// Mean over its pledges of withdrawn ÷ words.
    pub withdrawn_share_ppm: u64,
    /// Pledges judged for timeliness: fulfilled, or past their due date.
    pub judged: u64,
    /// Of those, fulfilled with the met date on or before the due date.
    pub on_time: u64,
    /// `on_time` of `judged`, in parts per million; none when nothing is judged yet.
    pub on_time_share_ppm: Option<u64>,
    /// Pledges fulfilled after their due date.
    pub late: u64,
    /// Median days late of those, in half days (so that the median of an even count is exact);
    /// written in JSON as days (`97.5`).
    #[serde(rename = "median_delay_days", serialize_with = "halves", deserialize_with = "from_days")]
    pub median_delay_half_days: Option<u64>,
    /// Pledges past their due date and not all claimed.
    pub overdue: u64,
    /// Sums per unit, in minor units.
    pub sums: Vec<UnitSums>,
}

fn halves<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        // A count of half days is exact as a double far beyond any real delay.
        Some(h) if h % 2 == 1 => s.serialize_f64(*h as f64 / 2.0),
        Some(h) => s.serialize_u64(h / 2),
        None => s.serialize_none(),
    }
}

/// Days as [`halves`] writes them (`97`, `97.5`), as half days.
fn from_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(days) if days >= 0.0 && (days * 2.0).fract() == 0.0 && days * 2.0 < 2f64.powi(53) => {
            Ok(Some((days * 2.0) as u64))
        }
        Some(days) => Err(D::Error::custom(format!("{days} is not a whole number of half days"))),
    }
}

/// Half days as days for people: `97` or `97.5`.
pub fn format_halves(h: u64) -> String {
    if h % 2 == 1 {
        format!("{}.5", h / 2)
    } else {
        (h / 2).to_string()
    }
}

/// The scorecard: one row per member with pledges (and per member in `always`, even without).
pub fn scorecard(statuses: &[PledgeStatus], members: &[MemberRecord], always: &[MemberId]) -> Vec<MemberScore> {
    let tallies = Tallies::of_statuses(statuses);
    let mut not_past_due: ByMember<DueCount> = BTreeMap::new();
    for s in statuses {
        let f = Facts::of_status(s);
        // The judgments not yet past due on the evaluation date: the pledge's, or its tranches'.
        let past: Vec<bool> = if s.tranches.is_empty() {
            vec![s.past_due]
        } else {
            s.tranches.iter().filter(|t| t.state != TrancheState::Withdrawn).map(|t| t.past_due).collect()
        };
        for (j, _) in f.judgments.iter().zip(past).filter(|(_, past)| !past) {
            let d = not_past_due.entry(f.pledger.clone()).or_default();
            d.unsettled += u64::from(!j.settled);
            d.open += u64::from(j.open);
        }
    }
    scorecard_of(&tallies.members, &not_past_due, members, always)
}

/// The scorecard from member tallies and, per member, the counts of pledges not yet past due on
/// the evaluation date (see [`crate::tally`]).
pub fn scorecard_of(
    tallies: &BTreeMap<MemberId, MemberTally>,
    not_past_due: &ByMember<DueCount>,
    members: &[MemberRecord],
    always: &[MemberId],
) -> Vec<MemberScore> {
    let mut out = Vec::new();
    for m in members {
        let empty = MemberTally::default();
        let t = tallies.get(&m.id).unwrap_or(&empty);
        if t.pledges == 0 && !always.contains(&m.id) {
            continue;
        }
        let future = not_past_due.get(&m.id).copied().unwrap_or_default();
        let n = t.pledges;
        // A mean of parts per million is at most a million.
        let mean = |sum: Total| sum.checked_div(Total::from(n)).map_or(0, |m| u64::try_from(m).unwrap_or(PPM));
        // Saturating throughout: the totals may come from a store altered behind pledger's back,
        // which `verify` names; a query must still answer.
        let judged = t.fulfilled.saturating_add(t.unsettled.saturating_sub(future.unsettled));
        let sums = t
            .sums
            .iter()
            .map(|(unit, s)| {
                let (currency, u) = unit_fields(unit);
                UnitSums {
                    currency,
                    unit: u,
                    words: s.words,
                    withdrawn: s.withdrawn,
                    claimed: s.claimed,
                    confirmed: s.confirmed,
                }
            })
            .collect();
        out.push(MemberScore {
            member: m.id.clone(),
            name: m.name.clone(),
            kind: m.kind,
            pledges: n,
            follow_through_ppm: mean(t.follow_through),
            claimed_rate_ppm: mean(t.claimed_rate),
            withdrawn_share_ppm: mean(t.withdrawn_share),
            judged,
            on_time: t.on_time,
            on_time_share_ppm: (judged > 0).then(|| ratio_ppm(t.on_time, judged)),
            late: t.delays.values().fold(0u64, |a, n| a.saturating_add(*n)),
            median_delay_half_days: crate::tally::median_halves(&t.delays),
            overdue: t.open.saturating_sub(future.open),
            sums,
        });
    }
    out
}

/// Whether an area's pledges have become deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// A confirmed delivery there (or below).
    Covered,
    /// Live pledges there (or below), no confirmed delivery yet.
    Promised,
    /// Nothing.
    Gap,
}

impl Coverage {
    /// The status as written in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Covered => "covered",
            Coverage::Promised => "promised",
            Coverage::Gap => "gap",
        }
    }
}

/// One category of one area, rolled up from the area and everything below it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCell {
    /// The category.
    pub category: CategoryCode,
    /// Members with live pledges (not entirely withdrawn).
    pub pledging: Members,
    /// Members with confirmed deliveries.
    pub delivered: Members,
    /// Covered, promised or a gap.
    pub status: Coverage,
}

/// One area of the coverage matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaCoverage {
    /// The area's code.
    pub code: AreaCode,
    /// Its name.
    pub name: Name,
    /// Its level.
    pub level: Level,
    /// The area it lies in, if any.
    pub parent: Option<AreaCode>,
    /// How deep in the tree: 0 for a root.
    pub depth: usize,
    /// Covered, promised or a gap, over every category.
    pub status: Coverage,
    /// Members with live pledges there or below, any category.
    pub pledging: Members,
    /// Members with confirmed deliveries there or below, any category.
    pub delivered: Members,
    /// Each category's cell.
    pub categories: Vec<CategoryCell>,
}

/// The areas in tree order (parents before children, siblings by code), with their depth.
pub fn area_tree(areas: &[AreaRecord]) -> Vec<(&AreaRecord, usize)> {
    let codes: BTreeSet<&AreaCode> = areas.iter().map(|a| &a.code).collect();
    let mut children: BTreeMap<Option<&AreaCode>, Vec<&AreaRecord>> = BTreeMap::new();
    for a in areas {
        // An area whose parent is unknown is shown as a root.
        let parent = a.parent.as_ref().filter(|p| codes.contains(p));
        children.entry(parent).or_default().push(a);
    }
    for v in children.values_mut() {
        v.sort_by(|x, y| x.code.cmp(&y.code));
    }
    let mut out = Vec::new();
    let mut stack: Vec<(&AreaRecord, usize)> =
        children.get(&None).into_iter().flatten().rev().map(|a| (*a, 0)).collect();
    while let Some((a, depth)) = stack.pop() {
        out.push((a, depth));
        if let Some(kids) = children.get(&Some(&a.code)) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    out
}

/// `root` and every area below it.
pub fn subtree(areas: &[AreaRecord], root: &AreaCode) -> BTreeSet<AreaCode> {
    let mut out: BTreeSet<AreaCode> = BTreeSet::from([root.clone()]);
    loop {
        let before = out.len();
        for a in areas {
            if a.parent.as_ref().is_some_and(|p| out.contains(p)) {
                out.insert(a.code.clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The coverage matrix: per area (rolled up the area tree) and category, who pledges and who
/// delivered, and whether the area is covered, promised or a gap.
pub fn coverage(statuses: &[PledgeStatus], areas: &[AreaRecord], root: Option<&AreaCode>) -> Vec<AreaCoverage> {
    coverage_of(&Tallies::of_statuses(statuses).cell_members(), areas, root)
}

/// The coverage matrix from the tallies' cells (see [`crate::tally`]).
pub fn coverage_of(cells: &CellsMembers, areas: &[AreaRecord], root: Option<&AreaCode>) -> Vec<AreaCoverage> {
    coverage_of_sets(&CellSets::of_members(cells), areas, root)
}

/// A set of members: bits over a list of member ids in id order (written as its 64-bit words).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSet(Vec<u64>);

impl MemberSet {
    /// An empty set with room for places below `n`.
    pub fn with_room(n: usize) -> MemberSet {
        MemberSet(vec![0; n.div_ceil(64)])
    }

    /// Adds the member at place `i`.
    pub fn insert(&mut self, i: usize) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn union(&mut self, other: &MemberSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The places in the set, in order.
    fn places(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, bits)| {
            std::iter::successors((*bits != 0).then_some(*bits), |b| Some(b & (b - 1)).filter(|b| *b != 0))
                .map(move |b| w * 64 + b.trailing_zeros() as usize)
        })
    }
}

/// Members in id order, as a coverage cell names them: a set of places in a list of ids shared
/// by the whole answer, which is written out as the list of those ids. (A matrix names up to
/// every member in every cell; copying each id into each cell was most of its time.)
#[derive(Clone, Debug, Default)]
pub struct Members {
    set: MemberSet,
    all: std::sync::Arc<[MemberId]>,
}

impl Members {
    /// The members of `set`, places in `all` (ids in id order).
    pub fn of(set: MemberSet, all: &std::sync::Arc<[MemberId]>) -> Members {
        Members { set, all: all.clone() }
    }

    /// The members, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &MemberId> + '_ {
        self.set.places().filter_map(|i| self.all.get(i))
    }

    /// The list of ids the set's places are in.
    pub fn roster(&self) -> &std::sync::Arc<[MemberId]> {
        &self.all
    }

    /// The set, as places in [`Members::roster`].
    pub fn places(&self) -> &MemberSet {
        &self.set
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

/// Members listed: sorted, without repeats.
impl FromIterator<MemberId> for Members {
    fn from_iter<I: IntoIterator<Item = MemberId>>(ids: I) -> Members {
        let all: BTreeSet<MemberId> = ids.into_iter().collect();
        let mut set = MemberSet::default();
        for i in 0..all.len() {
            set.insert(i);
        }
        Members { set, all: all.into_iter().collect() }
    }
}

impl PartialEq for Members {
    fn eq(&self, other: &Members) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Members {}

impl Serialize for Members {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        Ok(Vec::<MemberId>::deserialize(d)?.into_iter().collect())
    }
}

/// Who pledges and who delivered in each (area, category) cell, before rolling up.
#[derive(Clone, Debug, Default)]
pub struct CellSets {
    /// The members the sets count over, in id order.
    pub members: Vec<MemberId>,
    /// (area, category) → (members with live pledges there, members with confirmed deliveries).
    pub cells: BTreeMap<(AreaCode, CategoryCode), (MemberSet, MemberSet)>,
}

impl CellSets {
    /// The sets of the tallies' cells.
    pub fn of_members(cells: &CellsMembers) -> CellSets {
        let members: Vec<MemberId> = cells
            .values()
            .flat_map(|c| c.live.iter().chain(c.delivered.iter()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let mut out = CellSets { members, cells: BTreeMap::new() };
        let set = |ids: &BTreeSet<MemberId>, all: &[MemberId]| {
            let mut s = MemberSet::default();
            for i in ids.iter().filter_map(|m| all.binary_search(m).ok()) {
                s.insert(i);
            }
            s
        };
        for (key, c) in cells {
            let (live, delivered) = (set(&c.live, &out.members), set(&c.delivered, &out.members));
            out.insert(key.clone(), live, delivered);
        }
        out
    }

    /// Keeps who pledges and who delivered in a cell (nothing if nobody does).
    pub fn insert(&mut self, key: (AreaCode, CategoryCode), pledging: MemberSet, delivered: MemberSet) {
        if !pledging.is_empty() || !delivered.is_empty() {
            self.cells.insert(key, (pledging, delivered));
        }
    }
}

/// The coverage matrix from the sets of each cell.
pub fn coverage_of_sets(sets: &CellSets, areas: &[AreaRecord], root: Option<&AreaCode>) -> Vec<AreaCoverage> {
    type Cell = (MemberSet, MemberSet);
    // Direct cells: area → category → (pledging, delivered).
    let mut direct: BTreeMap<&AreaCode, BTreeMap<&CategoryCode, &Cell>> = BTreeMap::new();
    for ((a, category), cell) in &sets.cells {
        direct.entry(a).or_default().insert(category, cell);
    }
    let shown: Option<BTreeSet<AreaCode>> = root.map(|r| subtree(areas, r));
    let status_of = |p: &MemberSet, d: &MemberSet| {
        if !d.is_empty() {
            Coverage::Covered
        } else if !p.is_empty() {
            Coverage::Promised
        } else {
            Coverage::Gap
        }
    };
    let all: std::sync::Arc<[MemberId]> = sets.members.iter().cloned().collect();
    let mut out = Vec::new();
    for (a, depth) in area_tree(areas) {
        if shown.as_ref().is_some_and(|s| !s.contains(&a.code)) {
            continue;
        }
        let below = subtree(areas, &a.code);
        let mut cats: BTreeMap<&CategoryCode, Cell> = BTreeMap::new();
        for code in &below {
            for (cat, (p, d)) in direct.get(code).into_iter().flatten() {
                let e = cats.entry(cat).or_default();
                e.0.union(p);
                e.1.union(d);
            }
        }
        let mut pledging = MemberSet::default();
        let mut delivered = MemberSet::default();
        let categories: Vec<CategoryCell> = cats
            .into_iter()
            .map(|(cat, (p, d))| {
                pledging.union(&p);
                delivered.union(&d);
                CategoryCell {
                    category: cat.clone(),
                    status: status_of(&p, &d),
                    pledging: Members::of(p, &all),
                    delivered: Members::of(d, &all),
                }
            })
            .collect();
        out.push(AreaCoverage {
            code: a.code.clone(),
            name: a.name.clone(),
            level: a.level,
            parent: a.parent.clone(),
            depth: shown.as_ref().map_or(depth, |_| depth.saturating_sub(root.map_or(0, |r| depth_of(areas, r)))),
            status: status_of(&pledging, &delivered),
            pledging: Members::of(pledging, &all),
            delivered: Members::of(delivered, &all),
            categories,
        });
    }
    out
}

fn depth_of(areas: &[AreaRecord], code: &AreaCode) -> usize {
    area_tree(areas).into_iter().find(|(a, _)| &a.code == code).map_or(0, |(_, d)| d)
}

/// One month of the timeline, for one unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    /// The currency, when money.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The unit, when a count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Members who had made a pledge by the end of the month (any unit).
    pub members: u64,
    /// Pledged that month: pledges made and increases (`pledged` in JSON and CSV).
    #[serde(rename = "pledged", alias = "words")]
    pub words: Total,
    /// Deliveries made this month that are confirmed (as of the horizon).
    pub confirmed: Total,
    /// Withdrawals taking effect this month.
    pub withdrawn: Total,
    /// Words falling due this month (a tranche in its month, a pledge without one in its due
    /// month), less withdrawals.
    pub due: Total,
    /// Pledged up to the end of this month (`pledged_total` in JSON and CSV).
    #[serde(rename = "pledged_total", alias = "words_total")]
    pub words_total: Total,
    /// Confirmed deliveries up to the end of this month.
    pub confirmed_total: Total,
    /// Withdrawals up to the end of this month.
    pub withdrawn_total: Total,
    /// Falling due up to the end of this month.
    pub due_total: Total,
}

impl MonthRow {
    /// The unit the row is in.
    pub fn measure(&self) -> Unit {
        unit_of(&self.currency, &self.unit).expect("a month's row names its currency or its unit")
    }
}

/// The timeline, month by month (by effective dates), per unit: rows for the months in which
/// something happened in that unit, with running totals.
pub fn timeline(pledges: &[&PledgeRecord], fulfillments: &Fulfillments, h: &Horizon) -> Vec<MonthRow> {
    let mut t = Tallies::default();
    for p in pledges {
        if let Some(tl) = crate::tally::MonthFacts::of(p, fulfillments, h) {
            t.add_months(&p.pledger, &p.unit, &tl);
        }
    }
    timeline_of(&t.months, &t.first)
}

/// The timeline from the tallies' months and first pledges (see [`crate::tally`]).
pub fn timeline_of(
    months: &BTreeMap<String, BTreeMap<Unit, MonthSums>>,
    first: &BTreeMap<MemberId, String>,
) -> Vec<MonthRow> {
    let mut cells: Vec<(&Unit, &String, &MonthSums)> =
        months.iter().flat_map(|(m, by_unit)| by_unit.iter().map(move |(u, s)| (u, m, s))).collect();
    cells.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let firsts: Vec<&String> = first.values().collect();
    let mut out = Vec::new();
    let mut totals: BTreeMap<&Unit, (Total, Total, Total, Total)> = BTreeMap::new();
    for (unit, m, s) in cells {
        let t = totals.entry(unit).or_default();
        // Saturating: the sums may come from an altered store (see `scorecard_of`).
        t.0 = t.0.saturating_add(s.words);
        t.1 = t.1.saturating_add(s.confirmed);
        t.2 = t.2.saturating_add(s.withdrawn);
        t.3 = t.3.saturating_add(s.due);
        let (currency, u) = unit_fields(unit);
        out.push(MonthRow {
            members: firsts.iter().filter(|f| f.as_str() <= m.as_str()).count() as u64,
            month: m.clone(),
            currency,
            unit: u,
            words: s.words,
            confirmed: s.confirmed,
            withdrawn: s.withdrawn,
            due: s.due,
            words_total: t.0,
            confirmed_total: t.1,
            withdrawn_total: t.2,
            due_total: t.3,
        });
    }
    out.sort_by(|a, b| a.month.cmp(&b.month).then(a.measure().cmp(&b.measure())));
    out
}
