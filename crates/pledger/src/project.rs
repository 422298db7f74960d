//! The query commands: `status`, `scorecard`, `coverage`, `timeline`, `rebuild` and `compact`. The
//! figures come from `pledger_core::projection`; this module chooses the records (the head, or
//! the first N entries replayed), filters them and prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use pledger_core::measure::format_decimal;
use pledger_core::projection::{self, format_halves, percent, Horizon, PledgeStatus};
use pledger_core::state::{AreaRecord, MemberRecord, PledgeRecord};
use pledger_core::{AreaCode, Date, Fulfillments, MemState, MemberId, Unit};
use pledger_store::{CompactPhase, Ledger, WithFulfillments};
use serde::Serialize;

use crate::cli::{Format, Global, QueryArgs};
use crate::fail::{refused, Result};
use crate::output::{resolve, Grid};
use crate::write::{open_ledger, today};

/// The records a query reads.
pub struct Data {
    pub origin: String,
    /// Entries the records reflect.
    pub size: u64,
    /// The key that signs checkpoints at that size.
    pub log_key: Option<pledger_core::event::PublicKey>,
    pub members: Vec<MemberRecord>,
    pub areas: Vec<AreaRecord>,
    pub pledges: Vec<PledgeRecord>,
    pub fulfillments: Fulfillments,
}

impl Data {
    /// The head's records, read from the store: no replay.
    pub fn head(ledger: &Ledger) -> Result<Data> {
        Data::head_with(ledger, ledger.pledges()?, ledger.fulfillments()?)
    }

    /// The head's members and areas, with these of its pledges and fulfillments.
    fn head_with(ledger: &Ledger, pledges: Vec<PledgeRecord>, fulfillments: Fulfillments) -> Result<Data> {
        Ok(Data {
            origin: ledger.head().state.origin.clone(),
            size: ledger.size(),
            log_key: ledger.head().state.log_key,
            members: ledger.members()?,
            areas: ledger.areas()?,
            pledges,
            fulfillments,
        })
    }

    /// The head's records that concern one member: its pledges, made or received, read through
    /// the member index, with `which` of their fulfillments (every record when the ledger has
    /// no index).
    pub fn head_of(ledger: &Ledger, member: &MemberId, which: WithFulfillments) -> Result<Data> {
        let Some(records) = ledger.records_of(member, which)? else {
            return Data::head(ledger);
        };
        Data::head_with(ledger, records.pledges, records.fulfillments)
    }

    /// The records of an in-memory state (the first N entries, replayed).
    pub fn of_state(s: MemState) -> Data {
        Data {
            origin: s.head.origin.clone(),
            size: s.head.size,
            log_key: s.head.log_key,
            members: s.members.into_values().collect(),
            areas: s.areas.into_values().collect(),
            pledges: s.pledges.into_values().collect(),
            fulfillments: s.fulfillments,
        }
    }
}

/// What a query reads at the head, beside the members and areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reads {
    /// No pledge: the figures come from the tallies.
    Tallies,
    /// The pledges, with the fulfillments their statuses read (a member's: only its fulfilled
    /// pledges').
    Statuses,
    /// The pledges and every fulfillment of theirs (a timeline, a report).
    Records,
}

/// A query's records, horizon and filters, resolved.
pub struct Query {
    pub data: Data,
    pub horizon: Horizon,
    pub org: Option<MemberId>,
    pub area: Option<BTreeSet<AreaCode>>,
    pub area_root: Option<AreaCode>,
    pub format: Format,
}

impl Query {
    /// The query on a ledger already open, with every record it concerns (a report).
    pub fn of(ledger: &Ledger, q: &QueryArgs) -> Result<Query> {
        Query::reading(ledger, q, Reads::Records)
    }

    /// The query on a ledger already open, reading what `reads` says.
    fn reading(ledger: &Ledger, q: &QueryArgs, reads: Reads) -> Result<Query> {
        let horizon = match &q.when.as_of {
            Some(d) => Horizon::as_of(Date::parse(d)?),
            None => Horizon::head(today()),
        };
        let org = q.org.as_deref().map(MemberId::parse).transpose()?;
        let area_root = q.area.as_deref().map(AreaCode::parse).transpose()?;
        let data = match q.when.at {
            Some(n) if n > ledger.size() => {
                return Err(refused(format!("--at {n}: the ledger has only {} entries", ledger.size())))
            }
            Some(n) => Data::of_state(ledger.replay(n)?),
            None => match (reads, &org) {
                (Reads::Tallies, _) => Data::head_with(ledger, Vec::new(), Fulfillments::new())?,
                (Reads::Statuses, Some(o)) => Data::head_of(ledger, o, WithFulfillments::ForHeadStatus)?,
                (Reads::Records, Some(o)) => Data::head_of(ledger, o, WithFulfillments::All)?,
                (_, None) => Data::head(ledger)?,
            },
        };
        if let Some(o) = &org {
            if !data.members.iter().any(|m| &m.id == o) {
                return Err(refused(format!("unknown member {o}")));
            }
        }
        let area = match &area_root {
            Some(a) if !data.areas.iter().any(|r| &r.code == a) => return Err(refused(format!("unknown area {a}"))),
            Some(a) => Some(projection::subtree(&data.areas, a)),
            None => None,
        };
        Ok(Query { data, horizon, org, area, area_root, format: resolve(q.format) })
    }

    /// The statuses of the pledges the filters keep; `involving` also keeps pledges the
    /// member received.
    pub fn statuses(&self, involving: bool) -> Vec<PledgeStatus> {
        self.data
            .pledges
            .iter()
            .filter_map(|p| projection::status(p, &self.data.fulfillments, &self.horizon))
            .filter(|s| self.org.as_ref().is_none_or(|o| &s.pledger == o || (involving && &s.beneficiary == o)))
            .filter(|s| self.area.as_ref().is_none_or(|set| s.areas.iter().any(|a| set.contains(a))))
            .collect()
    }

    /// Prints `rows` as JSON Lines, or, for a table or CSV, says which state of the ledger they
    /// describe and hands over to `print`.
    fn emit<T: Serialize>(&self, rows: &[T], print: impl FnOnce(Format) -> Result<()>) -> Result<()> {
        if self.format == Format::Json {
            return print_json_lines(rows);
        }
        self.caption();
        print(self.format)
    }

    /// Says which state of the ledger the figures describe, on stderr for people.
    fn caption(&self) {
        if self.format == Format::Table {
            let when = match self.horizon.as_of {
                Some(d) => format!("as of {d}"),
                None => format!("judged on {}", self.horizon.eval),
            };
            let _ = writeln!(crate::console::stderr(), "{} — {} entries, {when}", self.data.origin, self.data.size);
        }
    }
}

fn print_json_lines<T: Serialize>(rows: &[T]) -> Result<()> {
    let mut out = crate::console::stdout();
    for r in rows {
        serde_json::to_writer(&mut out, r).map_err(|e| refused(e.to_string()))?;
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
    let query = Query::reading(&*open_ledger(g)?, q, Reads::Statuses)?;
    let rows = query.statuses(true);
    query.emit(&rows, |f| print_status(&rows, f))
}

fn print_status(rows: &[PledgeStatus], f: Format) -> Result<()> {
    let mut grid = Grid::new(if f == Format::Csv {
        vec![
            "pledge", "pledger", "beneficiary", "category", "areas", "unit", "words", "withdrawn", "claimed",
            "confirmed", "disputed", "outstanding", "made", "due", "state", "met", "days_late", "title",
        ]
    } else {
        vec![
            "pledge", "pledger", "to", "category", "areas", "words", "withdrawn", "claimed", "confirmed",
            "outstanding", "due", "state",
        ]
    });
    let mut totals: BTreeMap<Unit, [pledger_core::Total; 5]> = BTreeMap::new();
    for s in rows {
        let u = &s.measure();
        let t = totals.entry(u.clone()).or_default();
        for (i, v) in [s.words, s.withdrawn, s.claimed, s.confirmed, s.outstanding].into_iter().enumerate() {
            t[i] += pledger_core::Total::from(v);
        }
        let areas = s.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",");
        if f == Format::Csv {
            grid.push(vec![
                s.id.to_string(),
                s.pledger.to_string(),
                s.beneficiary.to_string(),
                s.category.to_string(),
                areas,
                u.name().to_owned(),
                value(u, s.words, f),
                value(u, s.withdrawn, f),
                value(u, s.claimed, f),
                value(u, s.confirmed, f),
                value(u, s.disputed, f),
                value(u, s.outstanding, f),
                s.made.to_string(),
                s.due.to_string(),
                s.state.as_str().to_owned(),
                s.met.map(|d| d.to_string()).unwrap_or_default(),
                s.days_late.map(|d| d.to_string()).unwrap_or_default(),
                s.title.to_string(),
            ]);
        } else {
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

/// Whether a query can read the head's tallies instead of every pledge: at the head, judged on
/// today, on a ledger that keeps them (see `pledger_core::tally`).
fn tallied(ledger: &Ledger, q: &QueryArgs) -> bool {
    q.when.at.is_none() && q.when.as_of.is_none() && ledger.is_tallied()
}

/// The store said it keeps tallies, then had none.
fn no_tallies() -> crate::fail::Failure {
    refused("the ledger's tallies are missing; run `pledger rebuild`")
}

pub fn scorecard(g: &Global, q: &QueryArgs) -> Result<()> {
    let ledger = open_ledger(g)?;
    // An area filter keeps a member's pledges there only: that needs the pledges.
    let fast = q.area.is_none() && tallied(&ledger, q);
    let query = Query::reading(&ledger, q, if fast { Reads::Tallies } else { Reads::Statuses })?;
    let always: Vec<MemberId> = query.org.iter().cloned().collect();
    let members: Vec<MemberRecord> =
        query.data.members.iter().filter(|m| query.org.as_ref().is_none_or(|o| &m.id == o)).cloned().collect();
    let card = if fast {
        ledger.scorecard(&members, &always, query.horizon.eval)?.ok_or_else(no_tallies)?
    } else {
        projection::scorecard(&query.statuses(false), &members, &always)
    };
    query.emit(&card, |f| print_scorecard(&card, f))
}

fn print_scorecard(card: &[projection::MemberScore], f: Format) -> Result<()> {
    if f == Format::Csv {
        return scorecard_csv(card);
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

/// The scorecard for a spreadsheet: one row per member and unit, so that sums can be added up
/// and pivoted; shares as exact decimal fractions (`0.625000`), money in major units.
fn scorecard_csv(card: &[projection::MemberScore]) -> Result<()> {
    let mut grid = Grid::new(vec![
        "member", "name", "kind", "pledges", "follow_through", "claimed_rate", "withdrawn_share", "on_time_share",
        "judged", "on_time", "median_delay_days", "overdue", "unit", "words", "withdrawn", "claimed", "confirmed",
    ]);
    let share = |ppm: u64| format_decimal(ppm, 6, false);
    for m in card {
        let common = vec![
            m.member.to_string(),
            m.name.to_string(),
            m.kind.as_str().to_owned(),
            m.pledges.to_string(),
            share(m.follow_through_ppm),
            share(m.claimed_rate_ppm),
            share(m.withdrawn_share_ppm),
            m.on_time_share_ppm.map(share).unwrap_or_default(),
            m.judged.to_string(),
            m.on_time.to_string(),
            m.median_delay_half_days.map(format_halves).unwrap_or_default(),
            m.overdue.to_string(),
        ];
        let units: Vec<(Unit, &projection::UnitSums)> =
            m.sums.iter().filter_map(|s| s.measure().map(|u| (u, s))).collect();
        if units.is_empty() {
            let mut row = common.clone();
            row.extend(std::iter::repeat_n(String::new(), 5));
            grid.push(row);
        }
        for (u, s) in units {
            let mut row = common.clone();
            row.push(u.name().to_owned());
            row.extend([s.words, s.withdrawn, s.claimed, s.confirmed].map(|v| value(&u, v, Format::Csv)));
            grid.push(row);
        }
    }
    grid.print_csv()
}

pub fn coverage(g: &Global, q: &QueryArgs) -> Result<()> {
    let ledger = open_ledger(g)?;
    let fast = tallied(&ledger, q);
    let query = Query::reading(&ledger, q, if fast { Reads::Tallies } else { Reads::Statuses })?;
    let cov = if fast {
        let (areas, root) = (&query.data.areas, query.area_root.as_ref());
        ledger.coverage(areas, root, query.org.as_ref())?.ok_or_else(no_tallies)?
    } else {
        projection::coverage(&query.statuses(false), &query.data.areas, query.area_root.as_ref())
    };
    query.emit(&cov, |f| print_coverage(&cov, f))
}

fn print_coverage(cov: &[projection::AreaCoverage], f: Format) -> Result<()> {
    if f == Format::Csv {
        let mut grid =
            Grid::new(vec!["area", "name", "level", "parent", "status", "pledging", "delivered", "categories"]);
        for a in cov {
            let cats: Vec<String> =
                a.categories.iter().map(|c| format!("{}:{}", c.category, c.status.as_str())).collect();
            grid.push(vec![
                a.code.to_string(),
                a.name.to_string(),
                a.level.as_str().to_owned(),
                a.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                a.status.as_str().to_owned(),
                list(&a.pledging),
                list(&a.delivered),
                cats.join(", "),
            ]);
        }
        return grid.print_csv();
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
    let ledger = open_ledger(g)?;
    // The tallies hold everyone's months: a filter needs the pledges.
    let fast = q.org.is_none() && q.area.is_none() && tallied(&ledger, q);
    let query = Query::reading(&ledger, q, if fast { Reads::Tallies } else { Reads::Records })?;
    let rows = if fast {
        ledger.timeline()?.ok_or_else(no_tallies)?
    } else {
        let keep: BTreeSet<_> = query.statuses(false).into_iter().map(|s| s.id).collect();
        let pledges: Vec<&PledgeRecord> = query.data.pledges.iter().filter(|p| keep.contains(&p.id)).collect();
        projection::timeline(&pledges, &query.data.fulfillments, &query.horizon)
    };
    query.emit(&rows, |f| print_timeline(&rows, f))
}

fn print_timeline(rows: &[projection::MonthRow], f: Format) -> Result<()> {
    let mut grid = Grid::new(vec![
        "month", "unit", "members", "words", "confirmed", "withdrawn", "words so far", "confirmed so far",
        "withdrawn so far",
    ]);
    for r in rows {
        let u = &r.measure();
        grid.push(vec![
            r.month.clone(),
            u.name().to_owned(),
            r.members.to_string(),
            value(u, r.words, f),
            value(u, r.confirmed, f),
            value(u, r.withdrawn, f),
            value(u, r.words_total, f),
            value(u, r.confirmed_total, f),
            value(u, r.withdrawn_total, f),
        ]);
    }
    print(&grid, f)
}

pub fn rebuild(g: &Global) -> Result<()> {
    // Even a ledger whose last rebuild was interrupted.
    let mut ledger = crate::write::open_with(g, Ledger::open_for_rebuild)?;
    let pb = crate::progress::bar(ledger.size().max(1), "rebuilding", g.quiet);
    let (n, changed) = ledger.rebuild(|done| pb.set_position(done))?;
    pb.finish_and_clear();
    if changed > 1 && !g.quiet {
        writeln!(
            crate::console::stderr(),
            "pledger: rebuilt from {n} entries; {changed} stored records differed and were corrected"
        )?;
    }
    crate::console::outln!("{n}")?;
    Ok(())
}

/// `pledger compact`: the store's compaction, with progress, then what it did in one line.
pub fn compact(g: &Global) -> Result<()> {
    if g.served.ledger().is_some() {
        return Err(crate::fail::in_use(
            "the ledger is served by `pledger serve`, and compaction swaps its files: stop the server, then compact",
        ));
    }
    let path = crate::write::ledger_path(g)?;
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
    let data = Data::head(ledger)?;
    let h = Horizon::head(today());
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
