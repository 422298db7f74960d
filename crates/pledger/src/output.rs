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
        crate::console::outln!("{}", self.table())?;
        Ok(())
    }

    /// The rows as an aligned table.
    pub fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(self.header.clone());
        for r in &self.rows {
            t.add_row(r.clone());
        }
        t.to_string()
    }

    /// The rows as CSV (RFC 4180), as `pledger_app::sheet` writes them.
    pub fn print_csv(&self) -> Result<()> {
        let sheet = pledger_app::sheet::Sheet { header: self.header.clone(), rows: self.rows.clone() };
        print_sheet(&sheet)
    }
}

/// A sheet as CSV on stdout.
pub fn print_sheet(sheet: &pledger_app::sheet::Sheet) -> Result<()> {
    use std::io::Write;
    let mut out = crate::console::stdout();
    out.write_all(&sheet.to_csv())?;
    out.flush()?;
    Ok(())
}
