//! From IATI activities to pledger events: the mapping documented in docs/iati.md.
//!
//! Outgoing commitments and pledges (types 2 and 12; 1.0x `C`) become pledges, disbursements and
//! expenditures (3 and 4; `D`, `E`) fulfillments of the same activity's pledges; every other type
//! is counted and left alone. A transaction or activity that cannot be mapped is reported with
//! the reason, never dropped silently. Each event's id is derived from what it records, so a
//! second import of the same file finds every event already there.

use std::collections::{BTreeMap, BTreeSet};

use pledger_core::event::{Level, Name, Note, PledgeBody, Title};
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
    pub member: MemberId,
    /// The beneficiary of every pledge.
    pub to: MemberId,
    /// Keep only what goes to this country (ISO 3166-1 alpha-2), its share of multi-country
    /// activities included.
    pub country: Option<String>,
    /// Keep only activities reported by these organisations (`reporting-org/@ref`).
    pub reporting_orgs: Vec<String>,
}

/// What a transaction type becomes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Pledge,
    Fulfillment,
}

/// The role of a transaction-type code, 2.0x or 1.0x; `None` for types the import leaves alone.
pub fn role(code: &str) -> Option<Role> {
    match code {
        "2" | "12" | "C" => Some(Role::Pledge),
        "3" | "4" | "D" | "E" => Some(Role::Fulfillment),
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaDef {
    pub code: AreaCode,
    pub name: Name,
    pub level: Level,
    pub parent: Option<AreaCode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryDef {
    pub code: CategoryCode,
    pub name: Name,
}

/// Where an event comes from in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub activity: String,
    pub transaction: usize,
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPledge {
    pub id: EventId,
    pub effective: Date,
    pub body: PledgeBody,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFulfillment {
    /// The id of its first event; a delivery spread over several pledges takes `part(id, n)`.
    pub id: EventId,
    pub effective: Date,
    pub amount: Measure,
    pub note: Note,
    /// The activity's pledges in the same unit, earliest first: where the delivery is counted.
    pub pledges: Vec<EventId>,
    pub source: Source,
}

/// An activity or transaction the import could not map, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub activity: String,
    /// 1-based, within the activity; `None` when the whole activity is skipped.
    pub transaction: Option<usize>,
    pub line: u32,
    pub reason: String,
}

/// Everything an import would record, and what it would not.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Areas and categories the events refer to (defined or not in the ledger).
    pub areas: Vec<AreaDef>,
    pub categories: Vec<CategoryDef>,
    pub pledges: Vec<PlannedPledge>,
    pub fulfillments: Vec<PlannedFulfillment>,
    pub skipped: Vec<Skipped>,
    /// Transactions of types the import leaves alone, by code.
    pub ignored: BTreeMap<String, usize>,
    /// Activities of the file, and those selected by the reporting organisation and country.
    pub activities: usize,
    pub selected: usize,
    /// Transactions of the mapped types in the selected activities, by role.
    pub commitments: usize,
    pub deliveries: usize,
}

/// The id of part `n` of a delivery spread over several pledges (part 0 is the delivery's id).
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

impl<'o> Mapper<'o> {
    fn skip(&mut self, a: &Activity, t: Option<&Transaction>, reason: String) {
        self.plan.skipped.push(Skipped {
            activity: a.identifier.clone(),
            transaction: t.map(|t| t.index),
            line: t.map_or(a.line, |t| t.line),
            reason,
        });
    }

    fn activity(&mut self, a: &Activity) {
        let mapped: Vec<(&Transaction, Role)> =
            a.transactions.iter().filter_map(|t| t.code.as_deref().and_then(role).map(|r| (t, r))).collect();
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
        if mapped.is_empty() {
            self.skip(a, None, "no commitments, disbursements or expenditures".into());
            return;
        }
        if a.identifier.is_empty() {
            for (t, r) in &mapped {
                self.count(*r);
                self.skip(a, Some(t), "the activity has no iati-identifier".into());
            }
            return;
        }
        let category = self.category(a);
        // Pledges first (a delivery needs its pledge), each in file order.
        let mut pledges: Vec<(EventId, Date, Unit)> = Vec::new();
        for (t, _) in mapped.iter().filter(|(_, r)| *r == Role::Pledge) {
            self.count(Role::Pledge);
            match self.pledge(a, t, &activity_target, &category) {
                Ok(Some(p)) => {
                    pledges.push((p.id, p.effective, p.body.amount.unit.clone()));
                    self.plan.pledges.push(p);
                }
                Ok(None) => {}
                Err(reason) => self.skip(a, Some(t), reason),
            }
        }
        pledges.sort_by_key(|(_, d, _)| *d);
        for (t, _) in mapped.iter().filter(|(_, r)| *r == Role::Fulfillment) {
            self.count(Role::Fulfillment);
            match self.delivery(a, t, &activity_target, &pledges) {
                Ok(Some(f)) => self.plan.fulfillments.push(f),
                Ok(None) => {}
                Err(reason) => self.skip(a, Some(t), reason),
            }
        }
    }

    fn count(&mut self, r: Role) {
        match r {
            Role::Pledge => self.plan.commitments += 1,
            Role::Fulfillment => self.plan.deliveries += 1,
        }
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

    /// The activity's category: its DAC sector with the largest share, as `dac-CODE`; `funding`
    /// when it has none.
    fn category(&mut self, a: &Activity) -> CategoryCode {
        let dac = |s: &&Sector| matches!(s.vocabulary.as_deref(), None | Some("1" | "2" | "DAC" | "DAC-3"));
        // The largest share wins; the first on a tie. A sector without a percentage counts as 0.
        let share = |s: &Sector| s.percentage.as_deref().and_then(percentage).map_or((0, 1), |p| (p.num, p.den));
        let best = a
            .sectors
            .iter()
            .filter(dac)
            .filter(|s| s.code.bytes().all(|b| b.is_ascii_digit()) && matches!(s.code.len(), 3 | 5))
            .fold(None::<&Sector>, |best, s| match best {
                Some(b) if share(s).0 * share(b).1 <= share(b).0 * share(s).1 => Some(b),
                _ => Some(s),
            });
        let Some(s) = best else {
            return CategoryCode::parse("funding").expect("a valid code");
        };
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

    fn money(
        &self,
        a: &Activity,
        t: &Transaction,
        share: Share,
        what: &str,
    ) -> std::result::Result<(Measure, Option<String>), String> {
        let cur = t
            .currency
            .as_deref()
            .or(a.default_currency.as_deref())
            .ok_or("no currency: neither value/@currency nor the activity's default-currency")?;
        let unit = Unit::currency(cur).map_err(|e| e.to_string())?;
        let text = t.value.as_deref().ok_or("no value")?;
        let d = decimal(text).ok_or_else(|| format!("value {text:?} is not a decimal number"))?;
        if d.negative {
            return Err(format!(
                "negative {what} ({text}): a reversal is not recorded; pledger records decreases only as withdrawals"
            ));
        }
        let (minor, exact) = to_minor(d, share, unit.exponent()).ok_or_else(|| format!("value {text} is too large"))?;
        if minor == 0 {
            return Err(format!("value {text} is zero"));
        }
        let measure = Measure::new(minor, unit).map_err(|e| e.to_string())?;
        let mut remark = Vec::new();
        if let Some((p, scale)) = share.pct {
            remark.push(format!("{}% of {cur} {text}", format_scaled(p, scale)));
        }
        if !exact && share.pct.is_none() {
            remark.push(format!("rounded from {cur} {text}"));
        }
        Ok((measure, (!remark.is_empty()).then(|| remark.join(", "))))
    }

    fn date(&self, t: &Transaction) -> std::result::Result<Date, String> {
        let raw = t.date.as_deref().ok_or("no transaction-date/@iso-date")?;
        raw.get(..10).and_then(|d| Date::parse(d).ok()).ok_or_else(|| format!("transaction date {raw:?} is not a date"))
    }

    fn pledge(
        &mut self,
        a: &Activity,
        t: &Transaction,
        activity: &std::result::Result<Target, String>,
        category: &CategoryCode,
    ) -> std::result::Result<Option<PlannedPledge>, String> {
        let Some(target) = self.target(t, activity)? else { return Ok(None) };
        let effective = self.date(t)?;
        let (amount, remark) = self.money(a, t, target.share, "commitment")?;
        let end = a
            .end_planned
            .as_deref()
            .or(a.end_actual.as_deref())
            .and_then(|d| d.get(..10))
            .and_then(|d| Date::parse(d).ok());
        let due = match end {
            Some(d) if d >= effective => d,
            _ => Date(effective.0.checked_add_days(chrono::Days::new(365)).unwrap_or(effective.0)),
        };
        let label = a.title.as_deref().unwrap_or(&a.identifier);
        let suffix = match &remark {
            Some(r) => format!(" (IATI {}; {r})", a.identifier),
            None => format!(" (IATI {})", a.identifier),
        };
        let title = Title::parse(&format!("{}{suffix}", clip(label, 300usize.saturating_sub(suffix.chars().count()))))
            .map_err(|e| e.to_string())?;
        let id = self.event_id(a, t);
        let body = PledgeBody {
            to: self.opts.to.clone(),
            category: category.clone(),
            areas: target.areas,
            amount,
            due,
            title,
        };
        Ok(Some(PlannedPledge { id, effective, body, source: source(a, t) }))
    }

    fn delivery(
        &mut self,
        a: &Activity,
        t: &Transaction,
        activity: &std::result::Result<Target, String>,
        pledges: &[(EventId, Date, Unit)],
    ) -> std::result::Result<Option<PlannedFulfillment>, String> {
        let Some(target) = self.target(t, activity)? else { return Ok(None) };
        let effective = self.date(t)?;
        let code = t.code.as_deref().unwrap_or("");
        let what = type_name(code);
        let (amount, remark) = self.money(a, t, target.share, what)?;
        let same_unit: Vec<&(EventId, Date, Unit)> = pledges.iter().filter(|(_, _, u)| *u == amount.unit).collect();
        let Some((_, first, _)) = same_unit.first() else {
            return Err(format!(
                "{what} of {amount}: the activity has no commitment in {} to count it against",
                amount.unit.name()
            ));
        };
        // A delivery counts against commitments made by its date, never later ones.
        let candidates: Vec<EventId> =
            same_unit.iter().filter(|(_, d, _)| *d <= effective).map(|(id, _, _)| *id).collect();
        if candidates.is_empty() {
            return Err(format!("{what} of {amount} on {effective}, before the activity's first commitment ({first})"));
        }
        let mut note = format!("IATI {}: {what} {}", a.identifier, t.date.as_deref().unwrap_or(""));
        if let Some(r) = &t.reference {
            note.push_str(&format!(", ref {r}"));
        }
        if let Some(r) = &remark {
            note.push_str(&format!(", {r}"));
        }
        if let Some(r) = &t.receiver {
            note.push_str(&format!(", to {r}"));
        }
        if let Some(d) = &t.description {
            note.push_str(&format!(": {d}"));
        }
        let note = Note::parse(&clip(&note, 4000)).map_err(|e| e.to_string())?;
        let id = self.event_id(a, t);
        Ok(Some(PlannedFulfillment { id, effective, amount, note, pledges: candidates, source: source(a, t) }))
    }
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
    pub negative: bool,
    /// The digits as an integer, and how many of them follow the point.
    pub digits: u128,
    pub scale: u32,
}

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

/// Spreads a delivery over pledges with room, earliest first: `(pledge, amount)` parts, or
/// `None` when all of them together cannot hold it (a pledge is never over-claimed).
pub fn allocate<K: Copy>(amount: u64, rooms: &[(K, u64)]) -> Option<Vec<(K, u64)>> {
    if let Some((k, _)) = rooms.iter().find(|(_, room)| *room >= amount) {
        return Some(vec![(*k, amount)]);
    }
    let mut left = amount;
    let mut parts = Vec::new();
    for (k, room) in rooms.iter().filter(|(_, r)| *r > 0) {
        let take = left.min(*room);
        parts.push((*k, take));
        left -= take;
        if left == 0 {
            return Some(parts);
        }
    }
    None
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

    #[test]
    fn maps_commitments_and_deliveries_and_reports_the_rest() {
        let f = parse(FILE.as_bytes()).unwrap();
        let p = plan(&f, &opts(None)).unwrap();
        assert_eq!((p.activities, p.selected, p.commitments, p.deliveries), (2, 2, 1, 3));
        assert_eq!(p.pledges.len(), 1);
        let pl = &p.pledges[0];
        assert_eq!(pl.body.amount, Measure::new(100050, Unit::currency("USD").unwrap()).unwrap());
        assert_eq!(pl.body.areas, vec![AreaCode::parse("ML").unwrap(), AreaCode::parse("NE").unwrap()]);
        assert_eq!(pl.body.category.as_str(), "dac-12196");
        assert_eq!(pl.body.due.to_string(), "2016-12-31");
        assert_eq!(pl.body.title.as_str(), "Health data (IATI XM-1-A)");
        assert_eq!(p.fulfillments.len(), 1);
        assert_eq!(p.fulfillments[0].pledges, vec![pl.id]);
        let reasons: Vec<&str> = p.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].starts_with("negative disbursement (-10)"), "{reasons:?}");
        assert!(reasons[1].contains("no commitment in EUR"), "{reasons:?}");
        assert_eq!(reasons[2], "no commitments, disbursements or expenditures");
        assert_eq!(p.ignored.get("1"), Some(&1));
        assert_eq!(p.categories[0].name.as_str(), "Health statistics and data");
    }

    #[test]
    fn a_country_gets_its_share_and_ids_are_stable() {
        let f = parse(FILE.as_bytes()).unwrap();
        let p = plan(&f, &opts(Some("ML"))).unwrap();
        assert_eq!(p.selected, 1, "the Senegal activity is not selected");
        assert_eq!(p.pledges[0].body.amount.value, 60030, "60% of 1000.50, in cents");
        assert_eq!(p.pledges[0].body.areas, vec![AreaCode::parse("ML").unwrap()]);
        assert!(p.pledges[0].body.title.as_str().contains("60% of USD 1000.50"));
        assert_eq!(p.fulfillments[0].amount.value, 24000);
        let again = plan(&f, &opts(Some("ML"))).unwrap();
        assert_eq!(again.pledges[0].id, p.pledges[0].id);
        assert_ne!(plan(&f, &opts(None)).unwrap().pledges[0].id, p.pledges[0].id, "another selection, other events");
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

    #[test]
    fn deliveries_fill_the_earliest_pledges_and_never_overflow() {
        assert_eq!(allocate(5, &[('a', 3), ('b', 10)]), Some(vec![('b', 5)]));
        assert_eq!(allocate(12, &[('a', 3), ('b', 10)]), Some(vec![('a', 3), ('b', 9)]));
        assert_eq!(allocate(14, &[('a', 3), ('b', 10)]), None);
        assert_eq!(allocate(3, &[('a', 3), ('b', 10)]), Some(vec![('a', 3)]));
    }
}
