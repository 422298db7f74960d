//! Progress for long work, on stderr, only on a terminal and without --quiet.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over `total` items, hidden when stderr is not a terminal, with `quiet`, and
/// in a command `pledger serve` answers for another process (the bar would be the server's).
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet || crate::console::serving() || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_owned());
    pb
}
