//! The socket between a client and `pledger serve`: frames of a tag byte, the payload's length
//! as 4 bytes big-endian, and the payload.
//!
//! ```text
//! client                                   server
//! REQUEST  {"ask": …}  (a service Request)  →
//!                                          ←  STARTED       (free to run it)
//! GO                                        →                (still wanted: run it)
//! INPUT    [source, envelope] …, INPUT ""   →                (a submit's envelopes, if any)
//!                                          ←  PART {…}, BYTES … (progress, entries, groups, export)
//!                                          ←  ANSWER {…} or FAILED {"kind", "message"}
//! ```
//!
//! Requests and answers are the application layer's own ([`pledger_app::service`]), as JSON:
//! the server parses no command line and opens no file of its client's.

use std::io::{Read, Write};

/// Client → server: the request (JSON), once.
pub const REQUEST: u8 = b'R';
/// Server → client: the server is free and ready to run the request.
pub const STARTED: u8 = b'S';
/// Client → server, after `STARTED`: run it. A client that stopped waiting never sends it, so a
/// request it reported as not run never runs.
pub const GO: u8 = b'G';
/// Client → server: one envelope of a submit (JSON `[source, envelope]`); an empty one ends them.
pub const INPUT: u8 = b'I';
/// Server → client: a part of a long answer (JSON).
pub const PART: u8 = b'P';
/// Server → client: bytes of an export.
pub const BYTES: u8 = b'B';
/// Server → client: the answer (JSON); the last frame.
pub const ANSWER: u8 = b'A';
/// Server → client: the failure (JSON); the last frame.
pub const FAILED: u8 = b'F';

/// The largest payload accepted: a request, a part or an envelope is far smaller, an import
/// file (64 MiB at most) and its key the largest.
pub const MAX: usize = 80 << 20;

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
    let mut payload = Vec::new();
    r.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() != len {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a frame cut short"));
    }
    Ok(Some((head[0], payload)))
}
