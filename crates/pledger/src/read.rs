//! Commands that read the ledger entry by entry: `log`, `show`, `members`.

use std::io::Write;

use pledger_app::read::{LogEntry, PledgeShown, Shown};
use pledger_app::service::{Answer, Request};
use pledger_core::event::format_time;

use crate::cli::{Format, Global};
use crate::fail::Result;
use crate::output::{col, num, resolve, Grid};
use crate::session::{unexpected, Open, Session};
use crate::signing::today;

fn log_json(e: &LogEntry) -> Result<String> {
    Ok(serde_json::to_string(e).map_err(std::io::Error::from)?)
}

pub fn log(g: &Global, from: u64, format: Option<Format>, remote: Option<&str>) -> Result<()> {
    let mut session = Session::reach_url(g, remote, Open::Normal)?;
    let format = resolve(format);
    let mut grid = Grid::of(vec![
        num("seq"),
        col("recorded").drop(2),
        col("id"),
        col("kind"),
        col("signer").drop(4),
        col("effective").drop(3),
        col("what").wrap(5),
    ]);
    let mut out = crate::console::stdout();
    session.ask(Request::Log { from }, None, &mut |part| {
        let Answer::Entry(e) = part else { return Ok(()) };
        match format {
            Format::Json => writeln!(out, "{}", log_json(&e)?)?,
            _ => grid.push(vec![
                e.seq.to_string(),
                format_time(&e.recorded),
                e.id,
                e.kind,
                e.signer,
                e.effective,
                e.summary,
            ]),
        }
        Ok(())
    })?;
    out.flush()?;
    drop(out);
    match format {
        Format::Table => grid.print_table(),
        Format::Csv => grid.print_csv(),
        Format::Json => Ok(()),
    }
}

pub fn show(g: &Global, id: &str, format: Option<Format>, remote: Option<&str>) -> Result<()> {
    let mut session = Session::reach_url(g, remote, Open::Normal)?;
    let format = resolve(format);
    let shown = match session.ask_one(Request::Show { id: id.to_owned(), today: today() })? {
        Answer::Shown(s) => s,
        other => return Err(unexpected(other)),
    };
    match shown {
        Shown::Pledge(p) => show_pledge(&p, format),
        Shown::Entry(e) => match format {
            Format::Json => Ok(crate::console::outln!("{}", log_json(&e)?)?),
            _ => {
                let mut grid = Grid::of(vec![col("field"), col("value").wrap(1)]);
                for (k, v) in [
                    ("seq", e.seq.to_string()),
                    ("recorded", pledger_log::entry::format_recorded(&e.recorded)),
                    ("id", e.id.clone()),
                    ("kind", e.kind.clone()),
                    ("signer", e.signer.clone()),
                    ("effective", e.effective.clone()),
                    ("summary", e.summary.clone()),
                    ("event id", e.event_id().to_owned()),
                    ("key", e.key().to_owned()),
                ] {
                    grid.push(vec![k.to_owned(), v]);
                }
                if format == Format::Csv {
                    grid.print_csv()
                } else {
                    grid.print_table()
                }
            }
        },
    }
}

fn show_pledge(p: &PledgeShown, format: Format) -> Result<()> {
    if format == Format::Json {
        let out = serde_json::json!({ "status": p.status, "pledge": p.pledge, "history": p.history });
        crate::console::outln!("{out}")?;
        return Ok(());
    }
    let status = &p.status;
    let u = status.measure();
    let field = |k: &str| p.pledge[k].as_str().unwrap_or_default().to_owned();
    let member = |k: &str| {
        let id = field(k);
        match p.names.get(&id) {
            Some(name) => format!("{name} ({id})"),
            None => id,
        }
    };
    let mut grid = Grid::of(vec![col("field"), col("value").wrap(1)]);
    for (k, v) in [
        ("pledge", status.id.to_string()),
        ("title", status.title.to_string()),
        ("pledger", member("pledger")),
        ("beneficiary", member("beneficiary")),
        ("category", field("category")),
        ("areas", status.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")),
        ("made", field("made")),
        ("due", status.due.to_string()),
        ("pledged", u.format(status.words)),
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
    if status.beyond > 0 {
        grid.push(vec!["delivered beyond the pledge".to_owned(), u.format(status.beyond)]);
    }
    for (i, t) in status.tranches.iter().enumerate() {
        let state = serde_json::to_value(t.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let mut v = format!("{} due {}: {state}", u.format(t.value), t.due);
        if let Some(m) = t.met {
            v.push_str(&format!(" {m}"));
        }
        if let Some(d) = t.days_late {
            v.push_str(&format!(" ({d} days late)"));
        }
        grid.push(vec![format!("tranche {}", i + 1), v]);
    }
    if format == Format::Csv {
        return grid.print_csv();
    }
    grid.print_table()?;
    let mut h = Grid::of(vec![
        num("seq"),
        col("recorded").drop(2),
        col("effective").drop(3),
        col("id"),
        col("signer").drop(4),
        col("what").wrap(5),
    ]);
    for e in &p.history {
        h.push(vec![
            e.seq.to_string(),
            format_time(&e.recorded),
            e.effective.clone(),
            e.id.clone(),
            e.signer.clone(),
            e.summary.clone(),
        ]);
    }
    crate::console::outln!()?;
    crate::console::outln!("History:")?;
    h.print_table()
}

pub fn members(g: &Global, format: Option<Format>, remote: Option<&str>) -> Result<()> {
    let mut session = Session::reach_url(g, remote, Open::Normal)?;
    let format = resolve(format);
    let members = match session.ask_one(Request::Members)? {
        Answer::Members(m) => m,
        other => return Err(unexpected(other)),
    };
    if format == Format::Json {
        return crate::project::print_json_lines(&members);
    }
    let mut grid = Grid::of(vec![
        col("id"),
        col("name").elide(4),
        col("kind"),
        col("convener").drop(3),
        col("keys").drop(5),
        col("IATI organisations").drop(1),
    ]);
    for m in &members {
        let keys: Vec<String> = m
            .keys
            .iter()
            .map(|k| match k.revoked {
                Some(r) => format!("{} (revoked at {r})", k.id),
                None => k.id.clone(),
            })
            .collect();
        grid.push(vec![
            m.id.clone(),
            m.name.clone(),
            m.kind.clone(),
            if m.convener { "yes".into() } else { String::new() },
            keys.join("\n"),
            m.iati_orgs.join("\n"),
        ]);
    }
    if format == Format::Csv {
        grid.print_csv()
    } else {
        grid.print_table()
    }
}
