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

use crate::cli::{Format, Global, QueryArgs, StatusArgs, StatusSort};
use crate::fail::Result;
use crate::output::{col, num, print_sheet, resolve, Grid};
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

/// Prints `rows` as JSON Lines, one object a line.
pub fn print_json_lines<T: Serialize>(rows: &[T]) -> Result<()> {
    let mut out = crate::console::stdout();
    for r in rows {
        serde_json::to_writer(&mut out, r).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// A value for a table (`1,500,000`, its unit in a column of its own) or a spreadsheet
/// (`1500000`).
fn value(u: &Unit, v: impl Into<pledger_core::Total>, format: Format) -> String {
    format_decimal(v, u.exponent(), format == Format::Table)
}

/// A member as people read it: its name (its id when the ledger names none).
fn name<'a>(names: &'a Names, id: &'a pledger_core::MemberId) -> &'a str {
    names.get(id.as_str()).map(String::as_str).unwrap_or(id.as_str())
}

fn names(n: &Names, v: &projection::Members) -> String {
    v.iter().map(|m| name(n, m)).collect::<Vec<_>>().join(", ")
}

/// Members' names by id.
type Names = BTreeMap<String, String>;

pub fn status(g: &Global, s: &StatusArgs) -> Result<()> {
    let q = &s.query;
    let mut rows = match ask(g, |query, today| Request::Status { query, today }, q)? {
        Answer::Statuses(rows) => rows,
        other => return Err(unexpected(other)),
    };
    let found = rows.rows.len();
    select(&mut rows.rows, s);
    let format = resolve(q.format);
    emit(&rows, format, |f| print_status(&rows.described.names, &rows.rows, f))?;
    if format == Format::Table && rows.rows.len() < found {
        let _ = writeln!(crate::console::stderr(), "{} of {found} pledges shown", rows.rows.len());
    }
    Ok(())
}

/// The pledges `--state`, `--sort` and `--limit` keep, in their order.
fn select(rows: &mut Vec<PledgeStatus>, s: &StatusArgs) {
    if !s.state.is_empty() {
        rows.retain(|r| s.state.iter().any(|st| st.is(r.state)));
    }
    match s.sort {
        StatusSort::Pledge => {}
        StatusSort::Due => rows.sort_by_key(|r| (r.due, r.id)),
        StatusSort::Late => rows.sort_by_key(|r| (std::cmp::Reverse(r.days_late.unwrap_or(i64::MIN)), r.id)),
        StatusSort::Pledged => rows.sort_by_key(|r| (r.measure(), std::cmp::Reverse(r.words), r.id)),
        StatusSort::Outstanding => rows.sort_by_key(|r| (r.measure(), std::cmp::Reverse(r.outstanding), r.id)),
        StatusSort::Pledger => rows.sort_by(|a, b| a.pledger.cmp(&b.pledger).then(a.id.cmp(&b.id))),
    }
    if let Some(n) = s.limit {
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
}

fn print_status(d: &Names, rows: &[PledgeStatus], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::status(rows));
    }
    let mut grid = Grid::of(vec![
        col("pledge"),
        col("pledger").elide(10),
        col("to").elide(2),
        col("title").elide(9),
        col("category").drop(3),
        col("areas").drop(1),
        col("due").drop(7),
        col("state"),
        num("days late").drop(6),
        col("unit"),
        num("pledged"),
        num("withdrawn").drop(4),
        num("claimed").drop(5),
        num("confirmed"),
        num("outstanding").drop(8),
    ]);
    let mut totals: BTreeMap<Unit, (u64, [pledger_core::Total; 5])> = BTreeMap::new();
    for s in rows {
        let u = &s.measure();
        let t = totals.entry(u.clone()).or_default();
        t.0 += 1;
        for (i, v) in [s.words, s.withdrawn, s.claimed, s.confirmed, s.outstanding].into_iter().enumerate() {
            t.1[i] += pledger_core::Total::from(v);
        }
        grid.push(vec![
            s.id.to_string(),
            name(d, &s.pledger).to_owned(),
            name(d, &s.beneficiary).to_owned(),
            s.title.to_string(),
            s.category.to_string(),
            s.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(","),
            s.due.to_string(),
            s.state.as_str().to_owned(),
            s.days_late.map(|d| d.to_string()).unwrap_or_default(),
            u.name().to_owned(),
            value(u, s.words, f),
            value(u, s.withdrawn, f),
            value(u, s.claimed, f),
            value(u, s.confirmed, f),
            value(u, s.outstanding, f),
        ]);
    }
    grid.print_table()?;
    if totals.is_empty() {
        return Ok(());
    }
    let mut sums = Grid::of(vec![
        col("total in"),
        num("pledges"),
        num("pledged"),
        num("withdrawn").drop(1),
        num("claimed").drop(2),
        num("confirmed"),
        num("outstanding").drop(3),
    ]);
    for (u, (n, t)) in &totals {
        let mut row = vec![u.name().to_owned(), n.to_string()];
        row.extend(t.iter().map(|v| value(u, *v, f)));
        sums.push(row);
    }
    crate::console::outln!()?;
    sums.print_table()
}

pub fn scorecard(g: &Global, q: &QueryArgs) -> Result<()> {
    let card = match ask(g, |query, today| Request::Scorecard { query, today }, q)? {
        Answer::Scorecard(rows) => rows,
        other => return Err(unexpected(other)),
    };
    emit(&card, resolve(q.format), |f| print_scorecard(&card.rows, f))
}

/// Each unit's sum on a line of its own: `USD 750,000.00`.
fn per_unit(m: &projection::MemberScore, pick: impl Fn(&projection::UnitSums) -> String) -> String {
    m.sums.iter().map(pick).collect::<Vec<_>>().join("\n")
}

fn print_scorecard(card: &[projection::MemberScore], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::scorecard(card));
    }
    let mut grid = Grid::of(vec![
        col("member").elide(9),
        col("id").drop(2),
        num("pledges"),
        num("follow-through (per pledge)"),
        col("confirmed of pledged (by value)").drop(8),
        num("claimed").drop(4),
        num("withdrawn").drop(3),
        num("on time").drop(5),
        num("median delay (days)").drop(1),
        num("overdue").drop(6),
        num("pledged").drop(7),
        num("confirmed").drop(7),
    ]);
    for m in card {
        let amount = |pick: fn(&projection::UnitSums) -> pledger_core::Total| {
            per_unit(m, |s| s.measure().map(|u| u.format(pick(s))).unwrap_or_default())
        };
        grid.push(vec![
            m.name.to_string(),
            m.member.to_string(),
            m.pledges.to_string(),
            percent(m.follow_through_ppm),
            per_unit(m, |s| {
                let unit = s.measure().map(|u| u.name().to_owned()).unwrap_or_default();
                match s.words.checked_sub(s.withdrawn) {
                    Some(live) => format!("{} {unit}", percent(projection::ratio_of_totals_ppm(s.confirmed, live))),
                    None => format!("— {unit}"),
                }
            }),
            percent(m.claimed_rate_ppm),
            percent(m.withdrawn_share_ppm),
            match m.on_time_share_ppm {
                Some(p) => format!("{} ({}/{})", percent(p), m.on_time, m.judged),
                None => String::new(),
            },
            m.median_delay_half_days.map(format_halves).unwrap_or_default(),
            m.overdue.to_string(),
            amount(|s| s.words),
            amount(|s| s.confirmed),
        ]);
    }
    grid.print_table()
}

pub fn coverage(g: &Global, q: &QueryArgs) -> Result<()> {
    let cov = match ask(g, |query, today| Request::Coverage { query, today }, q)? {
        Answer::Coverage(rows) => rows,
        other => return Err(unexpected(other)),
    };
    emit(&cov, resolve(q.format), |f| print_coverage(&cov.described.names, &cov.rows, f))
}

fn print_coverage(d: &Names, cov: &[projection::AreaCoverage], f: Format) -> Result<()> {
    if f == Format::Csv {
        return print_sheet(&pledger_app::sheet::coverage(cov));
    }
    let mut grid = Grid::of(vec![
        col("area"),
        col("name").elide(5),
        col("level").drop(1),
        col("status"),
        col("pledging").elide(3),
        col("delivered").elide(4),
        col("categories").wrap(2),
    ]);
    for a in cov {
        let cats = a
            .categories
            .iter()
            .map(|c| format!("{}: {}", c.category, c.status.as_str()))
            .collect::<Vec<_>>()
            .join("\n");
        grid.push(vec![
            format!("{}{}", "  ".repeat(a.depth), a.code),
            a.name.to_string(),
            a.level.as_str().to_owned(),
            a.status.as_str().to_owned(),
            names(d, &a.pledging),
            names(d, &a.delivered),
            cats,
        ]);
    }
    grid.print_table()
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
    let mut grid = Grid::of(vec![
        col("month"),
        col("unit"),
        num("members").drop(4),
        num("pledged"),
        num("due").drop(3),
        num("confirmed"),
        num("withdrawn").drop(2),
        num("pledged so far").drop(8),
        num("due so far").drop(5),
        num("confirmed so far").drop(7),
        num("withdrawn so far").drop(1),
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
    grid.print_table()
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
            "the ledger is served by `pledger serve`, and compaction swaps its files: stop the server (one started on first use stops by itself once idle), then compact",
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
        "Who kept their word (follow-through: confirmed deliveries ÷ pledged, averaged over pledges):"
    )?;
    print_scorecard(&projection::scorecard(&statuses, &data.members, &[]), Format::Table)?;
    crate::console::outln!()?;
    crate::console::outln!("Coverage of the regions (covered: a confirmed delivery; promised: live pledges only):")?;
    let regions: Vec<projection::AreaCoverage> = projection::coverage(&statuses, &data.areas, None)
        .into_iter()
        .filter(|a| a.level <= pledger_core::event::Level::Region)
        .collect();
    let names: Names = data.members.iter().map(|m| (m.id.to_string(), m.name.to_string())).collect();
    print_coverage(&names, &regions, Format::Table)?;
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
