//! `pledger report --html`: one self-contained page.

use crate::cli::{Global, ReportArgs};
use crate::fail::{refused, Result};

pub fn write(_g: &Global, _a: &ReportArgs) -> Result<()> {
    Err(refused("report: not yet"))
}
