//! Where a command's output goes: this process's stdout and stderr. Commands answered by a
//! server render the answers here too: the server writes to no terminal of its clients.

use std::io::Write;

/// The local date of whoever runs the command: the default of `--date` and of the date figures
/// are judged on at the head.
pub fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

/// `println!` for a command: a line on its stdout, flushed, a failure to write returned.
macro_rules! outln {
    () => { $crate::console::emit(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::emit(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for a command.
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::emit(format_args!($($arg)*)) };
}

pub(crate) use {out, outln};

/// Writes to stdout and flushes.
pub fn emit(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_fmt(args)?;
    o.flush()
}

/// The command's stdout, buffered (64 KiB).
pub fn stdout() -> std::io::BufWriter<std::io::Stdout> {
    std::io::BufWriter::with_capacity(64 << 10, std::io::stdout())
}

/// The command's stderr.
pub fn stderr() -> std::io::Stderr {
    std::io::stderr()
}
