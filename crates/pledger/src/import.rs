//! `pledger import iati`: an IATI activity file, mapped by `pledger_iati`, signed with the
//! caller's key and appended in one durable group — all of it or, on failure, nothing.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use chrono::Utc;
use pledger_core::event::{AreaDefined, CategoryDefined, FulfillmentBody};
use pledger_core::state::Assigned;
use pledger_core::{Body, Date, Event, EventId, MemberId, Numbered, PledgeId, StateView};
use pledger_iati::map::{AreaDef, Skipped, Source};
use pledger_iati::{allocate, part, Options};
use pledger_log::sign::{sign_event, Signer};
use pledger_store::{StoreError, Writer};
use serde::Serialize;

use crate::cli::{Format, Global, IatiArgs};
use crate::fail::{refused, Result};
use crate::output::{resolve, Grid};
use crate::write::{load_key, open_ledger, signer};

/// What an import did (or, with --dry-run, would do).
#[derive(Serialize, Default)]
struct Report {
    file: String,
    activities: usize,
    selected: usize,
    /// Transactions of the mapped types in the selected activities.
    commitments: usize,
    deliveries: usize,
    pledges: Vec<Created>,
    fulfillments: Vec<Created>,
    areas_defined: Vec<String>,
    categories_defined: Vec<String>,
    /// Events of an earlier import of the same file, found in the ledger and left as they are.
    already: usize,
    not_recorded: Vec<Skipped>,
    /// Transactions of types the import leaves alone, by code.
    ignored: std::collections::BTreeMap<String, usize>,
    dry_run: bool,
}

#[derive(Serialize)]
struct Created {
    id: String,
    #[serde(flatten)]
    source: Source,
}

pub fn iati(g: &Global, a: &IatiArgs) -> Result<()> {
    let path = a.file.display().to_string();
    let bytes = pledger_log::input::read(
        &a.file,
        pledger_iati::parse::MAX_FILE_BYTES as u64,
        "an IATI file",
        pledger_log::input::Source::Any,
    )?;
    let file = pledger_iati::parse(&bytes).map_err(|e| refused(format!("{path}: {e}")))?;
    let key = load_key(g)?;
    let mut ledger = open_ledger(g)?;
    let signer = signer(g, Some(&ledger), key)?;
    let to = match &a.to {
        Some(id) => MemberId::parse(id)?,
        None => founder(&ledger.members()?).ok_or_else(|| refused("the ledger has no convener to pledge to"))?,
    };
    if ledger.view().member(&to)?.is_none() {
        return Err(refused(format!("unknown member {to}: --to names the beneficiary, a member of the ledger")));
    }
    let country = match &a.country {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
        Some(c) => return Err(refused(format!("--country {c:?}: an ISO 3166-1 alpha-2 code such as ML"))),
        None => None,
    };
    let opts = Options {
        origin: signer.origin.clone(),
        member: signer.member.clone(),
        to,
        country,
        reporting_orgs: a.reporting_org.clone(),
    };
    let plan = pledger_iati::plan(&file, &opts).map_err(|e| refused(format!("{path}: {e}")))?;
    let mut report = Report {
        file: path.clone(),
        activities: plan.activities,
        selected: plan.selected,
        commitments: plan.commitments,
        deliveries: plan.deliveries,
        not_recorded: plan.skipped.clone(),
        ignored: plan.ignored.clone(),
        dry_run: a.dry_run,
        ..Report::default()
    };

    // What an earlier import already recorded: pledges by their derived ids.
    let mut pledge_of: HashMap<EventId, PledgeId> = HashMap::new();
    for p in &plan.pledges {
        if let Some(seq) = ledger.seq_of_event(&p.id)? {
            if let Some(id) = ledger.short_id_at(Numbered::Pledge, seq)? {
                pledge_of.insert(p.id, PledgeId(id.n));
            }
        }
    }

    // Areas and categories the events need and the ledger lacks; only a convener defines them.
    let view = ledger.view();
    let needed_areas: BTreeSet<_> = plan.pledges.iter().flat_map(|p| p.body.areas.iter().cloned()).collect();
    let needed_cats: BTreeSet<_> = plan.pledges.iter().map(|p| p.body.category.clone()).collect();
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
        return Err(refused(format!(
            "{path}: the ledger lacks {}; a convener defines them first with `pledger import iati {path} --define-only` and the same selection",
            missing.join(", ")
        )));
    }

    let now = Utc::now();
    let today = crate::write::today();
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

    if !a.define_only {
        let pb = crate::progress::bar((plan.pledges.len() + plan.fulfillments.len()) as u64, "importing", g.quiet);
        for p in &plan.pledges {
            pb.inc(1);
            if pledge_of.contains_key(&p.id) {
                report.already += 1;
                continue;
            }
            let event = fixed(&signer, p.id, now, p.effective, Body::Pledge(p.body.clone()));
            match w.append(sign_event(&event, &signer.key), now) {
                Ok(done) => {
                    if let Assigned::Short(s) = done.assigned {
                        pledge_of.insert(p.id, PledgeId(s.n));
                        report.pledges.push(Created { id: s.to_string(), source: p.source.clone() });
                    }
                }
                Err(StoreError::Refused { error, .. }) => report.not_recorded.push(refusal(&p.source, error)),
                Err(e) => return Err(e.into()),
            }
        }
        for f in &plan.fulfillments {
            pb.inc(1);
            if w.view().event_seq(&f.id)?.is_some() {
                report.already += 1;
                continue;
            }
            let mut rooms = Vec::new();
            for id in f.pledges.iter().filter_map(|e| pledge_of.get(e)) {
                if let Some(rec) = w.view().pledge(*id)? {
                    rooms.push((*id, if rec.fully_withdrawn() { 0 } else { rec.undelivered() }));
                }
            }
            let Some(parts) = allocate(f.amount.value, &rooms) else {
                let room: u64 = rooms.iter().map(|(_, r)| r).sum();
                report.not_recorded.push(Skipped {
                    activity: f.source.activity.clone(),
                    transaction: Some(f.source.transaction),
                    line: f.source.line,
                    reason: format!(
                        "{} delivered is more than the activity's commitments leave undelivered ({})",
                        f.amount,
                        f.amount.unit.format(room)
                    ),
                });
                continue;
            };
            for (n, (pledge, value)) in parts.into_iter().enumerate() {
                let mut amount = f.amount.clone();
                amount.value = value;
                let body =
                    Body::Fulfillment(FulfillmentBody { pledge, amount, evidence: None, note: Some(f.note.clone()) });
                let event = fixed(&signer, part(f.id, n), now, f.effective, body);
                match w.append(sign_event(&event, &signer.key), now) {
                    Ok(done) => {
                        report.fulfillments.push(Created { id: done.assigned.to_string(), source: f.source.clone() })
                    }
                    Err(StoreError::Refused { error, .. }) => report.not_recorded.push(refusal(&f.source, error)),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        pb.finish_and_clear();
    }
    if !a.dry_run {
        w.commit()?;
    }
    print(&report, resolve(a.format))
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
    w.append(envelope, Utc::now()).map_err(crate::write::unwrap_refusal)?;
    Ok(())
}

fn refusal(source: &Source, error: pledger_log::LogError) -> Skipped {
    Skipped {
        activity: source.activity.clone(),
        transaction: Some(source.transaction),
        line: source.line,
        reason: format!("refused by the ledger's rules: {error}"),
    }
}

fn print(r: &Report, format: Format) -> Result<()> {
    let mut out = crate::console::stdout();
    match format {
        Format::Json => {
            serde_json::to_writer(&mut out, r).map_err(|e| refused(e.to_string()))?;
            writeln!(out)?;
            return Ok(out.flush()?);
        }
        Format::Csv => {
            drop(out);
            return outcomes_csv(r);
        }
        Format::Table => {}
    }
    let verb = if r.dry_run { "would record" } else { "recorded" };
    writeln!(
        out,
        "{}: {} of {} activities selected; {verb} {} pledges (from {} commitments) and {} fulfillments (from {} disbursements and expenditures)",
        r.file,
        r.selected,
        r.activities,
        r.pledges.len(),
        r.commitments,
        r.fulfillments.len(),
        r.deliveries
    )?;
    if !r.areas_defined.is_empty() || !r.categories_defined.is_empty() {
        writeln!(
            out,
            "defined: {}",
            r.areas_defined.iter().chain(&r.categories_defined).cloned().collect::<Vec<_>>().join(", ")
        )?;
    }
    if r.already > 0 {
        writeln!(out, "already in the ledger from an earlier import: {} events", r.already)?;
    }
    if !r.ignored.is_empty() {
        let list: Vec<String> =
            r.ignored.iter().map(|(c, n)| format!("{n} × {c} ({})", pledger_iati::map::type_name(c))).collect();
        writeln!(out, "other transaction types, left alone: {}", list.join(", "))?;
    }
    if !r.not_recorded.is_empty() {
        writeln!(out, "not recorded ({}):", r.not_recorded.len())?;
        for s in &r.not_recorded {
            match s.transaction {
                Some(t) => writeln!(out, "  line {}: activity {} transaction {t}: {}", s.line, s.activity, s.reason)?,
                None => writeln!(out, "  line {}: activity {}: {}", s.line, s.activity, s.reason)?,
            }
        }
    }
    Ok(out.flush()?)
}

/// The import for a spreadsheet: one row per event recorded and per activity or transaction
/// not recorded, with the file's line, so the rest can be followed up.
fn outcomes_csv(r: &Report) -> Result<()> {
    let mut grid = Grid::new(vec!["outcome", "id", "activity", "transaction", "line", "reason"]);
    let created = |kind: &str, c: &Created| {
        vec![
            kind.to_owned(),
            c.id.clone(),
            c.source.activity.clone(),
            c.source.transaction.to_string(),
            c.source.line.to_string(),
            String::new(),
        ]
    };
    for c in &r.pledges {
        grid.push(created("pledge", c));
    }
    for c in &r.fulfillments {
        grid.push(created("fulfillment", c));
    }
    for s in &r.not_recorded {
        grid.push(vec![
            "not recorded".to_owned(),
            String::new(),
            s.activity.clone(),
            s.transaction.map(|t| t.to_string()).unwrap_or_default(),
            s.line.to_string(),
            s.reason.clone(),
        ]);
    }
    grid.print_csv()
}
