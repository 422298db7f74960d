//! Output for people and programs: tables that fit the terminal, JSON Lines, CSV.
//!
//! A table never splits a token (an id, a date, an amount, a word of a heading) across lines.
//! When its columns do not fit the width, it first wraps headings at their spaces, then elides
//! the free texts (titles, names) with "…", then leaves out columns in the order each table
//! gives, least useful first; when even the columns it keeps do not fit, each row is printed as
//! a record, one field per line. The width is `COLUMNS` when set, else the terminal's (stdout's,
//! or stderr's when stdout is a file or a pipe, so that `pledger status > file` keeps what the
//! person would have seen), else 80.

use std::io::Write;

use console::measure_text_width as width_of;

use crate::cli::Format;
use crate::fail::Result;

/// The format asked for, else a table: what a person sees on a terminal, in a file or a pipe
/// alike. Programs ask for `--format json` or `--format csv`.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or(Format::Table)
}

/// Columns a table is printed in when no width is known.
pub const DEFAULT_WIDTH: usize = 80;

/// The width tables are fitted to: `COLUMNS`, else the terminal's, else [`DEFAULT_WIDTH`].
pub fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|n| *n > 0) {
        return n;
    }
    [console::Term::stdout(), console::Term::stderr()]
        .iter()
        .find_map(|t| t.size_checked())
        .map(|(_, cols)| usize::from(cols))
        .unwrap_or(DEFAULT_WIDTH)
}

/// Spaces between two columns.
const GAP: usize = 2;
/// The width a text is elided or wrapped to before less useful columns are left out.
const AT_EASE: usize = 24;
/// The narrowest a text is elided or wrapped to: enough to tell titles apart.
const SQUEEZED: usize = 12;

/// How a column gives way when a table is too wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Give {
    /// Always shown, whole.
    Never,
    /// Left out when the table does not fit, lower ranks first.
    Drop(u8),
    /// A free text elided with "…": to [`AT_EASE`] before the columns of lower ranks are left
    /// out, to [`SQUEEZED`] before those of its rank, then left out at its rank.
    Elide(u8),
    /// A free text wrapped at its spaces, as narrow as [`Give::Elide`] makes it.
    Wrap(u8),
}

/// A column of a table: its heading, alignment and how it gives way.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    header: &'static str,
    right: bool,
    give: Give,
}

/// A text column, always shown.
pub fn col(header: &'static str) -> Col {
    Col { header, right: false, give: Give::Never }
}

/// A figure, right-aligned, always shown.
pub fn num(header: &'static str) -> Col {
    Col { header, right: true, give: Give::Never }
}

impl Col {
    /// Left out when the table does not fit; rank 1 goes first.
    pub fn drop(self, rank: u8) -> Col {
        Col { give: Give::Drop(rank), ..self }
    }

    /// A free text elided to fit, left out at `rank` when even elided it does not.
    pub fn elide(self, rank: u8) -> Col {
        Col { give: Give::Elide(rank), ..self }
    }

    /// A free text wrapped to fit, left out at `rank` when even wrapped it does not.
    pub fn wrap(self, rank: u8) -> Col {
        Col { give: Give::Wrap(rank), ..self }
    }
}

/// Rows of text under headings, printed as a table or CSV. A cell may hold several lines.
pub struct Grid {
    cols: Vec<Col>,
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    /// A grid of columns always shown.
    pub fn new(header: Vec<&'static str>) -> Self {
        Grid::of(header.into_iter().map(col).collect())
    }

    /// A grid of these columns.
    pub fn of(cols: Vec<Col>) -> Self {
        Grid { cols, rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.cols.len(), "a row has one cell per column");
        self.rows.push(row);
    }

    /// Prints the table fitted to the terminal; says on stderr which columns were left out.
    pub fn print_table(&self) -> Result<()> {
        let fitted = self.fit(terminal_width());
        crate::console::out!("{}", fitted.text)?;
        if !fitted.dropped.is_empty() {
            let _ = writeln!(
                crate::console::stderr(),
                "(not shown at this width: {}; see them with a wider terminal, COLUMNS=…, or --format csv)",
                fitted.dropped.join(", ")
            );
        }
        Ok(())
    }

    /// The rows as a table fitted to the terminal.
    pub fn table(&self) -> String {
        self.fit(terminal_width()).text
    }

    /// The rows as CSV (RFC 4180), as `pledger_app::sheet` writes them.
    pub fn print_csv(&self) -> Result<()> {
        let sheet =
            pledger_app::sheet::Sheet { header: self.cols.iter().map(|c| c.header).collect(), rows: self.rows.clone() };
        print_sheet(&sheet)
    }

    /// The table laid out in `width` columns.
    pub fn fit(&self, width: usize) -> Fitted {
        let n = self.cols.len();
        // Each column's widest line and widest word, and its heading's widest word and whole width.
        let cell_w: Vec<usize> = (0..n).map(|i| self.cells(i).map(width_of).max().unwrap_or(0)).collect();
        let long_word: Vec<usize> =
            (0..n).map(|i| self.cells(i).flat_map(|l| l.split(' ')).map(width_of).max().unwrap_or(0)).collect();
        let word_w: Vec<usize> =
            self.cols.iter().map(|c| c.header.split(' ').map(width_of).max().unwrap_or(0)).collect();
        let head_w: Vec<usize> = self.cols.iter().map(|c| width_of(c.header)).collect();
        // The width of a column at ease, and squeezed: a text narrower, a column always whole.
        let at = |i: usize, squeezed: bool| {
            let room = if squeezed { SQUEEZED } else { AT_EASE };
            match self.cols[i].give {
                Give::Elide(_) => cell_w[i].min(room).max(word_w[i]),
                Give::Wrap(_) => cell_w[i].min(room).max(word_w[i]).max(long_word[i]),
                _ => cell_w[i].max(word_w[i]),
            }
        };
        // What gives, in order: a column of rank r is left out at 2r; a text of rank r is
        // squeezed first, at 2r - 1. Among equals, the rightmost gives first.
        let mut steps: Vec<(u16, usize, bool)> = Vec::new();
        for (i, c) in self.cols.iter().enumerate() {
            match c.give {
                Give::Never => {}
                Give::Drop(r) => steps.push((2 * u16::from(r), n - i, false)),
                Give::Elide(r) | Give::Wrap(r) => {
                    steps.push((2 * u16::from(r) - 1, n - i, true));
                    steps.push((2 * u16::from(r), n - i, false));
                }
            }
        }
        steps.sort();
        let mut kept = vec![true; n];
        let mut squeezed = vec![false; n];
        let total = |kept: &[bool], squeezed: &[bool]| {
            let cols: Vec<usize> = (0..n).filter(|&i| kept[i]).collect();
            cols.iter().map(|&i| at(i, squeezed[i])).sum::<usize>() + GAP * cols.len().saturating_sub(1)
        };
        let mut dropped = Vec::new();
        for (_, from_right, squeeze) in steps {
            if total(&kept, &squeezed) <= width {
                break;
            }
            let i = n - from_right;
            if squeeze {
                squeezed[i] = true;
            } else {
                kept[i] = false;
                dropped.push(self.cols[i].header);
            }
        }
        if total(&kept, &squeezed) > width {
            return Fitted { text: self.records(width), dropped: Vec::new() };
        }
        let mut spare = width - total(&kept, &squeezed);
        let kept: Vec<usize> = (0..n).filter(|&i| kept[i]).collect();
        // The room left goes first to whole headings, then to the texts, a column at a time to
        // each so that none is starved.
        let mut w: Vec<usize> = (0..n).map(|i| at(i, squeezed[i])).collect();
        for &i in &kept {
            let take = (head_w[i].max(w[i]) - w[i]).min(spare);
            w[i] += take;
            spare -= take;
        }
        while spare > 0 {
            let short: Vec<usize> = kept.iter().copied().filter(|&i| w[i] < cell_w[i]).collect();
            if short.is_empty() {
                break;
            }
            for i in short.into_iter().take(spare) {
                w[i] += 1;
                spare -= 1;
            }
        }
        let mut text = String::new();
        let heads: Vec<Vec<String>> = kept.iter().map(|&i| wrap_words(self.cols[i].header, w[i])).collect();
        self.lines(&mut text, &kept, &w, &heads, false);
        let rule: Vec<String> = kept.iter().map(|&i| "─".repeat(w[i])).collect();
        text.push_str(&rule.join(&" ".repeat(GAP)));
        text.push('\n');
        for row in &self.rows {
            let cells: Vec<Vec<String>> = kept
                .iter()
                .map(|&i| match self.cols[i].give {
                    Give::Wrap(_) => row[i].lines().flat_map(|l| wrap_words(l, w[i])).collect(),
                    _ => row[i].lines().map(str::to_owned).collect(),
                })
                .collect();
            self.lines(&mut text, &kept, &w, &cells, true);
        }
        Fitted { text, dropped }
    }

    /// The lines of column `i`'s cells.
    fn cells(&self, i: usize) -> impl Iterator<Item = &str> {
        self.rows.iter().flat_map(move |r| r[i].lines())
    }

    /// One row (or the headings) as lines: cells of several lines side by side.
    fn lines(&self, text: &mut String, kept: &[usize], w: &[usize], cells: &[Vec<String>], body: bool) {
        let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for l in 0..height {
            let mut line = String::new();
            for (k, &i) in kept.iter().enumerate() {
                let cell = cells[k].get(l).map(String::as_str).unwrap_or("");
                let cell = if body && matches!(self.cols[i].give, Give::Elide(_)) {
                    elide(cell, w[i])
                } else {
                    cell.to_owned()
                };
                let pad = " ".repeat(w[i].saturating_sub(width_of(&cell)));
                if k > 0 {
                    line.push_str(&" ".repeat(GAP));
                }
                if self.cols[i].right && body {
                    line.push_str(&pad);
                    line.push_str(&cell);
                } else {
                    line.push_str(&cell);
                    line.push_str(&pad);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }

    /// Each row as a record: one field per line, the texts elided to the width.
    fn records(&self, width: usize) -> String {
        let label = self.cols.iter().map(|c| width_of(c.header)).max().unwrap_or(0) + 1;
        let mut text = String::new();
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                text.push('\n');
            }
            for (c, cell) in self.cols.iter().zip(row) {
                if cell.is_empty() {
                    continue;
                }
                for (l, line) in cell.lines().enumerate() {
                    let head = if l == 0 { format!("{}:", c.header) } else { String::new() };
                    let line = match c.give {
                        Give::Elide(_) => elide(line, width.saturating_sub(label + 1).max(SQUEEZED)),
                        _ => line.to_owned(),
                    };
                    text.push_str(&format!("{head:<label$} {line}\n"));
                }
            }
        }
        text
    }
}

/// A table laid out, and the headings of the columns left out.
pub struct Fitted {
    pub text: String,
    pub dropped: Vec<&'static str>,
}

/// `s` cut to `w` columns with "…" when longer.
fn elide(s: &str, w: usize) -> String {
    if width_of(s) <= w {
        return s.to_owned();
    }
    let mut out = String::new();
    for ch in s.chars() {
        let next = format!("{out}{ch}");
        if width_of(&next) + 1 > w {
            break;
        }
        out = next;
    }
    format!("{}…", out.trim_end())
}

/// A heading wrapped at its spaces to `w` columns (a word wider than `w` stays whole).
fn wrap_words(s: &str, w: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in s.split(' ') {
        match lines.last_mut() {
            Some(l) if width_of(l) + 1 + width_of(word) <= w => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// A sheet as CSV on stdout.
pub fn print_sheet(sheet: &pledger_app::sheet::Sheet) -> Result<()> {
    let mut out = crate::console::stdout();
    out.write_all(&sheet.to_csv())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let mut g = Grid::of(vec![
            col("pledge"),
            col("title").elide(3),
            num("pledged amount"),
            col("areas").drop(1),
            col("due").drop(2),
        ]);
        g.push(vec![
            "P-000001".into(),
            "Connectivity for the district health offices of Koulikoro".into(),
            "USD 450,000.00".into(),
            "ML-4,ML-5".into(),
            "2015-06-30".into(),
        ]);
        g.push(vec!["P-000002".into(), "Laptops".into(), "120 laptops".into(), "ML".into(), "2014-12-31".into()]);
        g
    }

    #[test]
    fn every_line_fits_and_no_token_is_split_at_any_width() {
        let g = grid();
        // From the width of the columns always shown (24) up, a table; below it, records.
        for width in 24..=140 {
            let f = g.fit(width);
            assert!(f.text.starts_with("pledge"), "{width}: not a table:\n{}", f.text);
            for line in f.text.lines() {
                assert!(width_of(line) <= width, "{width}: {line:?} is too wide");
            }
            for token in ["P-000001", "USD 450,000.00", "120 laptops", "P-000002"] {
                assert!(f.text.contains(token), "{width}: {token} split or lost:\n{}", f.text);
            }
        }
    }

    #[test]
    fn columns_go_in_their_order_and_titles_are_elided_before_the_rest() {
        let g = grid();
        let wide = g.fit(200);
        assert!(wide.dropped.is_empty() && wide.text.contains("Koulikoro"));
        let narrower = g.fit(80);
        assert!(narrower.dropped.is_empty() && narrower.text.contains("2015-06-30"), "{}", narrower.text);
        // The title (rank 3) stays at ease while the columns of ranks 1 and 2 are left out…
        let f = g.fit(52);
        assert_eq!(f.dropped, vec!["areas", "due"], "{}", f.text);
        assert!(f.text.contains("Connectivity for the dist…"), "{}", f.text);
        // …then it is squeezed…
        let f = g.fit(38);
        assert_eq!(f.dropped, vec!["areas", "due"], "{}", f.text);
        assert!(f.text.contains("Connectivit…"), "{}", f.text);
        // …then left out.
        let f = g.fit(30);
        assert_eq!(f.dropped, vec!["areas", "due", "title"], "{}", f.text);
    }

    #[test]
    fn a_width_too_small_for_the_kept_columns_prints_records() {
        let f = grid().fit(20);
        assert!(f.text.starts_with("pledge:"), "{}", f.text);
        assert!(f.text.contains("pledged amount: USD 450,000.00"), "{}", f.text);
    }

    #[test]
    fn elision_keeps_to_the_width() {
        assert_eq!(elide("Connectivity", 12), "Connectivity");
        assert_eq!(elide("Connectivity for all", 12), "Connectivit…");
        assert_eq!(width_of(&elide("Santé numérique au Mali", 10)), 10);
    }
}
