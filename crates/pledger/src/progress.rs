//! Progress for long work, on stderr, only on a terminal and without --quiet — this process's,
//! or, for a command `pledger serve` answers, the terminal of the process it answers.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// A progress bar over `total` items, hidden when stderr is not a terminal or with `quiet`.
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), target(quiet));
    pb.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A count of items done, for work whose total is not known beforehand; hidden as [`bar`] is.
pub fn counter(what: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, target(quiet));
    pb.set_style(
        ProgressStyle::with_template("{msg} {pos} ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_owned());
    pb
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet {
        ProgressDrawTarget::hidden()
    } else if crate::console::serving() {
        match crate::console::client_stderr_width() {
            Some(width) => ProgressDrawTarget::term_like(Box::new(ClientTerminal { width })),
            None => ProgressDrawTarget::hidden(),
        }
    } else if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// The client's terminal, reached through its stderr frames: ANSI cursor movements, as
/// indicatif writes to a terminal of its own.
#[derive(Debug)]
struct ClientTerminal {
    width: u16,
}

impl ClientTerminal {
    fn send(&self, s: &str) -> std::io::Result<()> {
        let mut err = crate::console::stderr();
        err.write_all(s.as_bytes())?;
        err.flush()
    }
}

impl ClientTerminal {
    /// `ESC [ n X`: the cursor moved `n` places in direction `X`.
    fn cursor(&self, n: usize, direction: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.send(&format!("\x1b[{n}{direction}"))
    }
}

impl TermLike for ClientTerminal {
    fn width(&self) -> u16 {
        self.width
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.send(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.send(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.send("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}
