//! The query commands: `status`, `scorecard`, `coverage`, `timeline`, `rebuild` and `compact`.
//! The figures are the application layer's answers (`pledger_app::query`); this module asks for
//! them — of the ledger opened here or of its server — and prints them.

use std::collections::BTreeMap;
use std::io::Write;

use pledger_app::query::{Described, QueryRequest, Rows};
use pledger_app::service::{Answer, Request};
use pledger_core::measure::format_decimal;
use pledger_core::projection::{self, format_halves, percent, PledgeStatus};
use pledger_core::Unit;
use pledger_store::{CompactPhase, Ledger};
use serde::Serialize;

use crate::cli::{Format, Global, QueryArgs};
use crate::fail::Result;
use crate::output::{print_sheet, resolve, Grid};
use crate::session::{unexpected, Open, Session};
use crate::signing::today;

/// The application's query of the command line's.
pub fn query_of(q: &QueryArgs) -> QueryRequest {
    QueryRequest { org: q.org.clone(), area: q.area.clone(), at: q.when.at, as_of: q.when.as_of.clone() }
}

/// Asks a query of the ledger.
fn ask(g: &Global, make: impl FnOnce(QueryRequest, pledger_core::Date) -> Request, q: &QueryArgs) -> Result<Answer> {
    let mut session = Session::reach_url(g, q.remote.as_deref(), Open::Normal)?;
    session.ask_one(make(query_of(q), today()))
}

/// Prints `rows` as JSON Lines, or, for a table or CSV, says which state of the ledger they
/// describe and hands over to `print`.
fn emit<T: Serialize>(rows: &Rows<T>, format: Format, print: impl FnOnce(Format) -> Result<()>) -> Result<()> {
    if format == Format::Json {
        return print_json_lines(&rows.rows);
    }
    caption(&rows.described, format);
    print(format)
}

/// Says which state of the ledger the figures describe, on stderr for people.
fn caption(d: &Described, format: Format) {
    if format == Format::Table {
        let when = match d.as_of {
            Some(date) => format!("as of {date}"),
            None => format!("judged on {}", d.eval),
        };
        let _ = writeln!(crate::console::stderr(), "{} — {} entries, {when}", d.origin, d.size);
    }
}

fn print_json_lines<T: Serialize>(rows: &[T]) -> Result<()> {
    let mut out = crate::console::stdout();
    for r in rows {
        serde_json::to_writer(&mut out, r).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn print(grid: &Grid, format: Format) -> Result<()> {
    match format {
        Format::Csv => grid.print_csv(),
        _ => grid.print_table(),
    }
}

/// A value for a table (`XOF 1,500,000`) or a spreadsheet (`1500000`, unit in its own column).
fn value(u: &Unit, v: impl Into<pledger_core::Total>, format: Format) -> String {
    match format {
        Format::Csv => format_decimal(v, u.exponent(), false),
        _ => u.format(v),
    }
}

fn list(v: &projection::Members) -> String {
    v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

pub fn status(g: &Global, q: &QueryArgs) -> Result<()> {
    let rows = match ask(g, |query, today| Request::Status { query, today }, q)? {
        Answer::Statuses(rows) => rows,
        other => return Err(unexpected(other)),
    };
    emit(&rows, resolve(q.format), |f| print_status(&rows.rows, f))
}

fn print_status(rows: &[PledgeStatus], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::status(rows));
    }
    let mut grid = Grid::new(vec![
        "pledge", "pledger", "to", "category", "areas", "words", "withdrawn", "claimed", "confirmed", "outstanding",
        "due", "state",
    ]);
    let mut totals: BTreeMap<Unit, [pledger_core::Total; 5]> = BTreeMap::new();
    for s in rows {
        let u = &s.measure();
        let t = totals.entry(u.clone()).or_default();
        for (i, v) in [s.words, s.withdrawn, s.claimed, s.confirmed, s.outstanding].into_iter().enumerate() {
            t[i] += pledger_core::Total::from(v);
        }
        let areas = s.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",");
        {
            let state = match (s.state, s.days_late) {
                (st, Some(d)) => format!("{} ({d} days late)", st.as_str()),
                (st, None) => st.as_str().to_owned(),
            };
            grid.push(vec![
                s.id.to_string(),
                s.pledger.to_string(),
                s.beneficiary.to_string(),
                s.category.to_string(),
                areas,
                value(u, s.words, f),
                value(u, s.withdrawn, f),
                value(u, s.claimed, f),
                value(u, s.confirmed, f),
                value(u, s.outstanding, f),
                s.due.to_string(),
                state,
            ]);
        }
    }
    if f == Format::Table {
        for (u, t) in &totals {
            let mut row =
                vec![format!("total {}", u.name()), String::new(), String::new(), String::new(), String::new()];
            row.extend(t.iter().map(|v| u.format(*v)));
            row.extend([String::new(), String::new()]);
            grid.push(row);
        }
    }
    print(&grid, f)
}

pub fn scorecard(g: &Global, q: &QueryArgs) -> Result<()> {
    let card = match ask(g, |query, today| Request::Scorecard { query, today }, q)? {
        Answer::Scorecard(rows) => rows,
        other => return Err(unexpected(other)),
    };
    emit(&card, resolve(q.format), |f| print_scorecard(&card.rows, f))
}

fn print_scorecard(card: &[projection::MemberScore], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::scorecard(card));
    }
    let mut grid = Grid::new(vec![
        "member", "pledges", "follow-through", "claimed", "withdrawn", "on time", "median delay (days)", "overdue",
        "words", "confirmed",
    ]);
    for m in card {
        let sums = |pick: &dyn Fn(&projection::UnitSums) -> pledger_core::Total| {
            m.sums.iter().filter_map(|s| s.measure().map(|u| value(&u, pick(s), f))).collect::<Vec<_>>().join("\n")
        };
        grid.push(vec![
            m.member.to_string(),
            m.pledges.to_string(),
            percent(m.follow_through_ppm),
            percent(m.claimed_rate_ppm),
            percent(m.withdrawn_share_ppm),
            match m.on_time_share_ppm {
                Some(p) => format!("{} ({}/{})", percent(p), m.on_time, m.judged),
                None => String::new(),
            },
            m.median_delay_half_days.map(format_halves).unwrap_or_default(),
            m.overdue.to_string(),
            sums(&|s| s.words),
            sums(&|s| s.confirmed),
        ]);
    }
    print(&grid, f)
}

pub fn coverage(g: &Global, q: &QueryArgs) -> Result<()> {
    let cov = match ask(g, |query, today| Request::Coverage { query, today }, q)? {
        Answer::Coverage(rows) => rows,
        other => return Err(unexpected(other)),
    };
    emit(&cov, resolve(q.format), |f| print_coverage(&cov.rows, f))
}

fn print_coverage(cov: &[projection::AreaCoverage], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::coverage(cov));
    }
    let mut grid = Grid::new(vec!["area", "level", "status", "pledging", "delivered", "categories"]);
    for a in cov {
        let name = format!("{}{} {}", "  ".repeat(a.depth), a.code, a.name);
        let cats = a
            .categories
            .iter()
            .map(|c| format!("{} ({})", c.category, c.status.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        grid.push(vec![
            name,
            a.level.as_str().to_owned(),
            a.status.as_str().to_owned(),
            list(&a.pledging),
            list(&a.delivered),
            cats,
        ]);
    }
    print(&grid, f)
}

pub fn timeline(g: &Global, q: &QueryArgs) -> Result<()> {
    let rows = match ask(g, |query, today| Request::Timeline { query, today }, q)? {
        Answer::Timeline(rows) => rows,
        other => return Err(unexpected(other)),
    };
    emit(&rows, resolve(q.format), |f| print_timeline(&rows.rows, f))
}

fn print_timeline(rows: &[projection::MonthRow], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::timeline(rows));
    }
    let mut grid = Grid::new(vec![
        "month", "unit", "members", "words", "due", "confirmed", "withdrawn", "words so far", "due so far",
        "confirmed so far", "withdrawn so far",
    ]);
    for r in rows {
        let u = &r.measure();
        grid.push(vec![
            r.month.clone(),
            u.name().to_owned(),
            r.members.to_string(),
            value(u, r.words, f),
            value(u, r.due, f),
            value(u, r.confirmed, f),
            value(u, r.withdrawn, f),
            value(u, r.words_total, f),
            value(u, r.due_total, f),
            value(u, r.confirmed_total, f),
            value(u, r.withdrawn_total, f),
        ]);
    }
    print(&grid, f)
}

pub fn rebuild(g: &Global) -> Result<()> {
    // Even a ledger whose last rebuild was interrupted.
    let mut session = Session::open(g, Open::Rebuild)?;
    let mut drawn = crate::progress::Drawn::new("rebuilding", g.quiet);
    let answer = session.ask(Request::Rebuild, None, &mut |part| {
        drawn.take(&part);
        Ok(())
    })?;
    drawn.finish();
    let Answer::Rebuilt { entries, changed } = answer else { return Err(unexpected(answer)) };
    if changed > 1 && !g.quiet {
        writeln!(
            crate::console::stderr(),
            "pledger: rebuilt from {entries} entries; {changed} stored records differed and were corrected"
        )?;
    }
    crate::console::outln!("{entries}")?;
    Ok(())
}

/// `pledger compact`: the store's compaction, with progress, then what it did in one line.
pub fn compact(g: &Global) -> Result<()> {
    let path = crate::session::ledger_path(g)?;
    if crate::serve::listening(path) {
        return Err(crate::fail::in_use(
            "the ledger is served by `pledger serve`, and compaction swaps its files: stop the server, then compact",
        ));
    }
    let copying = crate::progress::counter("copying keys", g.quiet);
    let mut comparing: Option<indicatif::ProgressBar> = None;
    let served = &mut || crate::serve::listening(path);
    let done =
        Ledger::compact(path, crate::serve::wait(g), served, &[crate::serve::SOCKET], &mut |phase, n| match phase {
            CompactPhase::Copying => copying.set_position(n),
            CompactPhase::Comparing => {
                copying.finish_and_clear();
                comparing.get_or_insert_with(|| crate::progress::counter("comparing keys", g.quiet)).set_position(n)
            }
        });
    copying.finish_and_clear();
    if let Some(pb) = comparing {
        pb.finish_and_clear();
    }
    let done = done?;
    if done.swapped {
        crate::console::outln!(
            "compacted {}: {} entries, {} keys copied and compared; {} → {} on disk",
            path.display(),
            done.entries,
            done.keys,
            megabytes(done.bytes_before),
            megabytes(done.bytes_after)
        )?;
    } else {
        crate::console::outln!(
            "{} is compact already: a fresh copy of its {} entries ({} keys, compared) took {} against its {}; left as it was",
            path.display(),
            done.entries,
            done.keys,
            megabytes(done.bytes_copy),
            megabytes(done.bytes_before)
        )?;
    }
    if let Some((old, why)) = done.left_behind {
        writeln!(
            crate::console::stderr(),
            "pledger: the former database stays at {} ({why}); remove it",
            old.display()
        )?;
    }
    Ok(())
}

/// Bytes as decimal megabytes with one decimal, as `du --si` would say them.
fn megabytes(bytes: u64) -> String {
    format!("{}.{} MB", bytes / 1_000_000, bytes % 1_000_000 / 100_000)
}

/// What `pledger demo` prints: who kept their word, and the coverage of the regions.
pub fn demo_summary(ledger: &Ledger, kept: Option<&std::path::Path>) -> Result<()> {
    let data = pledger_app::query::Data::head(ledger)?;
    let h = projection::Horizon::head(today());
    let statuses: Vec<PledgeStatus> =
        data.pledges.iter().filter_map(|p| projection::status(p, &data.fulfillments, &h)).collect();
    crate::console::outln!(
        "Mali, 2014–2016: {} signed events from {} members, in ledger {} (checkpoint of size {} kept).",
        ledger.size(),
        data.members.len(),
        data.origin,
        ledger.size()
    )?;
    crate::console::outln!()?;
    crate::console::outln!(
        "Who kept their word (follow-through: confirmed deliveries ÷ words, averaged over pledges):"
    )?;
    print_scorecard(&projection::scorecard(&statuses, &data.members, &[]), Format::Table)?;
    crate::console::outln!()?;
    crate::console::outln!("Coverage of the regions (covered: a confirmed delivery; promised: live pledges only):")?;
    let regions: Vec<projection::AreaCoverage> = projection::coverage(&statuses, &data.areas, None)
        .into_iter()
        .filter(|a| a.level <= pledger_core::event::Level::Region)
        .collect();
    print_coverage(&regions, Format::Table)?;
    let gaps: Vec<String> = regions
        .iter()
        .filter(|a| a.status == projection::Coverage::Gap)
        .map(|a| format!("{} {}", a.code, a.name))
        .collect();
    crate::console::outln!("Gaps: {}.", if gaps.is_empty() { "none".to_owned() } else { gaps.join(", ") })?;
    match kept {
        Some(p) => crate::console::outln!(
            "The ledger is kept in {}: try `pledger --ledger {} status` or `... verify`.",
            p.display(),
            p.display()
        )?,
        None => crate::console::outln!("Keep the ledger to explore it: pledger --ledger demo-ledger demo")?,
    }
    Ok(())
}
