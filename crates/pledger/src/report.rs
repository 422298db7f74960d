//! What `demo` prints once the story is recorded.

use std::path::Path;

use pledger_core::StateView;
use pledger_store::Ledger;

use crate::fail::Result;
use crate::output::Grid;

pub fn demo_summary(ledger: &Ledger, kept: Option<&Path>) -> Result<()> {
    let view = ledger.view();
    let mut grid = Grid::new(vec!["pledge", "pledger", "title", "words", "claimed", "confirmed", "withdrawn"]);
    for n in 1..=ledger.head().state.count(pledger_core::Numbered::Pledge) {
        if let Some(p) = view.pledge(pledger_core::PledgeId(n))? {
            grid.push(vec![
                p.id.to_string(),
                p.pledger.to_string(),
                p.title.to_string(),
                p.unit.format(p.words()),
                p.unit.format(p.claimed),
                p.unit.format(p.confirmed),
                p.unit.format(p.withdrawn),
            ]);
        }
    }
    println!("Mali, 2014–2016: {} signed events recorded in ledger {}.", ledger.size(), ledger.head().state.origin);
    grid.print_table()?;
    if let Some(p) = kept {
        println!("The ledger is kept in {}.", p.display());
    }
    Ok(())
}
