//! `pledger report --html FILE`: the self-contained HTML report (`pledger_app::report`), written
//! to FILE.

use std::io::Write as _;

use pledger_app::query::QueryRequest;
use pledger_app::service::{Answer, Request};

use crate::cli::{Global, ReportArgs};
use crate::fail::{input, Result};
use crate::session::{unexpected, Open, Session};
use crate::signing::today;

pub fn write(g: &Global, a: &ReportArgs) -> Result<()> {
    let mut session = Session::reach_url(g, a.remote.as_deref(), Open::Normal)?;
    let when = QueryRequest { org: None, area: None, at: a.when.at, as_of: a.when.as_of.clone() };
    let report = match session.ask_one(Request::Report { when, today: today() })? {
        Answer::Report(r) => r,
        // Over --remote: the page, as the server made it.
        Answer::Bytes(html) => {
            std::fs::write(&a.html, &html).map_err(|e| input(format!("{}: {e}", a.html.display())))?;
            if !g.quiet {
                writeln!(
                    crate::console::stderr(),
                    "pledger: wrote {} from {}",
                    a.html.display(),
                    a.remote.as_deref().unwrap_or_default()
                )?;
            }
            return Ok(());
        }
        other => return Err(unexpected(other)),
    };
    std::fs::write(&a.html, &report.html).map_err(|e| input(format!("{}: {e}", a.html.display())))?;
    if !g.quiet {
        let p = &report.provenance;
        writeln!(
            crate::console::stderr(),
            "pledger: wrote {} — {} at size {}, root {}",
            a.html.display(),
            p.origin,
            p.size,
            hex::encode(p.root)
        )?;
    }
    Ok(())
}
