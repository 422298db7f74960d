//! From IATI activities to pledger events: the mapping documented in docs/iati.md.
//!
//! An activity's outgoing commitments and pledges (types 2 and 12; 1.0x `C`) in one currency
//! and category make one pledge: the first is the pledge, dated by the earliest transaction of
//! the group (a delivery may be reported before its commitment), later ones increase it and
//! negative ones withdraw from it. Its disbursements and expenditures (3 and 4; `D`, `E`) are
//! fulfillments of it — marked `beyond` where they go past what it leaves — and negative ones
//! reverse earlier fulfillments. Every other type is counted and left alone. A transaction that
//! cannot be mapped is reported with its amount and the reason, never dropped silently. Each
//! event's id is derived from what it records, so a second import of the same file finds every
//! event already there.

use std::collections::{BTreeMap, BTreeSet};

use pledger_core::event::{Level, Name, Note, PledgeBody, Title, Tranche};
use pledger_core::measure::MAX_VALUE;
use pledger_core::{AreaCode, CategoryCode, Date, EventId, Measure, MemberId, Unit};
use serde::{Deserialize, Serialize};

use crate::error::{IatiError, Result};
use crate::parse::{Activity, IatiFile, Place, Sector, Transaction};

/// What an import is for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The ledger's origin and the importing member: part of every derived event id.
    pub origin: String,
    /// The importing member: the signer of every event, and the only publisher imported.
    pub member: MemberId,
    /// The beneficiary of every pledge.
    pub to: MemberId,
    /// Keep only what goes to this country (ISO 3166-1 alpha-2), its share of multi-country
    /// activities included.
    pub country: Option<String>,
    /// Keep only activities reported by these organisations (`reporting-org/@ref`).
    pub reporting_orgs: Vec<String>,
    /// The language titles are taken in (`xml:lang`); by default each activity's own.
    pub lang: Option<String>,
}

/// What a transaction type is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A commitment (types 2 and 12 in 2.0x, `C` in 1.0x): a pledge, an increase or a withdrawal.
    Commitment,
    /// A disbursement or expenditure (types 3 and 4, `D` and `E`): a fulfillment or a reversal.
    Delivery,
}

/// The role of a transaction-type code, 2.0x or 1.0x; `None` for types the import leaves alone.
pub fn role(code: &str) -> Option<Role> {
    match code {
        "2" | "12" | "C" => Some(Role::Commitment),
        "3" | "4" | "D" | "E" => Some(Role::Delivery),
        _ => None,
    }
}

/// The name of a transaction-type code, for reports (codelist TransactionType, 2.03 and 1.05).
pub fn type_name(code: &str) -> &'static str {
    match code {
        "1" | "IF" => "incoming funds",
        "2" | "C" => "outgoing commitment",
        "3" | "D" => "disbursement",
        "4" | "E" => "expenditure",
        "5" | "IR" => "interest payment",
        "6" | "LR" => "loan repayment",
        "7" | "R" => "reimbursement",
        "8" | "QP" => "purchase of equity",
        "9" | "QS" => "sale of equity",
        "10" | "CG" => "credit guarantee",
        "11" => "incoming commitment",
        "12" => "outgoing pledge",
        "13" => "incoming pledge",
        _ => "unknown type",
    }
}

/// An area an event refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaDef {
    /// Its code.
    pub code: AreaCode,
    /// Its name.
    pub name: Name,
    /// Its level.
    pub level: Level,
    /// The area it lies in, if any.
    pub parent: Option<AreaCode>,
}

/// A category an event refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryDef {
    /// Its code.
    pub code: CategoryCode,
    /// Its name.
    pub name: Name,
}

/// Where an event comes from in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The activity's `iati-identifier`.
    pub activity: String,
    /// The transaction's position in the activity, from 1.
    pub transaction: usize,
    /// The transaction's line in the file.
    pub line: u32,
}

/// What one transaction becomes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The first commitment of its group: the pledge.
    Pledge,
    /// A later commitment: an amendment increasing the pledge.
    Increase,
    /// A negative commitment: a withdrawal of that amount.
    Withdrawal,
    /// A disbursement or expenditure: a fulfillment.
    Delivery,
    /// A negative disbursement or expenditure: reversals of earlier fulfillments.
    Reversal,
}

impl Step {
    /// Whether the step is a commitment or a delivery.
    pub fn role(self) -> Role {
        match self {
            Step::Pledge | Step::Increase | Step::Withdrawal => Role::Commitment,
            Step::Delivery | Step::Reversal => Role::Delivery,
        }
    }

    /// The sign the step's value has in the file: withdrawals and reversals are negative.
    pub fn sign(self) -> i64 {
        match self {
            Step::Withdrawal | Step::Reversal => -1,
            _ => 1,
        }
    }
}

/// One transaction, mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// What it becomes.
    pub step: Step,
    /// The id of its event (a reversal spread over several fulfillments: of its first part).
    pub id: EventId,
    /// Its effective date.
    pub date: Date,
    /// In minor units of the line's currency, without sign.
    pub value: u64,
    /// A delivery's note, or a withdrawal's or reversal's reason, naming the IATI transaction.
    pub text: Note,
    /// Where it comes from in the file.
    pub source: Source,
}

/// One pledge: an activity's commitments in one currency and category, and what they became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The activity's `iati-identifier`.
    pub activity: String,
    /// The pledge, dated `made`, the earliest date of its transactions.
    pub made: Date,
    /// The pledge event's body.
    pub body: PledgeBody,
    /// The pledge first, then increases, withdrawals, deliveries and reversals, each by date.
    pub ops: Vec<Op>,
}

/// A transaction the import could not map (or, with `transaction` `None`, an activity), why,
/// and its amount where it could be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The activity's `iati-identifier`.
    pub activity: String,
    /// 1-based, within the activity; `None` when the whole activity is skipped.
    pub transaction: Option<usize>,
    /// The line in the file.
    pub line: u32,
    /// The reason in a few stable words, for the summary.
    pub cause: String,
    /// The reason in full.
    pub reason: String,
    /// Whether it was a commitment or a delivery, when its type was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Its amount as the import would record it: currency and signed minor units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// See `currency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

/// Net sums of commitments and deliveries, in signed minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sums {
    /// Net commitments.
    pub commitments: i128,
    /// Net deliveries.
    pub deliveries: i128,
}

impl Sums {
    /// Adds `value` to the sum of `role`.
    pub fn add(&mut self, role: Role, value: i128) {
        match role {
            Role::Commitment => self.commitments += value,
            Role::Delivery => self.deliveries += value,
        }
    }
}

/// Everything an import would record, and what it would not.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Areas and categories the events refer to (defined or not in the ledger).
    pub areas: Vec<AreaDef>,
    /// See `areas`.
    pub categories: Vec<CategoryDef>,
    /// The pledges, each with what its transactions become.
    pub lines: Vec<Line>,
    /// What could not be mapped, in file order.
    pub skipped: Vec<Skipped>,
    /// Transactions of types the import leaves alone, by code.
    pub ignored: BTreeMap<String, usize>,
    /// Activities of the file, and those selected by the reporting organisation and country.
    pub activities: usize,
    /// See `activities`.
    pub selected: usize,
    /// Transactions of the mapped types in the selected activities, by role.
    pub commitments: usize,
    /// See `commitments`.
    pub deliveries: usize,
    /// The file's net commitments and deliveries in the selection, per currency: every
    /// transaction whose amount could be read, as the import would record it.
    pub file: BTreeMap<String, Sums>,
}

/// The id of part `n` of a reversal spread over several fulfillments (part 0 is its own id).
pub fn part(id: EventId, n: usize) -> EventId {
    if n == 0 {
        return id;
    }
    let mut h = blake3::Hasher::new_derive_key("pledger IATI import 2026 delivery part");
    h.update(&id.0);
    h.update(&(n as u64).to_le_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    EventId(out)
}

/// Maps a file. Fails only when the selection itself is wrong (several reporting organisations
/// and none chosen); everything else is reported in [`Plan::skipped`].
pub fn plan(file: &IatiFile, opts: &Options) -> Result<Plan> {
    let orgs: BTreeSet<&str> = file.activities.iter().filter_map(|a| a.reporting_org.as_deref()).collect();
    if opts.reporting_orgs.is_empty() && orgs.len() > 1 {
        return Err(IatiError::SeveralPublishers(orgs.iter().map(|s| s.to_string()).collect()));
    }
    if let Some(missing) = opts.reporting_orgs.iter().find(|r| !orgs.contains(r.as_str())) {
        return Err(IatiError::NoSuchPublisher(missing.clone()));
    }
    let mut m = Mapper {
        opts,
        plan: Plan { activities: file.activities.len(), ..Plan::default() },
        areas: BTreeMap::new(),
        categories: BTreeMap::new(),
        seen: BTreeMap::new(),
    };
    for a in &file.activities {
        let chosen =
            opts.reporting_orgs.is_empty() || a.reporting_org.as_ref().is_some_and(|r| opts.reporting_orgs.contains(r));
        if chosen {
            m.activity(a);
        }
    }
    m.plan.areas = m.areas.into_values().collect();
    m.plan.categories = m.categories.into_values().collect();
    Ok(m.plan)
}

struct Mapper<'o> {
    opts: &'o Options,
    plan: Plan,
    areas: BTreeMap<AreaCode, AreaDef>,
    categories: BTreeMap<CategoryCode, CategoryDef>,
    seen: BTreeMap<Vec<u8>, usize>,
}

/// A share of an amount: `num / den` (a percentage 8.3 is 83 / 1000).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Share {
    num: u128,
    den: u128,
    pct: Option<(u128, u32)>,
}

const WHOLE: Share = Share { num: 1, den: 1, pct: None };

/// Where an activity's or a transaction's money goes.
struct Target {
    areas: Vec<AreaCode>,
    share: Share,
}

/// A transaction of a mapped type, read: its place, money, date and category.
struct Mapped<'a> {
    t: &'a Transaction,
    role: Role,
    areas: Vec<AreaCode>,
    unit: Unit,
    /// Signed minor units.
    value: i64,
    remark: Option<String>,
    date: Date,
    category: CategoryCode,
}

impl<'o> Mapper<'o> {
    #[allow(clippy::too_many_arguments)]
    fn skip(
        &mut self,
        a: &Activity,
        t: Option<&Transaction>,
        role: Option<Role>,
        money: Option<(&Unit, i64)>,
        cause: &str,
        reason: String,
    ) {
        self.plan.skipped.push(Skipped {
            activity: a.identifier.clone(),
            transaction: t.map(|t| t.index),
            line: t.map_or(a.line, |t| t.line),
            cause: cause.to_owned(),
            reason,
            role,
            currency: money.map(|(u, _)| u.name().to_owned()),
            value: money.map(|(_, v)| v),
        });
    }

    fn activity(&mut self, a: &Activity) {
        // The country filter first: an activity elsewhere is not selected, not skipped.
        let activity_target = self.activity_target(a);
        if let Some(cc) = &self.opts.country {
            let here = a.countries.iter().any(|c| c.code.eq_ignore_ascii_case(cc))
                || a.transactions.iter().any(|t| t.country.as_ref().is_some_and(|c| c.code.eq_ignore_ascii_case(cc)));
            if !here {
                return;
            }
        }
        self.plan.selected += 1;
        for t in &a.transactions {
            match &t.code {
                Some(c) if role(c).is_none() => *self.plan.ignored.entry(c.clone()).or_default() += 1,
                None => *self.plan.ignored.entry("(none)".into()).or_default() += 1,
                _ => {}
            }
        }
        let roles: Vec<(&Transaction, Role)> =
            a.transactions.iter().filter_map(|t| t.code.as_deref().and_then(role).map(|r| (t, r))).collect();
        if roles.is_empty() {
            self.skip(
                a,
                None,
                None,
                None,
                "no mapped transactions",
                "no commitments, disbursements or expenditures".into(),
            );
            return;
        }
        let activity_category = self.category(&a.sectors);
        let mut mapped = Vec::new();
        for (t, role) in roles {
            if let Some(m) = self.read(a, t, role, &activity_target, &activity_category) {
                mapped.push(m);
            }
        }
        if a.identifier.is_empty() {
            for m in &mapped {
                self.skip(
                    a,
                    Some(m.t),
                    Some(m.role),
                    Some((&m.unit, m.value)),
                    "no identifier",
                    "the activity has no iati-identifier".into(),
                );
            }
            return;
        }
        // Groups by currency and category, in order of first appearance.
        let mut groups: Vec<((Unit, CategoryCode), Vec<Mapped>)> = Vec::new();
        for m in mapped {
            let key = (m.unit.clone(), m.category.clone());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(m),
                None => groups.push((key, vec![m])),
            }
        }
        // Deliveries of a category with no commitment count against the currency's first group
        // that has one (publishers often give sectors on deliveries alone).
        let committed = |g: &Vec<Mapped>| g.iter().any(|m| m.role == Role::Commitment && m.value > 0);
        let mut i = 0;
        while i < groups.len() {
            let target = groups.iter().position(|(k, g)| k.0 == groups[i].0 .0 && committed(g));
            match target {
                Some(j) if j != i && !committed(&groups[i].1) => {
                    let (_, moved) = groups.remove(i);
                    let j = if j > i { j - 1 } else { j };
                    groups[j].1.extend(moved);
                }
                _ => i += 1,
            }
        }
        let share = activity_target.as_ref().ok().map(|t| t.share);
        for (_, group) in groups {
            self.line(a, group, share);
        }
    }

    /// Reads one transaction in the selection; `None` if it is outside it, or skipped.
    fn read<'t>(
        &mut self,
        a: &Activity,
        t: &'t Transaction,
        role: Role,
        activity: &std::result::Result<Target, String>,
        activity_category: &CategoryCode,
    ) -> Option<Mapped<'t>> {
        let what = type_name(t.code.as_deref().unwrap_or(""));
        let target = match self.target(t, activity) {
            Ok(None) => return None,
            Ok(Some(target)) => target,
            Err(reason) => {
                self.count(role);
                self.skip(a, Some(t), Some(role), None, "no recipient share", reason);
                return None;
            }
        };
        self.count(role);
        let (unit, value, remark) = match self.money(a, t, target.share) {
            Ok(m) => m,
            Err((cause, reason)) => {
                self.skip(a, Some(t), Some(role), None, cause, reason);
                return None;
            }
        };
        self.plan.file.entry(unit.name().to_owned()).or_default().add(role, i128::from(value));
        if value == 0 {
            let text = t.value.as_deref().unwrap_or("");
            self.skip(a, Some(t), Some(role), Some((&unit, 0)), "zero", format!("{what} of {text}: zero"));
            return None;
        }
        let date = match self.date(t) {
            Ok(d) => d,
            Err(reason) => {
                self.skip(a, Some(t), Some(role), Some((&unit, value)), "no date", reason);
                return None;
            }
        };
        let own = self.transaction_category(&t.sectors);
        let category = own.unwrap_or_else(|| activity_category.clone());
        Some(Mapped { t, role, areas: target.areas, unit, value, remark, date, category })
    }

    fn count(&mut self, r: Role) {
        match r {
            Role::Commitment => self.plan.commitments += 1,
            Role::Delivery => self.plan.deliveries += 1,
        }
    }

    /// One group's pledge and what its transactions become.
    fn line(&mut self, a: &Activity, mut group: Vec<Mapped>, share: Option<Share>) {
        group.sort_by_key(|m| (m.date, m.t.index));
        let Some(first) = group.iter().position(|m| m.role == Role::Commitment && m.value > 0) else {
            for m in &group {
                let (cause, reason) = match m.role {
                    Role::Commitment => (
                        "reversal of no commitment",
                        format!(
                            "negative commitment of {}: the activity commits nothing in {} to reverse",
                            amount(&m.unit, m.value),
                            m.unit.name()
                        ),
                    ),
                    Role::Delivery => (
                        "no commitment",
                        format!(
                            "{} of {}: the activity has no commitment in {} to count it against",
                            type_name(m.t.code.as_deref().unwrap_or("")),
                            amount(&m.unit, m.value),
                            m.unit.name()
                        ),
                    ),
                };
                self.skip(a, Some(m.t), Some(m.role), Some((&m.unit, m.value)), cause, reason);
            }
            return;
        };
        let made = group.iter().map(|m| m.date).min().expect("a group holds its first commitment");
        let head = &group[first];
        let mut areas: Vec<AreaCode> = Vec::new();
        for m in group.iter().filter(|m| m.role == Role::Commitment && m.value > 0) {
            for code in &m.areas {
                if !areas.contains(code) && areas.len() < pledger_core::rules::MAX_AREAS {
                    areas.push(code.clone());
                }
            }
        }
        let end = a
            .end_planned
            .as_deref()
            .or(a.end_actual.as_deref())
            .and_then(|d| d.get(..10))
            .and_then(|d| Date::parse(d).ok());
        let due = match end {
            Some(d) if d >= made => d,
            _ => Date(made.0.checked_add_days(chrono::Days::new(365)).unwrap_or(made.0)),
        };
        let label = a.title_in(self.opts.lang.as_deref()).unwrap_or(&a.identifier);
        let suffix = match &head.remark {
            Some(r) => format!(" (IATI {}; {r})", a.identifier),
            None => format!(" (IATI {})", a.identifier),
        };
        let title =
            match Title::parse(&format!("{}{suffix}", clip(label, 300usize.saturating_sub(suffix.chars().count())))) {
                Ok(t) => t,
                Err(e) => {
                    for m in &group {
                        self.skip(a, Some(m.t), Some(m.role), Some((&m.unit, m.value)), "bad title", e.to_string());
                    }
                    return;
                }
            };
        let amount = Measure::new(head.value.unsigned_abs(), head.unit.clone()).expect("a value below the bound");
        let tranches = share.map(|sh| self.tranches(a, &amount, sh, made, due)).unwrap_or_default();
        let body = PledgeBody {
            to: self.opts.to.clone(),
            category: head.category.clone(),
            areas,
            amount,
            due,
            title,
            tranches,
        };
        let mut ops: Vec<Op> = Vec::new();
        for (i, m) in group.iter().enumerate() {
            let step = match (m.role, m.value > 0) {
                (Role::Commitment, true) if i == first => Step::Pledge,
                (Role::Commitment, true) => Step::Increase,
                (Role::Commitment, false) => Step::Withdrawal,
                (Role::Delivery, true) => Step::Delivery,
                (Role::Delivery, false) => Step::Reversal,
            };
            let text = match Note::parse(&clip(&self.note(a, m), 4000)) {
                Ok(n) => n,
                Err(e) => {
                    self.skip(a, Some(m.t), Some(m.role), Some((&m.unit, m.value)), "bad note", e.to_string());
                    continue;
                }
            };
            let id = self.event_id(a, m.t);
            ops.push(Op { step, id, date: m.date, value: m.value.unsigned_abs(), text, source: source(a, m.t) });
        }
        ops.sort_by_key(|o| (o.step as u8, o.date, o.source.transaction));
        self.plan.lines.push(Line { activity: a.identifier.clone(), made, body, ops });
    }

    /// The pledge's schedule from the activity's planned disbursements in its currency (the
    /// revised ones where there are any): each due at the end of its period, cumulated and capped
    /// at the pledge's amount, any rest due with the pledge; periods ending before the pledge's
    /// date fall due on it, after its due date on that. None when the plan holds no schedule.
    fn tranches(&self, a: &Activity, amount: &Measure, share: Share, made: Date, due: Date) -> Vec<Tranche> {
        let revised = a.planned.iter().any(|p| p.kind.as_deref() == Some("2"));
        let mut plan: BTreeMap<Date, u64> = BTreeMap::new();
        for p in a.planned.iter().filter(|p| !revised || p.kind.as_deref() == Some("2")) {
            let cur = p.currency.as_deref().or(a.default_currency.as_deref());
            if cur != Some(amount.unit.name()) {
                continue;
            }
            let (Some(end), Some(d)) = (
                p.end.as_deref().and_then(|e| e.get(..10)).and_then(|e| Date::parse(e).ok()),
                p.value.as_deref().and_then(decimal),
            ) else {
                continue;
            };
            if d.negative {
                continue;
            }
            let Some((v, _)) = to_minor(d, share, amount.unit.exponent()) else { continue };
            let at = end.max(made).min(due);
            *plan.entry(at).or_default() = plan.get(&at).copied().unwrap_or(0).saturating_add(v);
        }
        let mut out: Vec<Tranche> = Vec::new();
        let mut left = amount.value;
        for (at, v) in plan {
            let take = v.min(left);
            if take == 0 {
                break;
            }
            out.push(Tranche {
                due: at,
                amount: Measure::new(take, amount.unit.clone()).expect("a part of the amount"),
            });
            left -= take;
        }
        if left > 0 {
            match out.last_mut() {
                Some(t) if t.due == due => t.amount.value += left,
                _ => out.push(Tranche {
                    due,
                    amount: Measure::new(left, amount.unit.clone()).expect("a part of the amount"),
                }),
            }
        }
        // One tranche due with the pledge is no schedule at all.
        if out.len() < 2 || out.len() > pledger_core::rules::MAX_TRANCHES {
            return Vec::new();
        }
        out
    }

    /// What a delivery's note or a withdrawal's or reversal's reason says of its transaction.
    fn note(&self, a: &Activity, m: &Mapped) -> String {
        let t = m.t;
        let what = type_name(t.code.as_deref().unwrap_or(""));
        let negative = if m.value < 0 { "negative " } else { "" };
        let mut note = format!("IATI {}: {negative}{what} {}", a.identifier, t.date.as_deref().unwrap_or(""));
        if m.value < 0 {
            note.push_str(&format!(" of {}", amount(&m.unit, m.value)));
        }
        if let Some(r) = &t.reference {
            note.push_str(&format!(", ref {r}"));
        }
        if let Some(r) = &m.remark {
            note.push_str(&format!(", {r}"));
        }
        if let Some(r) = &t.receiver {
            note.push_str(&format!(", to {r}"));
        }
        if let Some(d) = &t.description {
            note.push_str(&format!(": {d}"));
        }
        note
    }
    /// The areas of the activity as a whole, or why it has none (transactions may still name one).
    fn activity_target(&mut self, a: &Activity) -> std::result::Result<Target, String> {
        let opts = self.opts;
        if let Some(cc) = &opts.country {
            let Some(c) = a.countries.iter().find(|c| c.code.eq_ignore_ascii_case(cc)) else {
                return Err(format!("{cc} is not a recipient country of the activity"));
            };
            let share = if a.countries.len() + a.regions.len() == 1 {
                WHOLE
            } else {
                let p = c.percentage.as_deref().ok_or_else(|| {
                    format!("{cc} is one of {} recipients and has no percentage", a.countries.len() + a.regions.len())
                })?;
                percentage(p).ok_or_else(|| format!("recipient percentage {p:?} is not a number from 0 to 100"))?
            };
            let area = self.country_area(c)?;
            let locations = self.locations(a, &area);
            return Ok(Target { areas: if locations.is_empty() { vec![area] } else { locations }, share });
        }
        let mut areas = Vec::new();
        for c in &a.countries {
            areas.push(self.country_area(c)?);
        }
        for r in &a.regions {
            areas.push(self.region_area(r)?);
        }
        if areas.is_empty() {
            return Err("no recipient country or region, for the activity or the transaction".into());
        }
        if let [country] = areas.as_slice() {
            let country = country.clone();
            let locations = self.locations(a, &country);
            if !locations.is_empty() && a.regions.is_empty() {
                return Ok(Target { areas: locations, share: WHOLE });
            }
        }
        Ok(Target { areas, share: WHOLE })
    }

    /// A transaction's own recipient, where it names one (2.01 and later), else the activity's.
    fn target(
        &mut self,
        t: &Transaction,
        activity: &std::result::Result<Target, String>,
    ) -> std::result::Result<Option<Target>, String> {
        if let Some(c) = &t.country {
            if let Some(cc) = &self.opts.country {
                if !c.code.eq_ignore_ascii_case(cc) {
                    return Ok(None);
                }
            }
            return Ok(Some(Target { areas: vec![self.country_area(c)?], share: WHOLE }));
        }
        if let Some(r) = &t.region {
            if self.opts.country.is_some() {
                return Ok(None);
            }
            return Ok(Some(Target { areas: vec![self.region_area(r)?], share: WHOLE }));
        }
        match activity {
            Ok(t) => Ok(Some(Target { areas: t.areas.clone(), share: t.share })),
            Err(e) => Err(e.clone()),
        }
    }

    fn country_area(&mut self, c: &Place) -> std::result::Result<AreaCode, String> {
        let code = c.code.to_ascii_uppercase();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("recipient country {:?} is not an ISO 3166-1 alpha-2 code", c.code));
        }
        let name = c.name.clone().unwrap_or_else(|| code.clone());
        self.area(&code, &name, Level::Country, None)
    }

    fn region_area(&mut self, r: &Place) -> std::result::Result<AreaCode, String> {
        let vocab = r.vocabulary.as_deref().unwrap_or("1");
        let code = if vocab == "1" { format!("XR-{}", r.code) } else { format!("XR{vocab}-{}", r.code) };
        let name = r.name.clone().unwrap_or_else(|| format!("Region {} (IATI vocabulary {vocab})", r.code));
        self.area(&code, &name, Level::Country, None)
    }

    fn locations(&mut self, a: &Activity, country: &AreaCode) -> Vec<AreaCode> {
        let mut out = Vec::new();
        for l in &a.locations {
            let code = match l.vocabulary.as_deref() {
                Some("G1") => format!("{country}-G{}", l.code),
                Some(v) => format!("{country}-L{v}-{}", l.code),
                None => format!("{country}-L-{}", l.code),
            };
            let name = l.name.clone().unwrap_or_else(|| code.clone());
            if let Ok(c) = self.area(&code, &name, Level::District, Some(country.clone())) {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }

    fn area(
        &mut self,
        code: &str,
        name: &str,
        level: Level,
        parent: Option<AreaCode>,
    ) -> std::result::Result<AreaCode, String> {
        let code = AreaCode::parse(code).map_err(|e| e.to_string())?;
        let name = Name::parse(&clip(name, 200)).map_err(|e| e.to_string())?;
        self.areas.entry(code.clone()).or_insert(AreaDef { code: code.clone(), name, level, parent });
        Ok(code)
    }

    /// The category of `sectors` (an activity's): the DAC sector with the largest share, as
    /// `dac-CODE`; `funding` when there is none.
    fn category(&mut self, sectors: &[Sector]) -> CategoryCode {
        // The largest share wins; the first on a tie. A sector without a percentage counts as 0.
        let share = |s: &Sector| s.percentage.as_deref().and_then(percentage).map_or((0, 1), |p| (p.num, p.den));
        let best = sectors.iter().filter(|s| is_dac(s)).fold(None::<&Sector>, |best, s| match best {
            Some(b) if share(s).0 * share(b).1 <= share(b).0 * share(s).1 => Some(b),
            _ => Some(s),
        });
        match best {
            Some(s) => self.dac_category(s),
            None => CategoryCode::parse("funding").expect("a valid code"),
        }
    }

    /// A transaction's own category: its first DAC sector (2.01 and later), if it names one.
    fn transaction_category(&mut self, sectors: &[Sector]) -> Option<CategoryCode> {
        let s = sectors.iter().find(|s| is_dac(s))?;
        Some(self.dac_category(s))
    }

    fn dac_category(&mut self, s: &Sector) -> CategoryCode {
        let code = CategoryCode::parse(&format!("dac-{}", s.code)).expect("digits make a valid code");
        let name = s
            .name
            .clone()
            .or_else(|| dac_name(&s.code).map(str::to_owned))
            .unwrap_or_else(|| format!("DAC purpose code {}", s.code));
        if let Ok(name) = Name::parse(&clip(&name, 200)) {
            self.categories.entry(code.clone()).or_insert(CategoryDef { code: code.clone(), name });
        }
        code
    }

    fn event_id(&mut self, a: &Activity, t: &Transaction) -> EventId {
        let o = self.opts;
        let mut key = Vec::new();
        for field in [
            o.origin.as_str(),
            o.member.as_str(),
            o.country.as_deref().unwrap_or(""),
            a.identifier.as_str(),
            t.code.as_deref().unwrap_or(""),
            t.date.as_deref().unwrap_or(""),
            t.value.as_deref().unwrap_or(""),
            t.currency.as_deref().or(a.default_currency.as_deref()).unwrap_or(""),
            t.reference.as_deref().unwrap_or(""),
        ] {
            key.extend_from_slice(field.as_bytes());
            key.push(0);
        }
        // Two identical transactions in one activity are two events.
        let n = self.seen.entry(key.clone()).or_default();
        key.extend_from_slice(&(*n as u64).to_le_bytes());
        *n += 1;
        let hash = blake3::Hasher::new_derive_key("pledger IATI import 2026 event id").update(&key).finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash.as_bytes()[..16]);
        EventId(id)
    }

    /// The transaction's currency, signed value in minor units (its share of it, rounded half
    /// away from zero) and a remark on how it was derived; or the cause and reason it has none.
    fn money(
        &self,
        a: &Activity,
        t: &Transaction,
        share: Share,
    ) -> std::result::Result<(Unit, i64, Option<String>), (&'static str, String)> {
        let cur = t.currency.as_deref().or(a.default_currency.as_deref()).ok_or((
            "no currency",
            "no currency: neither value/@currency nor the activity's default-currency".to_owned(),
        ))?;
        let unit = Unit::currency(cur).map_err(|e| ("bad currency", e.to_string()))?;
        let text = t.value.as_deref().ok_or(("no value", "no value".to_owned()))?;
        let d = decimal(text).ok_or_else(|| ("bad value", format!("value {text:?} is not a decimal number")))?;
        let (minor, exact) =
            to_minor(d, share, unit.exponent()).ok_or_else(|| ("too large", format!("value {text} is too large")))?;
        let minor = i64::try_from(minor).expect("below 2^53");
        let mut remark = Vec::new();
        if let Some((p, scale)) = share.pct {
            remark.push(format!("{}% of {cur} {text}", format_scaled(p, scale)));
        }
        if !exact && share.pct.is_none() {
            remark.push(format!("rounded from {cur} {text}"));
        }
        Ok((unit, if d.negative { -minor } else { minor }, (!remark.is_empty()).then(|| remark.join(", "))))
    }

    fn date(&self, t: &Transaction) -> std::result::Result<Date, String> {
        let raw = t.date.as_deref().ok_or("no transaction-date/@iso-date")?;
        raw.get(..10).and_then(|d| Date::parse(d).ok()).ok_or_else(|| format!("transaction date {raw:?} is not a date"))
    }
}

/// Whether a sector is a DAC purpose code (vocabulary 1, 2 or absent) a category can be named by.
fn is_dac(s: &Sector) -> bool {
    matches!(s.vocabulary.as_deref(), None | Some("1" | "2" | "DAC" | "DAC-3"))
        && s.code.bytes().all(|b| b.is_ascii_digit())
        && matches!(s.code.len(), 3 | 5)
}

/// A signed amount in minor units, as people read it (`USD -1,000.00`).
pub fn amount(unit: &Unit, value: i64) -> String {
    signed(unit, i128::from(value))
}

/// A signed sum in minor units, as people read it (`USD -1,000.00`).
pub fn signed(unit: &Unit, value: i128) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let digits = pledger_core::measure::format_decimal(value.unsigned_abs(), unit.exponent(), true);
    format!("{} {sign}{digits}", unit.name())
}

fn source(a: &Activity, t: &Transaction) -> Source {
    Source { activity: a.identifier.clone(), transaction: t.index, line: t.line }
}

/// At most `max` characters, cut at a character boundary, trimmed.
fn clip(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    cut.trim().to_owned()
}

/// An `xsd:decimal`: sign, digits, an optional point and digits (`-1.23`, `+100000.00`, `.5`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// Whether a minus sign leads.
    pub negative: bool,
    /// The digits as an integer, and how many of them follow the point.
    pub digits: u128,
    /// See `digits`.
    pub scale: u32,
}

/// Parses an `xsd:decimal`; `None` when the text is not one.
pub fn decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || whole.len() + frac.len() > 30
    {
        return None;
    }
    let digits: u128 = format!("{whole}{frac}").parse().ok()?;
    Some(Decimal { negative: negative && digits != 0, digits, scale: frac.len() as u32 })
}

/// A percentage from 0 to 100 as a share.
fn percentage(text: &str) -> Option<Share> {
    let d = decimal(text)?;
    let den = 100u128.checked_mul(10u128.checked_pow(d.scale)?)?;
    (!d.negative && d.digits <= den).then_some(Share { num: d.digits, den, pct: Some((d.digits, d.scale)) })
}

/// `d × share` in minor units of a currency with `exp` decimals, rounded half up; whether exact.
fn to_minor(d: Decimal, share: Share, exp: u32) -> Option<(u64, bool)> {
    let num = d.digits.checked_mul(share.num)?.checked_mul(10u128.checked_pow(exp)?)?;
    let den = share.den.checked_mul(10u128.checked_pow(d.scale)?)?;
    let (q, r) = (num / den, num % den);
    let rounded = if r * 2 >= den { q + 1 } else { q };
    (rounded <= u128::from(MAX_VALUE)).then_some((rounded as u64, r == 0))
}

fn format_scaled(v: u128, scale: u32) -> String {
    let s = format!("{v:0>width$}", width = scale as usize + 1);
    let (w, f) = s.split_at(s.len() - scale as usize);
    if f.is_empty() {
        w.to_owned()
    } else {
        format!("{w}.{f}")
    }
}

/// Names of the DAC purpose codes a health information system meets most (codelist Sector).
fn dac_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "121" => "Health, General",
        "122" => "Basic Health",
        "123" => "Non-communicable diseases (NCDs)",
        "130" => "Population Policies/Programmes & Reproductive Health",
        "12110" => "Health policy and administrative management",
        "12181" => "Medical education/training",
        "12182" => "Medical research",
        "12191" => "Medical services",
        "12196" => "Health statistics and data",
        "12220" => "Basic health care",
        "12230" => "Basic health infrastructure",
        "12240" => "Basic nutrition",
        "12250" => "Infectious disease control",
        "12261" => "Health education",
        "12262" => "Malaria control",
        "12263" => "Tuberculosis control",
        "12264" => "COVID-19 control",
        "12281" => "Health personnel development",
        "13020" => "Reproductive health care",
        "13030" => "Family planning",
        "13040" => "STD control including HIV/AIDS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn opts(country: Option<&str>) -> Options {
        Options {
            origin: "o.example/x".into(),
            member: MemberId::parse("donor").unwrap(),
            to: MemberId::parse("dns").unwrap(),
            country: country.map(str::to_owned),
            reporting_orgs: vec![],
            lang: None,
        }
    }

    const FILE: &str = r#"<iati-activities version="2.03">
 <iati-activity default-currency="USD">
  <iati-identifier>XM-1-A</iati-identifier><reporting-org ref="XM-1"/>
  <title><narrative>Health data</narrative></title>
  <activity-date type="3" iso-date="2016-12-31"/>
  <recipient-country code="ML" percentage="60"/><recipient-country code="NE" percentage="40"/>
  <sector vocabulary="1" code="12196" percentage="100"/>
  <transaction><transaction-type code="2"/><transaction-date iso-date="2014-01-15"/><value value-date="2014-01-15">1000.50</value></transaction>
  <transaction><transaction-type code="3"/><transaction-date iso-date="2014-06-01"/><value value-date="2014-06-01">400</value></transaction>
  <transaction><transaction-type code="3"/><transaction-date iso-date="2014-07-01"/><value value-date="2014-07-01">-10</value></transaction>
  <transaction><transaction-type code="1"/><transaction-date iso-date="2014-01-01"/><value value-date="2014-01-01">9</value></transaction>
  <transaction><transaction-type code="4"/><transaction-date iso-date="2014-08-01"/><value currency="EUR" value-date="2014-08-01">5</value></transaction>
 </iati-activity>
 <iati-activity default-currency="USD">
  <iati-identifier>XM-1-B</iati-identifier><reporting-org ref="XM-1"/>
  <recipient-country code="SN"/>
 </iati-activity>
</iati-activities>"#;

    fn steps(l: &Line) -> Vec<(Step, u64)> {
        l.ops.iter().map(|o| (o.step, o.value)).collect()
    }

    #[test]
    fn an_activity_becomes_one_pledge_per_currency_with_its_history() {
        let f = parse(FILE.as_bytes()).unwrap();
        let p = plan(&f, &opts(None)).unwrap();
        assert_eq!((p.activities, p.selected, p.commitments, p.deliveries), (2, 2, 1, 3));
        assert_eq!(p.lines.len(), 1, "the EUR expenditure has no EUR commitment");
        let l = &p.lines[0];
        assert_eq!(l.body.amount, Measure::new(100050, Unit::currency("USD").unwrap()).unwrap());
        assert_eq!(l.body.areas, vec![AreaCode::parse("ML").unwrap(), AreaCode::parse("NE").unwrap()]);
        assert_eq!(l.body.category.as_str(), "dac-12196");
        assert_eq!(l.body.due.to_string(), "2016-12-31");
        assert_eq!(l.body.title.as_str(), "Health data (IATI XM-1-A)");
        assert_eq!(steps(l), [(Step::Pledge, 100050), (Step::Delivery, 40000), (Step::Reversal, 1000)]);
        assert!(l.ops[2].text.as_str().starts_with("IATI XM-1-A: negative disbursement 2014-07-01 of USD -10.00"));
        let reasons: Vec<&str> = p.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].contains("no commitment in EUR"), "{reasons:?}");
        assert_eq!(p.skipped[0].value, Some(500));
        assert_eq!(reasons[1], "no commitments, disbursements or expenditures");
        assert_eq!(p.ignored.get("1"), Some(&1));
        assert_eq!(p.categories[0].name.as_str(), "Health statistics and data");
        // The file's net sums, per currency: every readable amount, reversals subtracted.
        assert_eq!(p.file["USD"], Sums { commitments: 100050, deliveries: 39000 });
        assert_eq!(p.file["EUR"], Sums { commitments: 0, deliveries: 500 });
    }

    #[test]
    fn a_delivery_before_its_commitment_dates_the_pledge_and_later_commitments_increase_it() {
        let xml = r#"<iati-activities version="2.03"><iati-activity default-currency="USD">
          <iati-identifier>XM-1-B</iati-identifier><reporting-org ref="XM-1"/>
          <recipient-country code="ML"/><sector code="12110"/>
          <transaction><transaction-type code="4"/><transaction-date iso-date="2021-03-31"/><value>70</value>
            <sector vocabulary="1" code="12196"/></transaction>
          <transaction><transaction-type code="2"/><transaction-date iso-date="2021-04-19"/><value>50</value></transaction>
          <transaction><transaction-type code="2"/><transaction-date iso-date="2021-06-01"/><value>-20</value></transaction>
          <transaction><transaction-type code="2"/><transaction-date iso-date="2021-05-01"/><value>60</value></transaction>
        </iati-activity></iati-activities>"#;
        let p = plan(&parse(xml.as_bytes()).unwrap(), &opts(None)).unwrap();
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        let l = &p.lines[0];
        assert_eq!(l.made.to_string(), "2021-03-31", "dated by the earliest transaction");
        assert_eq!(l.body.category.as_str(), "dac-12110", "the commitments' category");
        assert_eq!(
            steps(l),
            [(Step::Pledge, 5000), (Step::Increase, 6000), (Step::Withdrawal, 2000), (Step::Delivery, 7000)],
            "the delivery's own sector has no commitment: it counts against the currency's pledge"
        );
        assert_eq!(p.file["USD"], Sums { commitments: 9000, deliveries: 7000 });
    }

    #[test]
    fn a_title_is_taken_in_the_language_asked() {
        let xml = FILE.replace(
            "<narrative>Health data</narrative>",
            r#"<narrative xml:lang="fr">Données</narrative><narrative xml:lang="en">Health data</narrative>"#,
        );
        let f = parse(xml.as_bytes()).unwrap();
        assert!(plan(&f, &opts(None)).unwrap().lines[0].body.title.as_str().starts_with("Données"));
        let mut o = opts(None);
        o.lang = Some("en".into());
        assert!(plan(&f, &o).unwrap().lines[0].body.title.as_str().starts_with("Health data"));
    }

    #[test]
    fn a_country_gets_its_share_and_ids_are_stable() {
        let f = parse(FILE.as_bytes()).unwrap();
        let p = plan(&f, &opts(Some("ML"))).unwrap();
        assert_eq!(p.selected, 1, "the Senegal activity is not selected");
        let l = &p.lines[0];
        assert_eq!(l.body.amount.value, 60030, "60% of 1000.50, in cents");
        assert_eq!(l.body.areas, vec![AreaCode::parse("ML").unwrap()]);
        assert!(l.body.title.as_str().contains("60% of USD 1000.50"));
        assert_eq!(steps(l)[1], (Step::Delivery, 24000));
        let again = plan(&f, &opts(Some("ML"))).unwrap();
        assert_eq!(again.lines[0].ops[0].id, l.ops[0].id);
        assert_ne!(plan(&f, &opts(None)).unwrap().lines[0].ops[0].id, l.ops[0].id, "another selection, other events");
    }

    #[test]
    fn several_publishers_need_a_choice() {
        let two = FILE.replacen("<reporting-org ref=\"XM-1\"/>", "<reporting-org ref=\"XM-2\"/>", 1);
        let f = parse(two.as_bytes()).unwrap();
        assert!(matches!(plan(&f, &opts(None)), Err(IatiError::SeveralPublishers(v)) if v == ["XM-1", "XM-2"]));
        let mut o = opts(None);
        o.reporting_orgs = vec!["XM-2".into()];
        assert_eq!(plan(&f, &o).unwrap().selected, 1);
        o.reporting_orgs = vec!["XM-9".into()];
        assert!(matches!(plan(&f, &o), Err(IatiError::NoSuchPublisher(_))));
    }

    #[test]
    fn decimals_round_to_minor_units() {
        let d = decimal("196291677.0599").unwrap();
        assert_eq!(to_minor(d, WHOLE, 2), Some((19629167706, false)));
        assert_eq!(to_minor(decimal(".5").unwrap(), WHOLE, 2), Some((50, true)));
        assert_eq!(to_minor(decimal("+100000.00").unwrap(), WHOLE, 0), Some((100000, true)));
        assert!(decimal("-.75").unwrap().negative);
        for bad in ["", ".", "1e5", "1,000", "--1", "12a"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
        let third = percentage("8.3").unwrap();
        assert_eq!(to_minor(decimal("1000").unwrap(), third, 0), Some((83, true)));
        assert_eq!(percentage("100.1"), None);
    }
}
