//! Output for people and programs: aligned tables, JSON Lines, CSV.

use comfy_table::{presets, ContentArrangement, Table};
use pledger_core::event::{Body, Event};

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

    pub fn print_csv(&self) -> Result<()> {
        let mut w = csv::Writer::from_writer(crate::console::stdout());
        let fail = |e: csv::Error| crate::fail::refused(e.to_string());
        w.write_record(&self.header).map_err(fail)?;
        for r in &self.rows {
            w.write_record(r).map_err(fail)?;
        }
        w.flush()?;
        Ok(())
    }
}

/// One line saying what an event does, for logs and histories.
pub fn describe(e: &Event) -> String {
    match &e.body {
        Body::Genesis(b) => format!("founds ledger {}; convener {} ({})", e.origin, b.member, b.name),
        Body::MemberAdmitted(b) => format!(
            "admits {} ({}, {}{})",
            b.member,
            b.name,
            b.kind.as_str(),
            if b.convener { ", convener" } else { "" }
        ),
        Body::KeyAdded(b) => format!("adds key {} to {}", b.public_key.key_id(), b.member),
        Body::KeyRevoked(b) => format!("revokes key {} of {}", b.key, b.member),
        Body::AreaDefined(b) => match &b.parent {
            Some(p) => format!("area {} {} ({} in {p})", b.code, b.name, b.level.as_str()),
            None => format!("area {} {} ({})", b.code, b.name, b.level.as_str()),
        },
        Body::CategoryDefined(b) => format!("category {} ({})", b.code, b.name),
        Body::Pledge(b) => format!("{} to {} for {}, due {}: {}", b.amount, b.to, b.category, b.due, b.title),
        Body::Amendment(b) => {
            let mut parts = Vec::new();
            if let Some(m) = &b.increase {
                parts.push(format!("+{m}"));
            }
            if let Some(d) = &b.due {
                parts.push(format!("due {d}"));
            }
            if let Some(a) = &b.areas {
                parts.push(format!("areas {}", a.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",")));
            }
            if let Some(t) = &b.title {
                parts.push(format!("title {:?}", t.as_str()));
            }
            format!("amends {}: {}", b.pledge, parts.join(", "))
        }
        Body::Fulfillment(b) => format!("delivers {} of {}", b.amount, b.pledge),
        Body::Attestation(b) => format!("{} {}", b.verdict.as_str(), b.fulfillment),
        Body::Withdrawal(b) => match &b.amount {
            Some(m) => format!("withdraws {m} of {}: {}", b.pledge, b.reason),
            None => format!("withdraws what remains of {}: {}", b.pledge, b.reason),
        },
    }
}
