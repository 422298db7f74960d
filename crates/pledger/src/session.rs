//! How a command reaches its ledger: opened here, or — when `pledger serve` holds it and
//! answers on its socket as this user's own process — through that server. Either way a command
//! asks the application layer's requests ([`pledger_app::service`]) and renders the answers;
//! the parts of a long answer (progress, log entries, groups made durable, an export's bytes)
//! come to `on_part` as they are made.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pledger_app::service::{self, Answer, Request};
use pledger_app::write::Items;
use pledger_app::Kind;
use pledger_store::Ledger;

use crate::cli::Global;
use crate::fail::{in_use, usage, Failure, Result};
use crate::serve;

/// An open way to the ledger.
pub enum Session {
    /// Opened by this process.
    Own(Box<Ledger>),
    /// Held by the server answering on this socket; opened here with `how` should the server
    /// stop before it begins a request.
    Served { dir: PathBuf, socket: PathBuf, wait: Duration, how: Open },
    /// On another machine, served over HTTP.
    Remote(Box<crate::remote::Served>),
}

/// How a command opens a ledger of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// For reading and writing.
    Normal,
    /// To read every entry (verify, export): refused while a rebuild is unfinished.
    Scan,
    /// To rebuild, even after an interrupted rebuild.
    Rebuild,
}

pub fn ledger_path(g: &Global) -> Result<&Path> {
    g.ledger.as_deref().ok_or_else(|| usage("no ledger given: pass --ledger DIR or set PLEDGER_LEDGER"))
}

impl Session {
    /// The ledger served over HTTP at `url`, if one is given; else [`Session::open`].
    pub fn reach(g: &Global, remote: Option<&crate::cli::RemoteOpts>, how: Open) -> Result<Session> {
        match remote.and_then(|r| r.remote.as_deref().map(|url| (url, r))) {
            Some((url, opts)) => Ok(Session::Remote(Box::new(crate::remote::Served::new(url, opts.clone())?))),
            None => Session::open(g, how),
        }
    }

    /// [`Session::reach`] for a command that only reads: a URL, no receipts to check.
    pub fn reach_url(g: &Global, url: Option<&str>, how: Open) -> Result<Session> {
        let opts = crate::cli::RemoteOpts { remote: url.map(str::to_owned), ..Default::default() };
        Session::reach(g, Some(&opts), how)
    }

    /// The ledger of `g`: through its server if one answers (and is this user's) or, with
    /// `PLEDGER_SERVE_ON_USE`, one this starts; else opened here — waiting for another process
    /// up to `--wait`, unless that process turns out to be a server, which then answers.
    pub fn open(g: &Global, how: Open) -> Result<Session> {
        let path = ledger_path(g)?;
        let wait = serve::wait(g);
        let served = || Session::Served { dir: path.to_owned(), socket: path.join(serve::SOCKET), wait, how };
        if serve::reach(path)? {
            return Ok(served());
        }
        // With PLEDGER_SERVE_ON_USE, the first command starts the server the next ones reach.
        if how == Open::Normal {
            if let Some(idle) = serve::on_use()? {
                if serve::start(path, idle, wait)? {
                    return Ok(served());
                }
            }
        }
        Session::open_here(path, wait, how)
    }

    /// The ledger opened here — unless, while this waits for it, a server starts answering.
    fn open_here(path: &Path, wait: Duration, how: Open) -> Result<Session> {
        let opener = match how {
            Open::Normal => Ledger::open_unless,
            Open::Scan => Ledger::open_to_scan,
            Open::Rebuild => Ledger::open_for_rebuild,
        };
        let listening = &mut || serve::listening(path);
        match opener(path, wait, listening) {
            Ok(ledger) => Ok(Session::Own(Box::new(ledger))),
            Err(e) => {
                let f = Failure::from(e);
                // The ledger was held by a server starting up: it answers now.
                if f.kind == Kind::InUse && serve::reach(path)? {
                    return Ok(Session::Served { dir: path.to_owned(), socket: path.join(serve::SOCKET), wait, how });
                }
                Err(f)
            }
        }
    }

    /// Asks `request`, with a submit's envelopes in `input`; the parts of the answer go to
    /// `on_part`, the last is returned.
    pub fn ask(
        &mut self,
        request: Request,
        input: Option<Items>,
        on_part: &mut dyn FnMut(Answer) -> Result<()>,
    ) -> Result<Answer> {
        match self {
            Session::Own(ledger) => {
                let mut failed: Option<Failure> = None;
                let mut sink = |a: Answer| {
                    on_part(a).map_err(|f| {
                        let e = pledger_app::Error::Cancelled(f.message.clone());
                        failed = Some(f);
                        e
                    })
                };
                match service::handle(ledger, request, input, &mut sink) {
                    Ok(a) => Ok(a),
                    // A part this process could not take (its stdout closed): that failure.
                    Err(_) if failed.is_some() => Err(failed.take().expect("a failure was kept")),
                    Err(e) => Err(e.into()),
                }
            }
            Session::Remote(served) => served.ask(request, input, on_part),
            Session::Served { dir, socket, wait, how } => {
                match serve::ask(dir, socket, *wait, &request, input, on_part)? {
                    serve::Asked::Answered(a) => Ok(*a),
                    // The server stopped before it began the request, which did not run: ask it
                    // of the ledger opened here.
                    serve::Asked::NotBegun(input) => {
                        *self = Session::open_here(&dir.clone(), *wait, *how)?;
                        self.ask(request, input, on_part)
                    }
                }
            }
        }
    }

    /// [`Session::ask`] for a request answered in one part.
    pub fn ask_one(&mut self, request: Request) -> Result<Answer> {
        self.ask(request, None, &mut |_| Ok(()))
    }
}

/// An answer that is not the one the request calls for: the server and this client disagree.
pub fn unexpected(answer: Answer) -> Failure {
    let name = serde_json::to_value(&answer).ok().and_then(|v| v["answer"].as_str().map(str::to_owned));
    Failure::new(Kind::Storage, format!("unexpected answer {}", name.unwrap_or_default()))
}

/// Connects to a socket by a path of any length (a socket's address holds about 100 bytes).
pub fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    UnixStream::connect(socket).or_else(|e| {
        let (Some(dir), Some(name)) = (socket.parent(), socket.file_name()) else { return Err(e) };
        let dir = std::fs::File::open(dir)?;
        UnixStream::connect(
            Path::new("/proc/self/fd").join(std::os::fd::AsRawFd::as_raw_fd(&dir).to_string()).join(name),
        )
    })
}

/// The server of `dir` is busy for longer than `--wait`.
pub fn busy(dir: &Path) -> Failure {
    in_use(format!("ledger {} is in use: its server is busy with another command", dir.display()))
}

/// The server went away mid-answer.
pub fn lost(dir: &Path) -> Failure {
    Failure::new(
        Kind::Storage,
        format!(
            "the server of {} stopped before the command ended; a write may or may not have been recorded (see pledger log)",
            dir.display()
        ),
    )
}
