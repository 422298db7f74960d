//! Commands that read the ledger: `log`, `show`, `members`.

use std::io::Write;

use pledger_core::event::{format_time, Event};
use pledger_core::ids::{EventId, ShortId};
use pledger_core::projection::{self, Horizon};
use pledger_core::state::{FulfillmentRecord, PledgeRecord};
use pledger_core::{FulfillmentId, Fulfillments, PledgeId, StateView};
use pledger_log::entry::format_recorded;
use pledger_log::Entry;
use pledger_store::Ledger;
use serde_json::{json, Value};

use crate::cli::{Format, Global};
use crate::fail::{refused, Result};
use crate::output::{describe, resolve, Grid};
use crate::write::{open_ledger, today};

/// An entry as `log` and `show` present it.
struct Shown {
    entry: Entry,
    event: Event,
    id: String,
}

fn shown(ledger: &Ledger, seq: u64, line: &[u8]) -> Result<Shown> {
    let entry = Entry::parse(line).map_err(|e| refused(format!("entry {seq} is damaged: {e}")))?;
    let event = Event::parse(&entry.envelope.payload).map_err(|e| refused(format!("entry {seq} is damaged: {e}")))?;
    let id = match event.kind().numbered() {
        Some(kind) => ledger.short_id_at(kind, seq)?.map(|s| s.to_string()).unwrap_or_default(),
        None => subject(&event),
    };
    Ok(Shown { entry, event, id })
}

/// What an event that creates no numbered record is about: a member, key, area, category, or
/// the ledger itself.
fn subject(e: &Event) -> String {
    use pledger_core::Body;
    match &e.body {
        Body::Genesis(_) => e.origin.clone(),
        Body::MemberAdmitted(b) => b.member.to_string(),
        Body::KeyAdded(b) => b.public_key.key_id().to_string(),
        Body::KeyRevoked(b) => b.key.to_string(),
        Body::AreaDefined(b) => b.code.to_string(),
        Body::CategoryDefined(b) => b.code.to_string(),
        _ => String::new(),
    }
}

fn shown_json(s: &Shown) -> Value {
    let payload: Value = serde_json::from_slice(&s.entry.envelope.payload).unwrap_or(Value::Null);
    json!({
        "seq": s.entry.seq,
        "recorded": format_recorded(&s.entry.recorded_at),
        "id": s.id,
        "kind": s.event.kind().as_str(),
        "signer": s.event.signer.as_str(),
        "effective": s.event.effective.to_string(),
        "summary": describe(&s.event),
        "event": payload,
    })
}

pub fn log(g: &Global, from: u64, format: Option<Format>) -> Result<()> {
    let ledger = open_ledger(g)?;
    let format = resolve(format);
    let mut grid = Grid::new(vec!["seq", "recorded", "id", "kind", "signer", "effective", "what"]);
    let mut out = crate::console::stdout();
    for item in ledger.lines(from) {
        let (seq, line) = item?;
        let s = shown(&ledger, seq, &line)?;
        match format {
            Format::Json => writeln!(out, "{}", shown_json(&s))?,
            _ => grid.push(vec![
                seq.to_string(),
                format_time(&s.entry.recorded_at),
                s.id.clone(),
                s.event.kind().as_str().to_owned(),
                s.event.signer.to_string(),
                s.event.effective.to_string(),
                describe(&s.event),
            ]),
        }
    }
    out.flush()?;
    drop(out);
    match format {
        Format::Table => grid.print_table(),
        Format::Csv => grid.print_csv(),
        Format::Json => Ok(()),
    }
}

/// Finds the entry an id names: `P-000001` and the other short ids, a sequence number, or an
/// event id.
pub fn find_seq(ledger: &Ledger, id: &str) -> Result<u64> {
    let not_found = || refused(format!("no entry {id} in this ledger"));
    if let Ok(short) = ShortId::parse(id) {
        return ledger.seq_of(short)?.ok_or_else(not_found);
    }
    if let Ok(event) = EventId::parse(id) {
        return ledger.seq_of_event(&event)?.ok_or_else(not_found);
    }
    match id.parse::<u64>() {
        Ok(seq) if seq < ledger.size() => Ok(seq),
        Ok(_) => Err(not_found()),
        Err(_) => Err(crate::fail::usage(format!(
            "bad id {id:?}: give a pledge or other id (P-000001), a sequence number, or an event id"
        ))),
    }
}

pub fn pledge_json(p: &PledgeRecord, fulfillments: &[FulfillmentRecord]) -> Value {
    let unit = match &p.unit {
        pledger_core::Unit::Currency(c) => json!({ "currency": c }),
        pledger_core::Unit::Count(u) => json!({ "unit": u }),
    };
    json!({
        "id": p.id.to_string(),
        "pledger": p.pledger.as_str(),
        "beneficiary": p.beneficiary.as_str(),
        "category": p.category.as_str(),
        "areas": p.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "measure": unit,
        "original": p.original,
        "increased": p.increased,
        "words": p.words(),
        "withdrawn": p.withdrawn,
        "claimed": p.claimed,
        "confirmed": p.confirmed,
        "disputed": p.disputed,
        "undelivered": p.undelivered(),
        "made": p.made.to_string(),
        "due": p.due.to_string(),
        "title": p.title.as_str(),
        "fulfillments": fulfillments.iter().map(|f| json!({
            "id": f.id.to_string(),
            "value": f.value,
            "delivered": f.delivered.to_string(),
            "status": f.status(),
            "evidence": f.evidence.as_ref().map(|e| json!({
                "blake3": e.blake3.as_ref().map(|h| h.as_str()),
                "url": e.url.as_ref().map(|u| u.as_str()),
            })),
            "verdicts": f.verdicts.iter().map(|v| json!({
                "attester": v.attester.as_str(),
                "verdict": v.verdict.as_str(),
                "date": v.date.to_string(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

pub fn show(g: &Global, id: &str, format: Option<Format>) -> Result<()> {
    let ledger = open_ledger(g)?;
    let format = resolve(format);
    if let Ok(pid) = PledgeId::parse(id) {
        return show_pledge(&ledger, pid, format);
    }
    if let Ok(fid) = FulfillmentId::parse(id) {
        if let Some(f) = ledger.view().fulfillment(fid)? {
            return show_pledge(&ledger, f.pledge, format);
        }
    }
    let seq = find_seq(&ledger, id)?;
    let line = ledger.line(seq)?.ok_or_else(|| refused(format!("no entry {seq}")))?;
    let s = shown(&ledger, seq, &line)?;
    match format {
        Format::Json => crate::console::outln!("{}", shown_json(&s))?,
        _ => {
            let mut grid = Grid::new(vec!["field", "value"]);
            let j = shown_json(&s);
            for k in ["seq", "recorded", "id", "kind", "signer", "effective", "summary"] {
                grid.push(vec![k.to_owned(), j[k].to_string().trim_matches('"').to_owned()]);
            }
            grid.push(vec!["event id".into(), s.event.id.to_string()]);
            grid.push(vec!["key".into(), s.event.key.to_string()]);
            if format == Format::Csv {
                grid.print_csv()?;
            } else {
                grid.print_table()?;
            }
        }
    }
    Ok(())
}

fn show_pledge(ledger: &Ledger, id: PledgeId, format: Format) -> Result<()> {
    let view = ledger.view();
    let p = view.pledge(id)?.ok_or_else(|| refused(format!("unknown pledge {id}")))?;
    let fulfillments: Fulfillments = p
        .fulfillments
        .iter()
        .filter_map(|f| view.fulfillment(*f).ok().flatten())
        .map(|f| (f.id, f.into_owned()))
        .collect();
    let status = projection::status(&p, &fulfillments, &Horizon::head(today()))
        .ok_or_else(|| refused(format!("pledge {id} has no status")))?;
    let mut history = Vec::new();
    for seq in &p.events {
        let line = ledger.line(*seq)?.ok_or_else(|| refused(format!("entry {seq} is missing")))?;
        history.push(shown(ledger, *seq, &line)?);
    }
    if format == Format::Json {
        let fs: Vec<FulfillmentRecord> = fulfillments.values().cloned().collect();
        let out = json!({
            "status": status,
            "pledge": pledge_json(&p, &fs),
            "history": history.iter().map(shown_json).collect::<Vec<_>>(),
        });
        crate::console::outln!("{out}")?;
        return Ok(());
    }
    let u = &p.unit;
    let mut grid = Grid::new(vec!["field", "value"]);
    for (k, v) in [
        ("pledge", p.id.to_string()),
        ("title", status.title.to_string()),
        ("pledger", p.pledger.to_string()),
        ("beneficiary", p.beneficiary.to_string()),
        ("category", p.category.to_string()),
        ("areas", status.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")),
        ("made", p.made.to_string()),
        ("due", status.due.to_string()),
        ("words", u.format(status.words)),
        ("withdrawn", u.format(status.withdrawn)),
        ("claimed delivered", u.format(status.claimed)),
        ("confirmed", u.format(status.confirmed)),
        ("disputed", u.format(status.disputed)),
        ("outstanding", u.format(status.outstanding)),
        (
            "state",
            match status.days_late {
                Some(d) => format!("{} ({d} days late)", status.state.as_str()),
                None => status.state.as_str().to_owned(),
            },
        ),
        ("met", status.met.map(|d| d.to_string()).unwrap_or_default()),
    ] {
        grid.push(vec![k.to_owned(), v]);
    }
    if format == Format::Csv {
        return grid.print_csv();
    }
    grid.print_table()?;
    let mut h = Grid::new(vec!["seq", "recorded", "effective", "id", "signer", "what"]);
    for s in &history {
        h.push(vec![
            s.entry.seq.to_string(),
            format_time(&s.entry.recorded_at),
            s.event.effective.to_string(),
            s.id.clone(),
            s.event.signer.to_string(),
            describe(&s.event),
        ]);
    }
    crate::console::outln!("History:")?;
    h.print_table()
}

pub fn members(g: &Global, format: Option<Format>) -> Result<()> {
    let ledger = open_ledger(g)?;
    let format = resolve(format);
    let members = ledger.members()?;
    if format == Format::Json {
        let mut out = crate::console::stdout();
        for m in &members {
            let keys: Vec<Value> = m
                .keys
                .iter()
                .map(|k| json!({ "id": k.id.as_str(), "added": k.added_seq, "revoked": k.revoked_seq }))
                .collect();
            let line = json!({
                "id": m.id.as_str(), "name": m.name.as_str(), "kind": m.kind.as_str(),
                "convener": m.convener, "admitted": m.admitted_seq, "keys": keys,
            });
            writeln!(out, "{line}")?;
        }
        return Ok(out.flush()?);
    }
    let mut grid = Grid::new(vec!["id", "name", "kind", "convener", "keys"]);
    for m in &members {
        let keys: Vec<String> = m
            .keys
            .iter()
            .map(|k| match k.revoked_seq {
                Some(r) => format!("{} (revoked at {r})", k.id),
                None => k.id.to_string(),
            })
            .collect();
        grid.push(vec![
            m.id.to_string(),
            m.name.to_string(),
            m.kind.as_str().to_owned(),
            if m.convener { "yes".into() } else { String::new() },
            keys.join("\n"),
        ]);
    }
    if format == Format::Csv {
        grid.print_csv()
    } else {
        grid.print_table()
    }
}
