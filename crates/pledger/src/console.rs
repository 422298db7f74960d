//! Where a command's output goes and its input comes from: this process's own stdout, stderr
//! and stdin — or, while `pledger serve` answers for another process, that process's, carried
//! as frames over the socket (docs/guide.md, "Serving a ledger"; the frames: [`frame`]).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

/// The process a served command answers: its socket, whether its stdout is a terminal, and the
/// width of its stderr if that is one.
struct Session {
    socket: UnixStream,
    stdout_tty: bool,
    stderr_width: Option<u16>,
    /// The client's local date: "today" is the client's, whatever the server's time zone.
    today: chrono::NaiveDate,
}

/// The command being answered for another process, if any. The server answers one command at
/// a time, so there is at most one.
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

fn session() -> std::sync::MutexGuard<'static, Option<Session>> {
    SESSION.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends this process's output to the client on `socket` until [`end_session`].
pub fn begin_session(socket: UnixStream, stdout_tty: bool, stderr_width: Option<u16>, today: chrono::NaiveDate) {
    *session() = Some(Session { socket, stdout_tty, stderr_width, today });
}

pub fn end_session() {
    *session() = None;
}

/// Whether a command is being answered for another process.
pub fn serving() -> bool {
    session().is_some()
}

/// The local date of the process the command runs for: this one's, or the client's.
pub fn today() -> chrono::NaiveDate {
    match &*session() {
        Some(s) => s.today,
        None => chrono::Local::now().date_naive(),
    }
}

/// The width of the client's terminal, when a served command's stderr is one.
pub fn client_stderr_width() -> Option<u16> {
    session().as_ref().and_then(|s| s.stderr_width)
}

pub fn stdout_is_terminal() -> bool {
    match &*session() {
        Some(s) => s.stdout_tty,
        None => std::io::stdout().is_terminal(),
    }
}

/// The frames of the socket between a client and `pledger serve`: a tag byte, the payload's
/// length as 4 bytes big-endian, the payload.
pub mod frame {
    use std::io::{Read, Write};

    /// Client → server: the request (JSON), once.
    pub const REQUEST: u8 = b'R';
    /// Client → server: bytes of its stdin; an empty payload ends it.
    pub const STDIN: u8 = b'I';
    /// Server → client: the server is free and ready to run the command.
    pub const STARTED: u8 = b'S';
    /// Client → server, after `STARTED`: run it. A client that stopped waiting never sends it,
    /// so a command it reported as not run never runs.
    pub const GO: u8 = b'G';
    pub const STDOUT: u8 = b'O';
    pub const STDERR: u8 = b'E';
    /// Server → client: the exit code, one byte; the last frame.
    pub const EXIT: u8 = b'X';

    /// The largest payload accepted: a request or a chunk of output is far smaller.
    pub const MAX: usize = 16 << 20;

    pub fn write(w: &mut impl Write, tag: u8, payload: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(|_| std::io::Error::other("frame too large"))?;
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(payload);
        w.write_all(&buf)?;
        w.flush()
    }

    /// The next frame, or `None` at a clean end of the stream.
    pub fn read(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
        let mut head = [0u8; 5];
        match r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "frame too large"));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)?;
        Ok(Some((head[0], payload)))
    }
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

/// Writes to the command's stdout and flushes.
pub fn emit(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut o = stdout();
    o.write_fmt(args)?;
    o.flush()
}

/// The command's stdout: this process's, or the client's, buffered either way (64 KiB, sent
/// when full, flushed or dropped).
pub fn stdout() -> std::io::BufWriter<Stream> {
    std::io::BufWriter::with_capacity(CHUNK, Stream { tag: frame::STDOUT })
}

/// The command's stderr.
pub fn stderr() -> std::io::BufWriter<Stream> {
    std::io::BufWriter::with_capacity(CHUNK, Stream { tag: frame::STDERR })
}

const CHUNK: usize = 64 << 10;

/// One of the command's output streams, unbuffered: each write goes out whole, to this
/// process's stream or as one frame to the client.
pub struct Stream {
    tag: u8,
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match session().as_mut() {
            Some(s) => frame::write(&mut s.socket, self.tag, buf)?,
            None if self.tag == frame::STDOUT => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()?;
            }
            None => std::io::stderr().lock().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The command's stdin: this process's, or the client's, read from its frames.
pub fn stdin() -> Box<dyn BufRead> {
    let socket = session().as_ref().and_then(|s| s.socket.try_clone().ok());
    match socket {
        Some(socket) => {
            Box::new(std::io::BufReader::new(RemoteStdin { socket, chunk: Vec::new(), at: 0, ended: false }))
        }
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    }
}

/// The client's stdin: its frames, each returned over as many reads as it takes.
struct RemoteStdin {
    socket: UnixStream,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

impl Read for RemoteStdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match frame::read(&mut self.socket)? {
                Some((frame::STDIN, payload)) => {
                    self.ended = payload.is_empty();
                    self.chunk = payload;
                    self.at = 0;
                }
                _ => {
                    self.ended = true;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the client's stdin ended without its last frame",
                    ));
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
