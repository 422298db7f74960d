//! Reading the ledger entry by entry: the log, one pledge with its history or one entry, the
//! members and their keys.

use chrono::{DateTime, Utc};
use pledger_core::event::{Body, Event};
use pledger_core::ids::{EventId, ShortId};
use pledger_core::projection::{self, Horizon, PledgeStatus};
use pledger_core::state::{FulfillmentRecord, MemberRecord, PledgeRecord};
use pledger_core::{Date, FulfillmentId, Fulfillments, PledgeId, StateView};
use pledger_log::entry::format_recorded;
use pledger_log::Entry;
use pledger_store::Ledger;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// An entry as the log and a history show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Its place in the log.
    pub seq: u64,
    /// When the ledger recorded it, to the millisecond.
    #[serde(serialize_with = "recorded_text", deserialize_with = "recorded_time")]
    pub recorded: DateTime<Utc>,
    /// What it is known by: the short id it was given (P-000001), or what it is about.
    pub id: String,
    /// The event's kind (`pledge`).
    pub kind: String,
    /// The member who signed it.
    pub signer: String,
    /// Its effective date.
    pub effective: String,
    /// One line saying what it does.
    pub summary: String,
    /// The event as signed.
    pub event: Value,
}

fn recorded_text<S: Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_recorded(t))
}

fn recorded_time<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    pledger_core::event::parse_time(&text).map_err(serde::de::Error::custom)
}

impl LogEntry {
    /// The event's id, as signed.
    pub fn event_id(&self) -> &str {
        self.event["id"].as_str().unwrap_or_default()
    }

    /// The key id that signed it.
    pub fn key(&self) -> &str {
        self.event["key"].as_str().unwrap_or_default()
    }
}

/// The entry at `seq`, whose stored line is `line`, as the log shows it.
pub fn log_entry(ledger: &Ledger, seq: u64, line: &[u8]) -> Result<LogEntry> {
    let damaged = |e: &dyn std::fmt::Display| {
        Error::Store(pledger_store::StoreError::Corrupt(format!("entry {seq} is damaged: {e}")))
    };
    let entry = Entry::parse(line).map_err(|e| damaged(&e))?;
    let event = Event::parse(&entry.envelope.payload).map_err(|e| damaged(&e))?;
    let id = match event.kind().numbered() {
        Some(kind) => ledger.short_id_at(kind, seq)?.map(|s| s.to_string()).unwrap_or_default(),
        None => subject(&event),
    };
    Ok(LogEntry {
        seq: entry.seq,
        recorded: entry.recorded_at,
        id,
        kind: event.kind().as_str().to_owned(),
        signer: event.signer.to_string(),
        effective: event.effective.to_string(),
        summary: describe(&event),
        event: serde_json::from_slice(&entry.envelope.payload).unwrap_or(Value::Null),
    })
}

/// The log's entries from `from` on, oldest first, one at a time.
pub fn log(ledger: &Ledger, from: u64) -> impl Iterator<Item = Result<LogEntry>> + '_ {
    ledger.lines(from).map(move |item| {
        let (seq, line) = item?;
        log_entry(ledger, seq, &line)
    })
}

/// What an event that creates no numbered record is about: a member, key, area, category, or
/// the ledger itself.
fn subject(e: &Event) -> String {
    match &e.body {
        Body::Genesis(_) => e.origin.clone(),
        Body::MemberAdmitted(b) => b.member.to_string(),
        Body::KeyAdded(b) => b.public_key.key_id().to_string(),
        Body::KeyRevoked(b) => b.key.to_string(),
        Body::AreaDefined(b) => b.code.to_string(),
        Body::CategoryDefined(b) => b.code.to_string(),
        Body::Reversal(b) => b.fulfillment.to_string(),
        Body::IatiOrgAdded(b) => b.member.to_string(),
        _ => String::new(),
    }
}

/// One line saying what an event does, for logs and histories.
pub fn describe(e: &Event) -> String {
    match &e.body {
        Body::Genesis(b) => format!("founds ledger {}; convener {} ({})", e.origin, b.member, b.name),
        Body::MemberAdmitted(b) => format!(
            "admits {} ({}, {}{})",
            b.member,
            b.name,
            b.kind.as_str(),
            if b.convener { ", convener" } else { "" }
        ),
        Body::KeyAdded(b) => format!("adds key {} to {}", b.public_key.key_id(), b.member),
        Body::IatiOrgAdded(b) => format!("registers IATI organisation {} to {}", b.iati_org, b.member),
        Body::KeyRevoked(b) => format!("revokes key {} of {}", b.key, b.member),
        Body::AreaDefined(b) => match &b.parent {
            Some(p) => format!("area {} {} ({} in {p})", b.code, b.name, b.level.as_str()),
            None => format!("area {} {} ({})", b.code, b.name, b.level.as_str()),
        },
        Body::CategoryDefined(b) => format!("category {} ({})", b.code, b.name),
        Body::Pledge(b) if !b.tranches.is_empty() => format!(
            "{} to {} for {}, due {} in {} tranches ({}): {}",
            b.amount,
            b.to,
            b.category,
            b.due,
            b.tranches.len(),
            b.tranches.iter().map(|t| format!("{} by {}", t.amount, t.due)).collect::<Vec<_>>().join(", "),
            b.title
        ),
        Body::Pledge(b) => format!("{} to {} for {}, due {}: {}", b.amount, b.to, b.category, b.due, b.title),
        Body::Amendment(b) => {
            let mut parts = Vec::new();
            if let Some(m) = &b.increase {
                parts.push(format!("+{m}"));
            }
            if let Some(d) = &b.due {
                parts.push(format!("due {d}"));
            }
            if let Some(a) = &b.areas {
                parts.push(format!("areas {}", a.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",")));
            }
            if let Some(t) = &b.title {
                parts.push(format!("title {:?}", t.as_str()));
            }
            format!("amends {}: {}", b.pledge, parts.join(", "))
        }
        Body::Fulfillment(b) if b.beyond => format!("delivers {} of {}, beyond its words", b.amount, b.pledge),
        Body::Fulfillment(b) => format!("delivers {} of {}", b.amount, b.pledge),
        Body::Reversal(b) => format!("reverses {} of {}: {}", b.amount, b.fulfillment, b.reason),
        Body::Attestation(b) => format!("{} {}", b.verdict.as_str(), b.fulfillment),
        Body::Withdrawal(b) => match &b.amount {
            Some(m) => format!("withdraws {m} of {}: {}", b.pledge, b.reason),
            None => format!("withdraws what remains of {}: {}", b.pledge, b.reason),
        },
    }
}

/// Finds the entry an id names: `P-000001` and the other short ids, a sequence number, or an
/// event id.
pub fn find_seq(ledger: &Ledger, id: &str) -> Result<u64> {
    let not_found = || Error::not_found(format!("no entry {id} in this ledger"));
    if let Ok(short) = ShortId::parse(id) {
        return ledger.seq_of(short)?.ok_or_else(not_found);
    }
    if let Ok(event) = EventId::parse(id) {
        return ledger.seq_of_event(&event)?.ok_or_else(not_found);
    }
    match id.parse::<u64>() {
        Ok(seq) if seq < ledger.size() => Ok(seq),
        Ok(_) => Err(not_found()),
        Err(_) => Err(Error::usage(format!(
            "bad id {id:?}: give a pledge or other id (P-000001), a sequence number, or an event id"
        ))),
    }
}

/// What `show` answers: a pledge with its history, or one entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shown {
    /// A pledge with its history.
    Pledge(PledgeShown),
    /// One entry.
    Entry(LogEntry),
}

/// A pledge as it stands, with every entry that made or changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PledgeShown {
    /// Where the pledge stands.
    pub status: PledgeStatus,
    /// The pledge event's body as signed.
    pub pledge: Value,
    /// Every entry that made or changed it, in log order.
    pub history: Vec<LogEntry>,
    /// The names of its pledger and beneficiary, by id.
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}

/// One pledge (`P-000001`, or the pledge of `F-000001`) with its history, or one entry (any
/// other id, a sequence number or an event id); `today` judges the pledge.
pub fn show(ledger: &Ledger, id: &str, today: Date) -> Result<Shown> {
    if let Ok(pid) = PledgeId::parse(id) {
        return show_pledge(ledger, pid, today).map(Shown::Pledge);
    }
    if let Ok(fid) = FulfillmentId::parse(id) {
        if let Some(f) = ledger.view().fulfillment(fid)? {
            return show_pledge(ledger, f.pledge, today).map(Shown::Pledge);
        }
    }
    let seq = find_seq(ledger, id)?;
    let line = ledger.line(seq)?.ok_or_else(|| Error::not_found(format!("no entry {seq}")))?;
    log_entry(ledger, seq, &line).map(Shown::Entry)
}

fn show_pledge(ledger: &Ledger, id: PledgeId, today: Date) -> Result<PledgeShown> {
    let view = ledger.view();
    let p = view.pledge(id)?.ok_or_else(|| Error::not_found(format!("unknown pledge {id}")))?;
    let fulfillments: Fulfillments = p
        .fulfillments
        .iter()
        .filter_map(|f| view.fulfillment(*f).ok().flatten())
        .map(|f| (f.id, f.into_owned()))
        .collect();
    let status = projection::status(&p, &fulfillments, &Horizon::head(today))
        .ok_or_else(|| Error::not_found(format!("pledge {id} has no status")))?;
    let mut history = Vec::new();
    for seq in &p.events {
        let line = ledger
            .line(*seq)?
            .ok_or_else(|| Error::Store(pledger_store::StoreError::Corrupt(format!("entry {seq} is missing"))))?;
        history.push(log_entry(ledger, *seq, &line)?);
    }
    let fs: Vec<FulfillmentRecord> = fulfillments.values().cloned().collect();
    let mut names = std::collections::BTreeMap::new();
    for m in [&p.pledger, &p.beneficiary] {
        if let Some(r) = view.member(m)? {
            names.insert(m.to_string(), r.name.to_string());
        }
    }
    Ok(PledgeShown { status, pledge: pledge_json(&p, &fs), history, names })
}

/// A pledge's record as JSON: its figures, dates, and fulfillments with their verdicts.
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
        "pledged": p.words(),
        "withdrawn": p.withdrawn,
        "claimed": p.claimed,
        "confirmed": p.confirmed,
        "disputed": p.disputed,
        "undelivered": p.undelivered(),
        "beyond": p.beyond(),
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
            "reversed": f.reversals.iter().map(|r| json!({
                "value": r.value,
                "date": r.date.to_string(),
                "seq": r.seq,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// A member and its keys, as `members` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberShown {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Whether it is a convener.
    pub convener: bool,
    /// The entry that admitted it.
    pub admitted: u64,
    /// Its keys, revoked ones included.
    pub keys: Vec<KeyShown>,
    /// The IATI organisation identifiers it publishes under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iati_orgs: Vec<String>,
}

/// A key, as `members` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyShown {
    /// Its key id.
    pub id: String,
    /// The entry that added it.
    pub added: u64,
    /// The entry that revoked it, if any.
    pub revoked: Option<u64>,
}

impl From<&MemberRecord> for MemberShown {
    fn from(m: &MemberRecord) -> Self {
        MemberShown {
            id: m.id.to_string(),
            name: m.name.to_string(),
            kind: m.kind.as_str().to_owned(),
            convener: m.convener,
            admitted: m.admitted_seq,
            keys: m
                .keys
                .iter()
                .map(|k| KeyShown { id: k.id.to_string(), added: k.added_seq, revoked: k.revoked_seq })
                .collect(),
            iati_orgs: m.iati_orgs.iter().map(|o| o.to_string()).collect(),
        }
    }
}

/// The members and their keys.
pub fn members(ledger: &Ledger) -> Result<Vec<MemberShown>> {
    Ok(ledger.members()?.iter().map(MemberShown::from).collect())
}
