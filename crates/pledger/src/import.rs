//! `pledger import iati`: an IATI activity file, mapped by `pledger_iati`, signed with the
//! caller's key and appended in one durable group — all of it or, on failure, nothing
//! (`pledger_app::import`); this module reads the file and prints the report.

use std::io::Write;

use pledger_app::import::{Created, ImportReport as Report, ImportRequest};
use pledger_app::service::{Answer, Request, SecretKey};

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
