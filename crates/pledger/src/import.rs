//! `pledger import iati`: an IATI activity file, mapped by `pledger_iati`, signed with the
//! caller's key and appended in one durable group — all of it or, on failure, nothing
//! (`pledger_app::import`); this module reads the file and prints the report.

use std::io::Write;

use pledger_app::import::{Created, ImportReport as Report, ImportRequest, Reconciled};
use pledger_app::service::{Answer, Request, SecretKey};
use pledger_iati::map::{Step, Sums};

use crate::cli::{Format, Global, IatiArgs};
use crate::fail::Result;
use crate::output::{resolve, Grid};
use crate::session::{unexpected, Open, Session};
use crate::signing::{load_key, today};

pub fn iati(g: &Global, a: &IatiArgs) -> Result<()> {
    let path = a.file.display().to_string();
    let bytes = pledger_log::input::read(
        &a.file,
        pledger_iati::parse::MAX_FILE_BYTES as u64,
        "an IATI file",
        pledger_log::input::Source::Any,
    )?;
    let key = load_key(g)?;
    let mut session = Session::open(g, Open::Normal)?;
    let request = ImportRequest {
        file: path,
        to: a.to.clone(),
        country: a.country.clone(),
        reporting_org: a.reporting_org.clone(),
        lang: a.lang.clone(),
        all_countries: a.all_countries,
        define_only: a.define_only,
        dry_run: a.dry_run,
    };
    let ask = Request::Import {
        request,
        bytes,
        key: SecretKey(key.to_bytes()),
        as_member: g.as_member.clone(),
        today: today(),
    };
    let mut drawn = crate::progress::Drawn::new("importing", g.quiet);
    let answer = session.ask(ask, None, &mut |part| {
        drawn.take(&part);
        Ok(())
    })?;
    drawn.finish();
    match answer {
        Answer::Imported(report) => print(&report, resolve(a.format)),
        other => Err(unexpected(other)),
    }
}

fn print(r: &Report, format: Format) -> Result<()> {
    let mut out = crate::console::stdout();
    match format {
        Format::Json => {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::from)?;
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
    let count = |step: Step| r.recorded.iter().filter(|c| c.step == step).count();
    writeln!(
        out,
        "{}: {} of {} activities selected, {} commitments and {} disbursements or expenditures in the selection",
        r.file, r.selected, r.activities, r.commitments, r.deliveries
    )?;
    // A convener's --define-only records no transaction: it has no sums to reconcile.
    let defining = r.reconciliation.is_empty() && r.recorded.is_empty() && r.already.is_empty();
    if !defining {
        writeln!(
            out,
            "{verb}: {} pledges, {} increases, {} withdrawals, {} fulfillments, {} reversals",
            count(Step::Pledge),
            count(Step::Increase),
            count(Step::Withdrawal),
            count(Step::Delivery),
            count(Step::Reversal)
        )?;
    }
    if let Some(c) = &r.country {
        writeln!(out, "limited to what goes to {c} (--country; --all-countries for every country)")?;
    }
    if !r.other_publishers.is_empty() {
        let list: Vec<String> = r.other_publishers.iter().map(|(o, n)| format!("{n} of {o}")).collect();
        writeln!(out, "activities of other publishers, left alone: {}", list.join(", "))?;
    }
    if !r.already.is_empty() {
        writeln!(out, "already in the ledger from an earlier import: {} transactions", r.already.len())?;
    }
    if !r.areas_defined.is_empty() || !r.categories_defined.is_empty() {
        writeln!(
            out,
            "defined: {}",
            r.areas_defined.iter().chain(&r.categories_defined).cloned().collect::<Vec<_>>().join(", ")
        )?;
    }
    if !r.ignored.is_empty() {
        let list: Vec<String> =
            r.ignored.iter().map(|(c, n)| format!("{n} × {c} ({})", pledger_iati::map::type_name(c))).collect();
        writeln!(out, "other transaction types, left alone: {}", list.join(", "))?;
    }
    for c in &r.reconciliation {
        reconciliation(&mut out, c, verb)?;
    }
    if !r.unreadable.is_empty() {
        let list: Vec<String> = r.unreadable.iter().map(|u| format!("{} × {}", u.transactions, u.cause)).collect();
        writeln!(out, "not recorded, amount unreadable: {}", list.join(", "))?;
    }
    if !r.not_recorded.is_empty() {
        writeln!(out, "not recorded ({}), in file order:", r.not_recorded.len())?;
        for s in &r.not_recorded {
            match s.transaction {
                Some(t) => writeln!(out, "  line {}: activity {} transaction {t}: {}", s.line, s.activity, s.reason)?,
                None => writeln!(out, "  line {}: activity {}: {}", s.line, s.activity, s.reason)?,
            }
        }
    }
    Ok(out.flush()?)
}

/// One currency's sums: the file, what was recorded, found and not recorded (by reason), and
/// whether they add up.
fn reconciliation(out: &mut impl Write, c: &Reconciled, verb: &str) -> Result<()> {
    let unit = pledger_core::Unit::currency(&c.currency).ok();
    let money = |v: i128| match &unit {
        Some(u) => pledger_iati::map::signed(u, v),
        None => format!("{} {v} (minor units)", c.currency),
    };
    let mut grid = Grid::new(vec!["", "net commitments", "net deliveries"]);
    let mut row = |label: String, s: &Sums| grid.push(vec![label, money(s.commitments), money(s.deliveries)]);
    row(format!("{} in the file", c.currency), &c.file);
    row(verb.to_owned(), &c.recorded);
    if c.already != Sums::default() {
        row("already in the ledger".to_owned(), &c.already);
    }
    row("not recorded".to_owned(), &c.not_recorded);
    for reason in &c.reasons {
        row(format!("  {} ({})", reason.cause, reason.transactions), &reason.sums);
    }
    writeln!(out)?;
    writeln!(out, "{}", grid.table())?;
    if c.balanced() {
        writeln!(out, "{}: these add up to the file", c.currency)?;
    } else {
        writeln!(out, "{}: these do NOT add up to the file (a fault of pledger: please report it)", c.currency)?;
    }
    Ok(())
}

/// The import for a spreadsheet: one row per event recorded and per activity or transaction
/// not recorded, with the file's line, so the rest can be followed up.
fn outcomes_csv(r: &Report) -> Result<()> {
    let mut grid = Grid::new(vec![
        "outcome", "as", "id", "activity", "transaction", "line", "currency", "value", "cause", "reason",
    ]);
    let created = |outcome: &str, c: &Created| {
        let step = serde_json::to_value(c.step).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        vec![
            outcome.to_owned(),
            step,
            c.id.clone(),
            c.source.activity.clone(),
            c.source.transaction.to_string(),
            c.source.line.to_string(),
            c.currency.clone(),
            c.value.to_string(),
            String::new(),
            String::new(),
        ]
    };
    for c in &r.recorded {
        grid.push(created(if r.dry_run { "would record" } else { "recorded" }, c));
    }
    for c in &r.already {
        grid.push(created("already", c));
    }
    for s in &r.not_recorded {
        grid.push(vec![
            "not recorded".to_owned(),
            String::new(),
            String::new(),
            s.activity.clone(),
            s.transaction.map(|t| t.to_string()).unwrap_or_default(),
            s.line.to_string(),
            s.currency.clone().unwrap_or_default(),
            s.value.map(|v| v.to_string()).unwrap_or_default(),
            s.cause.clone(),
            s.reason.clone(),
        ]);
    }
    grid.print_csv()
}
