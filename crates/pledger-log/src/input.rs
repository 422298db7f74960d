//! Files of outside input, read through a bound: never more than the limit and one byte, so
//! that a device (`/dev/zero`), a FIFO or a huge file is refused in one line instead of filling
//! memory. A file's length as its metadata reports it is never trusted: devices and FIFOs say 0.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use crate::error::{LogError, Result};

/// What a file is expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A regular file only: a key, whose reader must not wait on a FIFO nor read a device.
    Regular,
    /// Anything readable — a regular file, a FIFO (`<(command)`), a device — read through the
    /// bound.
    Any,
}

fn failed(path: &Path, e: impl std::fmt::Display) -> LogError {
    LogError::Input(format!("{}: {e}", path.display()))
}

/// Opens `path` for reading. A [`Source::Regular`] file is opened without waiting (a FIFO
/// would block until someone writes to it) and refused unless it is a regular file.
pub fn open(path: &Path, source: Source) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if source == Source::Regular {
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let f = options.open(path).map_err(|e| failed(path, e))?;
    if source == Source::Regular {
        let kind = f.metadata().map_err(|e| failed(path, e))?.file_type();
        if !kind.is_file() {
            return Err(failed(path, format!("not a regular file ({})", describe(kind))));
        }
    }
    Ok(f)
}

fn describe(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match kind {
        k if k.is_dir() => "a directory",
        k if k.is_fifo() => "a FIFO",
        k if k.is_char_device() => "a character device",
        k if k.is_block_device() => "a block device",
        k if k.is_socket() => "a socket",
        _ => "not a file",
    }
}

/// The whole of `path`, at most `limit` bytes; `what` names it in the refusal of a larger one.
pub fn read(path: &Path, limit: u64, what: &str, source: Source) -> Result<Vec<u8>> {
    read_from(open(path, source)?, limit).map_err(|e| match e {
        Bounded::TooLong => failed(path, format!("{what} is larger than the {limit} bytes allowed")),
        Bounded::Io(e) => failed(path, e),
    })
}

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum Bounded {
    /// The input is longer than the bound.
    TooLong,
    /// It could not be read.
    Io(std::io::Error),
}

impl std::fmt::Display for Bounded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bounded::TooLong => f.write_str("larger than allowed"),
            Bounded::Io(e) => e.fmt(f),
        }
    }
}

/// All of `r`, at most `limit` bytes.
pub fn read_from(r: impl Read, limit: u64) -> std::result::Result<Vec<u8>, Bounded> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut buf).map_err(Bounded::Io)?;
    if buf.len() as u64 > limit {
        return Err(Bounded::TooLong);
    }
    Ok(buf)
}

/// The next line of `r` into `buf`, without its newline, at most `limit` bytes; `Ok(false)` at
/// the end. A longer line is refused once `limit` + 1 bytes of it are read, whatever its length.
pub fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> std::result::Result<bool, Bounded> {
    buf.clear();
    let n = r.by_ref().take(limit as u64 + 1).read_until(b'\n', buf).map_err(Bounded::Io)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > limit {
        return Err(Bounded::TooLong);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_at_the_bound_and_not_read_to_its_end() {
        let e = read(Path::new("/dev/zero"), 1000, "an areas file", Source::Any).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: an areas file is larger than the 1000 bytes allowed");
        let e = read(Path::new("/dev/zero"), 1000, "a key", Source::Regular).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: not a regular file (a character device)");
    }

    #[test]
    fn a_fifo_is_refused_as_a_key_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let e = read(&fifo, 1000, "a key", Source::Regular).unwrap_err().to_string();
        assert!(e.ends_with("not a regular file (a FIFO)"), "{e}");
    }

    #[test]
    fn lines_are_read_through_the_bound() {
        let mut r = std::io::BufReader::new(std::io::Read::chain(&b"short\n"[..], std::io::repeat(b'x')));
        let mut buf = Vec::new();
        assert!(read_line(&mut r, &mut buf, 10).unwrap());
        assert_eq!(buf, b"short");
        assert!(matches!(read_line(&mut r, &mut buf, 10), Err(Bounded::TooLong)));
        assert_eq!(buf.len(), 11, "read no further than the bound and one byte");
        let exact = read_from(&b"0123456789"[..], 10).unwrap();
        assert_eq!(exact.len(), 10);
        assert!(matches!(read_from(&b"0123456789x"[..], 10), Err(Bounded::TooLong)));
    }
}
