//! IATI activity files, mapped by `pledger_iati`, signed with the importer's key and appended
//! in one durable group — all of it or, on any failure of the store, nothing. A transaction a
//! rule refuses is reported as not recorded; a failure of the store stops the import.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use pledger_core::event::{AreaDefined, CategoryDefined, FulfillmentBody};
use pledger_core::state::Assigned;
use pledger_core::{Body, Date, Event, EventId, MemberId, Numbered, PledgeId, StateView};
use pledger_iati::map::{AreaDef, Skipped, Source};
use pledger_iati::{allocate, part, Options};
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
    /// Only define the areas and categories the file needs.
    pub define_only: bool,
    /// Check everything against the ledger's rules and report, but record nothing.
    pub dry_run: bool,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub file: String,
    pub activities: usize,
    pub selected: usize,
    /// Transactions of the mapped types in the selected activities.
    pub commitments: usize,
    pub deliveries: usize,
    pub pledges: Vec<Created>,
    pub fulfillments: Vec<Created>,
    pub areas_defined: Vec<String>,
    pub categories_defined: Vec<String>,
    /// Events of an earlier import of the same file, found in the ledger and left as they are.
    pub already: usize,
    pub not_recorded: Vec<Skipped>,
    /// Transactions of types the import leaves alone, by code.
    pub ignored: BTreeMap<String, usize>,
    pub dry_run: bool,
}

/// An event the import recorded, and what in the file it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub id: String,
    #[serde(flatten)]
    pub source: Source,
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
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
        Some(c) => return Err(Error::input(format!("--country {c:?}: an ISO 3166-1 alpha-2 code such as ML"))),
        None => None,
    };
    let opts = Options {
        origin: signer.origin.clone(),
        member: signer.member.clone(),
        to,
        country,
        reporting_orgs: a.reporting_org.clone(),
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
        dry_run: a.dry_run,
        ..ImportReport::default()
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
        return Err(Error::Conflict(format!(
            "{path}: the ledger lacks {}; a convener defines them first with `pledger import iati {path} --define-only` and the same selection",
            missing.join(", ")
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

    if !a.define_only {
        let total = (plan.pledges.len() + plan.fulfillments.len()) as u64;
        let mut done = 0;
        for p in &plan.pledges {
            done += 1;
            let _ = progress(done, total);
            if pledge_of.contains_key(&p.id) {
                report.already += 1;
                continue;
            }
            let event = fixed(signer, p.id, now, p.effective, Body::Pledge(p.body.clone()));
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
            done += 1;
            let _ = progress(done, total);
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
                let body = Body::Fulfillment(FulfillmentBody {
                    pledge,
                    amount,
                    beyond: false,
                    evidence: None,
                    note: Some(f.note.clone()),
                });
                let event = fixed(signer, part(f.id, n), now, f.effective, body);
                match w.append(sign_event(&event, &signer.key), now) {
                    Ok(done) => {
                        report.fulfillments.push(Created { id: done.assigned.to_string(), source: f.source.clone() })
                    }
                    Err(StoreError::Refused { error, .. }) => report.not_recorded.push(refusal(&f.source, error)),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    if !a.dry_run && !w.is_empty() {
        let total = (plan.pledges.len() + plan.fulfillments.len()) as u64;
        progress(total, total)?;
        w.commit()?;
    }
    Ok(report)
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

fn refusal(source: &Source, error: pledger_log::LogError) -> Skipped {
    Skipped {
        activity: source.activity.clone(),
        transaction: Some(source.transaction),
        line: source.line,
        reason: format!("refused by the ledger's rules: {error}"),
    }
}
