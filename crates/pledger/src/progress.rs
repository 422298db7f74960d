//! Progress for long work, on stderr, only on a terminal and without --quiet — whether the work
//! runs here or in the ledger's server, whose answers say how far it has come.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pledger_app::service::Answer;

/// A progress bar over `total` items, hidden when stderr is not a terminal or with `quiet`.
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), target(quiet));
    pb.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({rate}, {eta} left)")
            .map(|s| s.with_key("rate", rate))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A count of items done, for work whose total is not known beforehand; hidden as [`bar`] is.
pub fn counter(what: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, target(quiet));
    pb.set_style(
        ProgressStyle::with_template("{msg} {pos} ({rate}, {elapsed})")
            .map(|s| s.with_key("rate", rate))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_owned());
    pb
}

/// Items a second, whole and grouped: `38,496/s`.
fn rate(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let per_sec = state.per_sec();
    let whole = if per_sec.is_finite() && per_sec >= 0.0 { per_sec.round() as u64 } else { 0 };
    let _ = write!(w, "{}/s", pledger_core::measure::format_decimal(whole, 0, true));
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// A bar drawn from the progress parts of an answer, made when the first arrives.
pub struct Drawn {
    what: &'static str,
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Drawn {
    pub fn new(what: &'static str, quiet: bool) -> Drawn {
        Drawn { what, quiet, bar: None }
    }

    /// Takes a part of an answer: a progress part moves the bar; anything else is not its.
    pub fn take(&mut self, part: &Answer) -> bool {
        let Answer::Progress(p) = part else { return false };
        let Some(total) = p.total else { return true };
        let bar = self.bar.get_or_insert_with(|| bar(total.max(1), self.what, self.quiet));
        bar.set_length(total.max(1));
        bar.set_position(p.done);
        true
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Drawn {
    fn drop(&mut self) {
        self.finish();
    }
}
