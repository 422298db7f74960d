//! IATI activity files, mapped by `pledger_iati`, signed with the importer's key and appended
//! in one durable group — all of it or, on any failure of the store, nothing. A transaction a
//! rule refuses is reported as not recorded; a failure of the store stops the import.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use pledger_core::event::{AmendmentBody, AreaDefined, CategoryDefined, FulfillmentBody, ReversalBody, WithdrawalBody};
use pledger_core::state::Assigned;
use pledger_core::{Body, Date, Event, EventId, FulfillmentId, Measure, MemberId, Numbered, PledgeId, StateView, Unit};
use pledger_iati::map::{AreaDef, Line, Op, Skipped, Source, Step, Sums};
use pledger_iati::{part, Options};
use pledger_log::sign::{sign_event, Signer};
use pledger_store::{Ledger, StoreError, Writer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What an import is asked to do, beside the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The file's name, for the report.
    pub file: String,
    /// The beneficiary of the pledges; by default the ledger's founding convener.
    pub to: Option<String>,
    /// Only what goes to this country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Only the activities these organisations report.
    pub reporting_org: Vec<String>,
    /// The language of titles (`xml:lang`); by default each activity's own.
    pub lang: Option<String>,
    /// Every country's activities, where `country` would default to the ledger's one country.
    #[serde(default)]
    pub all_countries: bool,
    /// Only define the areas and categories the file needs.
    pub define_only: bool,
    /// Check everything against the ledger's rules and report, but record nothing.
    pub dry_run: bool,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The file's name, as given.
    pub file: String,
    /// Activities in the file.
    pub activities: usize,
    /// Activities kept by the selection (publisher, country).
    pub selected: usize,
    /// Transactions of the mapped types in the selection.
    pub commitments: usize,
    /// Transactions of the mapped delivery types in the selection.
    pub deliveries: usize,
    /// The events this import recorded, in log order.
    pub recorded: Vec<Created>,
    /// Transactions an earlier import of the same file recorded, found and left as they are.
    pub already: Vec<Created>,
    /// Areas the import defined.
    pub areas_defined: Vec<String>,
    /// Categories the import defined.
    pub categories_defined: Vec<String>,
    /// Transactions (or activities) not recorded, in file order.
    pub not_recorded: Vec<Skipped>,
    /// Transactions of types the import leaves alone, by code.
    pub ignored: BTreeMap<String, usize>,
    /// The country the selection was limited to, given or the ledger's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Activities of other publishers than the importing member, left alone: by reporting-org.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_publishers: BTreeMap<String, usize>,
    /// Per currency: the file's net sums beside what was recorded and what was not, by reason.
    pub reconciliation: Vec<Reconciled>,
    /// Transactions not recorded whose amount could not be read, by reason.
    pub unreadable: Vec<Reason>,
    /// Whether nothing was recorded: the report says what would be.
    pub dry_run: bool,
}

/// One transaction recorded, as what, and where in the file it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// What it is known by: its short id (`P-000001`), or for an amendment, a withdrawal or a
    /// reversal the pledge or fulfillment it changes.
    pub id: String,
    /// What the transaction became.
    pub step: Step,
    /// Its currency.
    pub currency: String,
    /// In minor units, signed as in the file.
    pub value: i64,
    /// Where in the file it came from.
    #[serde(flatten)]
    pub source: Source,
}

/// The sums of one currency. `file` = `recorded` + `already` + `not_recorded`, commitments
/// and deliveries each, to the minor unit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciled {
    /// The currency.
    pub currency: String,
    /// The file's net sums.
    pub file: Sums,
    /// What this import recorded.
    pub recorded: Sums,
    /// What an earlier import recorded.
    pub already: Sums,
    /// What was not recorded.
    pub not_recorded: Sums,
    /// What was not recorded, by reason.
    pub reasons: Vec<Reason>,
}

impl Reconciled {
    /// Whether what was recorded, found and not recorded adds up to the file.
    pub fn balanced(&self) -> bool {
        let sum = |f: fn(&Sums) -> i128| f(&self.recorded) + f(&self.already) + f(&self.not_recorded);
        sum(|s| s.commitments) == self.file.commitments && sum(|s| s.deliveries) == self.file.deliveries
    }
}

/// Transactions not recorded for one reason: how many, and their net sum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The reason.
    pub cause: String,
    /// How many transactions.
    pub transactions: usize,
    /// Their net sums.
    pub sums: Sums,
}

/// Imports the IATI file `bytes` as `signer`; `today` dates the areas and categories it
/// defines; `progress` is told how many of the file's events are done, and asked before the
/// group is written whether to go on (an error there — whoever asked is gone — writes nothing).
pub fn iati(
    ledger: &mut Ledger,
    bytes: &[u8],
    a: &ImportRequest,
    signer: &Signer,
    today: Date,
    progress: &mut dyn FnMut(u64, u64) -> Result<()>,
) -> Result<ImportReport> {
    let path = &a.file;
    let file = pledger_iati::parse(bytes).map_err(|e| Error::input(format!("{path}: {e}")))?;
    let to = match &a.to {
        Some(id) => MemberId::parse(id)?,
        None => {
            founder(&ledger.members()?).ok_or_else(|| Error::not_found("the ledger has no convener to pledge to"))?
        }
    };
    if ledger.view().member(&to)?.is_none() {
        return Err(Error::not_found(format!(
            "unknown member {to}: --to names the beneficiary, a member of the ledger"
        )));
    }
    let country = match &a.country {
        Some(_) if a.all_countries => return Err(Error::usage("--country and --all-countries exclude each other")),
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
        Some(c) => return Err(Error::input(format!("--country {c:?}: an ISO 3166-1 alpha-2 code such as ML"))),
        None if a.all_countries => None,
        None => ledger_country(ledger)?,
    };
    let (reporting_orgs, other_publishers) = publishers(ledger, &file, a, &signer.member)?;
    let opts = Options {
        origin: signer.origin.clone(),
        member: signer.member.clone(),
        to,
        country: country.clone(),
        reporting_orgs,
        lang: a.lang.clone(),
    };
    let plan = pledger_iati::plan(&file, &opts).map_err(|e| Error::input(format!("{path}: {e}")))?;
    let mut report = ImportReport {
        file: path.clone(),
        activities: plan.activities,
        selected: plan.selected,
        commitments: plan.commitments,
        deliveries: plan.deliveries,
        not_recorded: plan.skipped.clone(),
        ignored: plan.ignored.clone(),
        country,
        other_publishers,
        dry_run: a.dry_run,
        ..ImportReport::default()
    };

    // What an earlier import already recorded, by the derived ids: pledges and fulfillments
    // with their short ids.
    let mut found: HashMap<EventId, Option<u64>> = HashMap::new();
    for line in &plan.lines {
        for op in &line.ops {
            if let Some(seq) = ledger.seq_of_event(&op.id)? {
                let short = match op.step {
                    Step::Pledge => ledger.short_id_at(Numbered::Pledge, seq)?.map(|s| s.n),
                    Step::Delivery => ledger.short_id_at(Numbered::Fulfillment, seq)?.map(|s| s.n),
                    _ => None,
                };
                found.insert(op.id, short);
            }
        }
    }

    // Areas and categories the events need and the ledger lacks; only a convener defines them.
    let view = ledger.view();
    let needed_areas: BTreeSet<_> = plan.lines.iter().flat_map(|l| l.body.areas.iter().cloned()).collect();
    let needed_cats: BTreeSet<_> = plan.lines.iter().map(|l| l.body.category.clone()).collect();
    let mut areas: Vec<&AreaDef> = Vec::new();
    for d in plan.areas.iter().filter(|d| needed_areas.contains(&d.code)) {
        if view.area(&d.code)?.is_none() {
            areas.push(d);
        }
    }
    // Parents before children: countries come before the locations inside them.
    areas.sort_by_key(|d| d.parent.is_some());
    let mut cats = Vec::new();
    for d in plan.categories.iter().filter(|d| needed_cats.contains(&d.code)) {
        if view.category(&d.code)?.is_none() {
            cats.push(d);
        }
    }
    let convener = view.member(&signer.member)?.is_some_and(|m| m.convener);
    if !convener && (!areas.is_empty() || !cats.is_empty()) {
        let mut missing: Vec<String> = areas.iter().map(|d| format!("area {}", d.code)).collect();
        missing.extend(cats.iter().map(|d| format!("category {}", d.code)));
        let mut selection: Vec<String> = opts.reporting_orgs.iter().map(|o| format!(" --reporting-org {o}")).collect();
        selection.push(match &opts.country {
            Some(c) => format!(" --country {c}"),
            None => " --all-countries".to_owned(),
        });
        return Err(Error::Conflict(format!(
            "{path}: the ledger lacks {}; a convener defines them first with `pledger import iati {path} --define-only{}`",
            missing.join(", "),
            selection.concat()
        )));
    }

    let now = Utc::now();
    let mut w = ledger.writer();
    for d in &areas {
        let body = Body::AreaDefined(AreaDefined {
            code: d.code.clone(),
            name: d.name.clone(),
            level: d.level,
            parent: d.parent.clone(),
        });
        append(&mut w, signer.sign(now, today, body))?;
        report.areas_defined.push(d.code.to_string());
    }
    for d in &cats {
        let body = Body::CategoryDefined(CategoryDefined { code: d.code.clone(), name: d.name.clone() });
        append(&mut w, signer.sign(now, today, body))?;
        report.categories_defined.push(d.code.to_string());
    }

    let total: u64 = plan.lines.iter().map(|l| l.ops.len() as u64).sum();
    if !a.define_only {
        let mut done = 0;
        for line in &plan.lines {
            let mut apply = Apply { w: &mut w, signer, now, found: &found, report: &mut report, line };
            apply.line(&mut |n| {
                done += n;
                let _ = progress(done, total);
            })?;
        }
    }
    report.not_recorded.sort_by_key(|s| (s.line, s.transaction));
    if !a.define_only {
        reconcile(&mut report, &plan.file);
    }
    if !a.dry_run && !w.is_empty() {
        progress(total, total)?;
        w.commit()?;
    }
    Ok(report)
}

/// The ledger's one country (an area of level country with an ISO 3166-1 code), if it has one
/// and only one: what an import is limited to unless told otherwise.
fn ledger_country(ledger: &Ledger) -> Result<Option<String>> {
    let countries: Vec<String> = ledger
        .areas()?
        .into_iter()
        .filter(|a| a.level == pledger_core::event::Level::Country && a.parent.is_none())
        .map(|a| a.code.to_string())
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .collect();
    Ok(match countries.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// The publishers whose activities the importer may record: those of the file registered to
/// it (or the ones it names with --reporting-org, each registered to it), and the activities of
/// the others, left alone. A convener defining areas and categories (--define-only) reads any.
fn publishers(
    ledger: &Ledger,
    file: &pledger_iati::IatiFile,
    a: &ImportRequest,
    member: &MemberId,
) -> Result<(Vec<String>, BTreeMap<String, usize>)> {
    if a.define_only {
        return Ok((a.reporting_org.clone(), BTreeMap::new()));
    }
    let view = ledger.view();
    let record = view.member(member)?.ok_or_else(|| Error::not_found(format!("unknown member {member}")))?;
    let mine: Vec<String> = record.iati_orgs.iter().map(|o| o.to_string()).collect();
    let advice = |org: &str| format!("a convener registers it with `pledger member iati-org {member} {org}`");
    let mut in_file: BTreeMap<String, usize> = BTreeMap::new();
    for act in &file.activities {
        *in_file.entry(act.reporting_org.clone().unwrap_or_else(|| "(none)".into())).or_default() += 1;
    }
    let chosen: Vec<String> = if a.reporting_org.is_empty() {
        let ours: Vec<String> = in_file.keys().filter(|o| mine.contains(o)).cloned().collect();
        if ours.is_empty() {
            let listed = in_file.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(match mine.as_slice() {
                [] => Error::Conflict(format!(
                    "{}: member {member} has no IATI organisation registered, so it imports no activity (the file's are reported by {listed}); {}",
                    a.file,
                    advice("REF")
                )),
                _ => Error::Conflict(format!(
                    "{}: no activity of the file is reported by {} (registered to {member}); it holds those of {listed}",
                    a.file,
                    mine.join(", ")
                )),
            });
        }
        ours
    } else {
        for org in &a.reporting_org {
            if !mine.contains(org) {
                return Err(Error::Conflict(format!(
                    "--reporting-org {org} is not registered to member {member}: only its own activities are imported; {}",
                    advice(org)
                )));
            }
        }
        a.reporting_org.clone()
    };
    let others = in_file.into_iter().filter(|(o, _)| !chosen.contains(o)).collect();
    Ok((chosen, others))
}

/// One line of the plan, applied to the group being written.
struct Apply<'a, 'w> {
    w: &'a mut Writer<'w>,
    signer: &'a Signer,
    now: chrono::DateTime<Utc>,
    found: &'a HashMap<EventId, Option<u64>>,
    report: &'a mut ImportReport,
    line: &'a Line,
}

impl Apply<'_, '_> {
    fn line(&mut self, progress: &mut dyn FnMut(u64)) -> Result<()> {
        let line = self.line;
        let unit = line.body.amount.unit.clone();
        let (pledge_op, rest) = line.ops.split_first().expect("a line begins with its pledge");
        progress(1);
        let pledge = match self.found.get(&pledge_op.id) {
            Some(short) => {
                let Some(n) = short else {
                    return Err(Error::Conflict(format!(
                        "event {} of this import is in the ledger but is not a pledge",
                        pledge_op.id
                    )));
                };
                self.already(pledge_op, &unit, PledgeId(*n).to_string());
                PledgeId(*n)
            }
            None => match self.append(pledge_op, Body::Pledge(line.body.clone()))? {
                Ok(Assigned::Short(s)) => {
                    self.recorded(pledge_op, &unit, s.to_string());
                    PledgeId(s.n)
                }
                Ok(other) => {
                    return Err(Error::Conflict(format!("a pledge was recorded as {other}, not as a numbered pledge")))
                }
                Err(reason) => {
                    self.refused(pledge_op, &unit, "refused: the pledge", reason.clone());
                    for op in rest {
                        progress(1);
                        self.refused(op, &unit, "refused: the pledge", format!("its pledge was refused: {reason}"));
                    }
                    return Ok(());
                }
            },
        };
        // The line's fulfillments, recorded now or before: what a reversal may take back.
        let mut delivered: Vec<(FulfillmentId, Date)> = Vec::new();
        for op in rest {
            progress(1);
            if let Some(short) = self.found.get(&op.id) {
                if let (Step::Delivery, Some(n)) = (op.step, short) {
                    delivered.push((FulfillmentId(*n), op.date));
                }
                let id = match (op.step, short) {
                    (Step::Delivery, Some(n)) => FulfillmentId(*n).to_string(),
                    _ => pledge.to_string(),
                };
                self.already(op, &unit, id);
                continue;
            }
            let measure = Measure::new(op.value, unit.clone()).expect("a value below the bound");
            match op.step {
                Step::Pledge => unreachable!("a line has one pledge, first"),
                Step::Increase => {
                    let body = Body::Amendment(AmendmentBody {
                        pledge,
                        due: None,
                        title: None,
                        areas: None,
                        increase: Some(measure),
                    });
                    self.simple(op, &unit, body, pledge.to_string(), "refused: the increase")?;
                }
                Step::Withdrawal => {
                    let body =
                        Body::Withdrawal(WithdrawalBody { pledge, amount: Some(measure), reason: op.text.clone() });
                    self.simple(op, &unit, body, pledge.to_string(), "refused: the withdrawal")?;
                }
                Step::Delivery => {
                    let view = self.w.view();
                    let p = view.pledge(pledge)?.ok_or_else(|| {
                        Error::Conflict(format!("pledge {pledge} of this import is missing from the group"))
                    })?;
                    let beyond = p.fully_withdrawn() || op.value > p.undelivered();
                    drop(p);
                    let body = Body::Fulfillment(FulfillmentBody {
                        pledge,
                        amount: measure,
                        beyond,
                        evidence: None,
                        note: Some(op.text.clone()),
                    });
                    match self.append(op, body)? {
                        Ok(Assigned::Short(s)) => {
                            delivered.push((FulfillmentId(s.n), op.date));
                            self.recorded(op, &unit, s.to_string());
                        }
                        Ok(other) => self.recorded(op, &unit, other.to_string()),
                        Err(reason) => self.refused(op, &unit, "refused: the delivery", reason),
                    }
                }
                Step::Reversal => self.reversal(op, &unit, &delivered)?,
            }
        }
        Ok(())
    }

    /// A reversal: taken from the line's fulfillments delivered by its date, latest first, in
    /// as many parts as it needs — all of them, or none.
    fn reversal(&mut self, op: &Op, unit: &Unit, delivered: &[(FulfillmentId, Date)]) -> Result<()> {
        let mut parts = Vec::new();
        let mut left = op.value;
        for (id, date) in delivered.iter().rev().filter(|(_, d)| *d <= op.date) {
            if left == 0 {
                break;
            }
            let value = self.w.view().fulfillment(*id)?.map_or(0, |f| f.value);
            let take = left.min(value);
            if take > 0 {
                parts.push((*id, take, *date));
                left -= take;
            }
        }
        if left > 0 {
            let room: u64 = parts.iter().map(|(_, v, _)| v).sum();
            self.refused(
                op,
                unit,
                "reverses more than was delivered",
                format!(
                    "a reversal of {} is more than the deliveries recorded by {} still count for ({})",
                    unit.format(op.value),
                    op.date,
                    unit.format(room)
                ),
            );
            return Ok(());
        }
        let at = self.w.savepoint();
        let mut ids = Vec::new();
        for (n, (fulfillment, value, _)) in parts.into_iter().enumerate() {
            let amount = Measure::new(value, unit.clone()).expect("a part of a bounded value");
            let body = Body::Reversal(ReversalBody { fulfillment, amount, reason: op.text.clone() });
            let event = fixed(self.signer, part(op.id, n), self.now, op.date, body);
            match self.w.append(sign_event(&event, &self.signer.key), self.now) {
                Ok(_) => ids.push(fulfillment.to_string()),
                Err(StoreError::Refused { error, .. }) => {
                    self.w.rollback(at);
                    self.refused(op, unit, "refused: the reversal", error.to_string());
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.recorded(op, unit, ids.join(" "));
        Ok(())
    }

    fn simple(&mut self, op: &Op, unit: &Unit, body: Body, id: String, cause: &str) -> Result<()> {
        match self.append(op, body)? {
            Ok(_) => self.recorded(op, unit, id),
            Err(reason) => self.refused(op, unit, cause, reason),
        }
        Ok(())
    }

    /// Appends the event of `op`: what it was assigned, or the rules' refusal.
    fn append(&mut self, op: &Op, body: Body) -> Result<std::result::Result<Assigned, String>> {
        let effective = if op.step == Step::Pledge { self.line.made } else { op.date };
        let event = fixed(self.signer, op.id, self.now, effective, body);
        match self.w.append(sign_event(&event, &self.signer.key), self.now) {
            Ok(done) => Ok(Ok(done.assigned)),
            Err(StoreError::Refused { error, .. }) => Ok(Err(error.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    fn created(&self, op: &Op, unit: &Unit, id: String) -> Created {
        Created {
            id,
            step: op.step,
            currency: unit.name().to_owned(),
            value: op.step.sign() * op.value as i64,
            source: op.source.clone(),
        }
    }

    fn recorded(&mut self, op: &Op, unit: &Unit, id: String) {
        let c = self.created(op, unit, id);
        self.report.recorded.push(c);
    }

    fn already(&mut self, op: &Op, unit: &Unit, id: String) {
        let c = self.created(op, unit, id);
        self.report.already.push(c);
    }

    fn refused(&mut self, op: &Op, unit: &Unit, cause: &str, reason: String) {
        self.report.not_recorded.push(Skipped {
            activity: op.source.activity.clone(),
            transaction: Some(op.source.transaction),
            line: op.source.line,
            cause: cause.to_owned(),
            reason,
            role: Some(op.step.role()),
            currency: Some(unit.name().to_owned()),
            value: Some(op.step.sign() * op.value as i64),
        });
    }
}

/// The report's sums per currency, and the reasons for what was not recorded.
fn reconcile(report: &mut ImportReport, file: &BTreeMap<String, Sums>) {
    let mut by: BTreeMap<String, Reconciled> = file
        .iter()
        .map(|(c, s)| (c.clone(), Reconciled { currency: c.clone(), file: *s, ..Reconciled::default() }))
        .collect();
    // Every amount read is in the file's sums; a currency missing there still gets its row.
    fn slot<'b>(by: &'b mut BTreeMap<String, Reconciled>, c: &str) -> &'b mut Reconciled {
        by.entry(c.to_owned()).or_insert_with(|| Reconciled { currency: c.to_owned(), ..Reconciled::default() })
    }
    for c in &report.recorded {
        slot(&mut by, &c.currency).recorded.add(c.step.role(), i128::from(c.value));
    }
    for c in &report.already {
        slot(&mut by, &c.currency).already.add(c.step.role(), i128::from(c.value));
    }
    let mut unreadable: BTreeMap<String, Reason> = BTreeMap::new();
    for s in &report.not_recorded {
        let Some(role) = s.role else { continue };
        match (&s.currency, s.value) {
            (Some(c), Some(v)) => {
                let r = slot(&mut by, c);
                r.not_recorded.add(role, i128::from(v));
                let reason = match r.reasons.iter_mut().find(|x| x.cause == s.cause) {
                    Some(x) => x,
                    None => {
                        r.reasons.push(Reason { cause: s.cause.clone(), ..Reason::default() });
                        r.reasons.last_mut().expect("just pushed")
                    }
                };
                reason.transactions += 1;
                reason.sums.add(role, i128::from(v));
            }
            _ => {
                let r = unreadable
                    .entry(s.cause.clone())
                    .or_insert_with(|| Reason { cause: s.cause.clone(), ..Reason::default() });
                r.transactions += 1;
            }
        }
    }
    report.reconciliation = by.into_values().collect();
    report.unreadable = unreadable.into_values().collect();
}

/// The founding convener: the member the genesis admitted.
fn founder(members: &[pledger_core::state::MemberRecord]) -> Option<MemberId> {
    members.iter().filter(|m| m.convener).min_by_key(|m| m.admitted_seq).map(|m| m.id.clone())
}

/// An event with an id derived from what it records, so that importing again finds it.
fn fixed(signer: &Signer, id: EventId, now: chrono::DateTime<Utc>, effective: Date, body: Body) -> Event {
    let mut event = signer.event(now, effective, body);
    event.id = id;
    event
}

fn append(w: &mut Writer, envelope: pledger_log::Envelope) -> Result<()> {
    w.append(envelope, Utc::now())?;
    Ok(())
}
