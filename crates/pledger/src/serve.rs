//! `pledger serve`: one process keeps the ledger open and answers the requests other processes
//! make of it, so that they skip sled's open — a fraction of a second on a large ledger — and
//! are not turned away because the ledger is in use.
//!
//! A command run with `--ledger DIR` looks for the socket `DIR/pledger.sock`. If a process of
//! this user answers there (the kernel says whose, SO_PEERCRED), the command sends it the
//! application layer's requests ([`pledger_app::service::Request`]) — values, never paths: the
//! command reads its own files and signs with its own key — and renders the answers itself.
//! With no server, or a stale socket, the command opens the ledger itself. The frames are in
//! [`crate::wire`]. The socket is the user's alone (mode 0600).
//!
//! A request whose client is gone writes nothing: a group of a submit is written only once its
//! client is asked, and answers, that it is still there; an import likewise. No request waits
//! on a client's file. On SIGINT, SIGTERM or SIGHUP the server stops after the request in hand,
//! within a few seconds; at once on a second signal (every acknowledged write is on disk).

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pledger_app::service::{self, Answer, Request};
use pledger_app::write::{Items, Source};
use pledger_app::Kind;
use pledger_log::Envelope;
use pledger_store::Ledger;

use crate::cli::Global;
use crate::fail::{in_use, Failure, Result, REFUSED};
use crate::session::{busy, connect, lost};
use crate::wire;

/// The socket's name inside the ledger's directory.
pub const SOCKET: &str = "pledger.sock";

/// How long `--wait` allows, bounded.
pub fn wait(g: &Global) -> Duration {
    Duration::from_secs_f64(if g.wait.is_finite() && g.wait >= 0.0 { g.wait.min(3600.0) } else { 0.0 })
}

/// Whether a server answers on the ledger `dir`'s socket.
pub fn listening(dir: &Path) -> bool {
    let socket = dir.join(SOCKET);
    socket.exists() && connect(&socket).is_ok()
}

/// The setting that starts a server on first use: the seconds it then stays without a request.
pub const ON_USE: &str = "PLEDGER_SERVE_ON_USE";

/// `PLEDGER_SERVE_ON_USE`: the seconds a server started on first use stays idle, if set (unset,
/// empty or 0: no server is started).
pub fn on_use() -> Result<Option<u64>> {
    let Some(value) = std::env::var_os(ON_USE) else { return Ok(None) };
    let text = value.to_string_lossy();
    match text.trim() {
        "" | "0" => Ok(None),
        t => t.parse::<u64>().map(Some).map_err(|_| {
            crate::fail::usage(format!(
                "{ON_USE}={text:?}: give the seconds a server started on first use stays without a request (0: none)"
            ))
        }),
    }
}

/// Starts `pledger serve --idle IDLE` on the ledger `dir`, apart from this process (its own
/// process group, no terminal), and waits until its socket answers: true once it does; false
/// if there is no ledger there, or the server could not start (then the ledger is opened here,
/// which says why).
pub fn start(dir: &Path, idle: u64, wait: Duration) -> Result<bool> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    // No ledger, no server.
    if !pledger_store::looks_like_ledger(dir) {
        return Ok(false);
    }
    let Ok(exe) = std::env::current_exe() else { return Ok(false) };
    let spawned = Command::new(exe)
        .arg("--ledger")
        .arg(dir)
        .arg("--quiet")
        .arg("--wait")
        .arg(wait.as_secs_f64().to_string())
        .args(["serve", "--idle", &idle.to_string()])
        .env_remove(ON_USE)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let Ok(mut child) = spawned else { return Ok(false) };
    // Opening a large ledger takes a fraction of a second; another process holding it, up to
    // --wait. The child is not waited for: it outlives this process.
    let deadline = std::time::Instant::now() + wait + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if reach(dir)? {
            return Ok(true);
        }
        if !matches!(child.try_wait(), Ok(None)) {
            // It stopped: another server came first, or it could not open the ledger.
            return reach(dir);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(false)
}

/// Whether a server of this user's own answers on `dir`'s socket; `false` if no server listens
/// (no socket, or a stale one a server killed without warning left).
pub fn reach(dir: &Path) -> Result<bool> {
    let socket = dir.join(SOCKET);
    if !socket.exists() {
        return Ok(false);
    }
    match connect(&socket) {
        Ok(stream) => {
            answered_by_me(&stream, &socket)?;
            Ok(true)
        }
        // Another user's server: its socket is its own. Waiting for the ledger's lock, which
        // that server holds, would end in a bare "in use".
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(in_use(format!(
            "ledger {} is served by {}'s `pledger serve`, whose socket is theirs alone: run the command as that user",
            dir.display(),
            owner(&socket)
        ))),
        Err(_) => Ok(false),
    }
}

/// Checks that the process on the other end of `stream` (by the kernel's word, SO_PEERCRED)
/// and the socket file both belong to this process's user: whoever could create the socket
/// could answer on it, and nothing is sent to it otherwise.
fn answered_by_me(stream: &UnixStream, socket: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let fail = |why: String| Failure::new(Kind::Conflict, why);
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| fail(format!("{}: cannot tell who answers on it: {e}", socket.display())))?;
    let owner = std::fs::metadata(socket).map(|m| m.uid()).map_err(|e| fail(format!("{}: {e}", socket.display())))?;
    for (what, uid) in [("is answered by a process of", peer.uid.as_raw()), ("belongs to", owner)] {
        if uid != me {
            return Err(fail(format!(
                "{} {what} {}, not by you: pledger sends it nothing; if it is not your server, remove it",
                socket.display(),
                user_name(uid)
            )));
        }
    }
    Ok(())
}

/// The name of the user owning `path`, or `uid N`.
fn owner(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(path).map(|m| m.uid()) else { return "another user".into() };
    user_name(uid)
}

/// The name of user `uid` (from /etc/passwd), or `uid N`.
fn user_name(uid: u32) -> String {
    let passwd =
        pledger_log::input::read(Path::new("/etc/passwd"), 16 << 20, "the user list", pledger_log::input::Source::Any)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map_or_else(|| format!("uid {uid}"), |f| f[0].to_owned())
}

/// A socket's writes, without SIGPIPE: a peer that went away is an error to handle, not the
/// death of this process.
struct Quiet<'a>(&'a UnixStream);

impl Write for Quiet<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        rustix::net::send(self.0.as_fd(), buf, rustix::net::SendFlags::NOSIGNAL).map_err(std::io::Error::from)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn frame(stream: &UnixStream, tag: u8, payload: &[u8]) -> std::io::Result<()> {
    wire::write(&mut Quiet(stream), tag, payload)
}

/// What a client sends for a submit's envelopes: one envelope with where it came from, or the
/// failure that ended them (a bad line of a file), reported after the envelopes before it.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Input {
    Envelope(Source, String),
    Failed(Failure),
}

/// What asking a server came to.
pub enum Asked {
    Answered(Box<Answer>),
    /// The server stopped before it began the request, which did not run; its input is untouched.
    NotBegun(Option<Items>),
}

/// Asks the server on `socket` (of ledger `dir`) `request`; sends `input`'s envelopes after it.
pub fn ask(
    dir: &Path,
    socket: &Path,
    wait: Duration,
    request: &Request,
    input: Option<Items>,
    on_part: &mut dyn FnMut(Answer) -> Result<()>,
) -> Result<Asked> {
    let Ok(stream) = connect(socket) else { return Ok(Asked::NotBegun(input)) };
    answered_by_me(&stream, socket)?;
    let body = serde_json::to_vec(request).map_err(|e| Failure::new(Kind::Usage, e.to_string()))?;
    if frame(&stream, wire::REQUEST, &body).is_err() {
        return Ok(Asked::NotBegun(input));
    }
    // The server answers one request at a time: wait for it as for a ledger in use.
    stream.set_read_timeout(Some(wait.max(Duration::from_millis(1)))).map_err(|_| lost(dir))?;
    match wire::read(&mut &stream) {
        Ok(Some((wire::STARTED, _))) => {}
        Ok(Some((wire::FAILED, body))) => return Err(failure(&body)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return Err(busy(dir))
        }
        // Closed before it began: a server stopping.
        _ => return Ok(Asked::NotBegun(input)),
    }
    frame(&stream, wire::GO, &[]).map_err(|_| lost(dir))?;
    stream.set_read_timeout(None).map_err(|_| lost(dir))?;
    // A submit's envelopes go from a thread of their own while the answers come back here.
    let sender = input.map(|items| {
        let out = stream.try_clone();
        std::thread::spawn(move || {
            let Ok(out) = out else { return };
            for item in items {
                let (msg, last) = match item {
                    Ok((src, env)) => (Input::Envelope(src, env.to_json()), false),
                    Err(e) => (Input::Failed(Failure::from(e)), true),
                };
                let Ok(body) = serde_json::to_vec(&msg) else { return };
                if frame(&out, wire::INPUT, &body).is_err() || last {
                    return;
                }
            }
            let _ = frame(&out, wire::INPUT, &[]);
        })
    });
    let answer = loop {
        match wire::read(&mut &stream) {
            Ok(Some((wire::PART, body))) => {
                let part = serde_json::from_slice(&body).map_err(|_| lost(dir))?;
                on_part(part)?;
            }
            Ok(Some((wire::BYTES, bytes))) => on_part(Answer::Bytes(bytes))?,
            Ok(Some((wire::ANSWER, body))) => break expand(serde_json::from_slice(&body).map_err(|_| lost(dir))?)?,
            Ok(Some((wire::FAILED, body))) => return Err(failure(&body)),
            _ => return Err(lost(dir)),
        }
    };
    // The server took everything it wanted; a sender still reading a stream is left to end
    // with this process.
    drop(sender);
    Ok(Asked::Answered(Box::new(answer)))
}

/// An answer as the socket carries it: a coverage matrix as bits over its members.
fn compact(answer: Answer) -> Answer {
    match answer {
        Answer::Coverage(rows) => Answer::CoverageBits(service::CoverageBits::of(rows)),
        a => a,
    }
}

/// An answer as the command reads it: [`compact`] undone.
fn expand(answer: Answer) -> Result<Answer> {
    match answer {
        Answer::CoverageBits(bits) => Ok(Answer::Coverage(bits.rows()?)),
        a => Ok(a),
    }
}

fn failure(body: &[u8]) -> Failure {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Failure::new(Kind::Storage, "the ledger's server answered what this pledger cannot read"))
}

/// Set by SIGINT, SIGTERM or SIGHUP: the server ends after the request it is answering.
static STOP: AtomicBool = AtomicBool::new(false);

/// How long the first stop signal waits for the request in hand before the server stops
/// anyway, as a crash would (every acknowledged write is on disk).
const GRACE: Duration = Duration::from_secs(5);

/// `pledger serve`: opens the ledger, listens on its socket, answers requests one at a time —
/// and, with `--http`, over HTTP too, on the same open ledger.
pub fn serve(g: &Global, a: &crate::cli::ServeArgs) -> Result<()> {
    let dir = crate::session::ledger_path(g)?;
    // sled reopens its files by path.
    let dir = std::fs::canonicalize(dir).map_err(|e| crate::fail::input(format!("{}: {e}", dir.display())))?;
    // Over HTTP, the server signs checkpoints with the log key: read before anything is opened.
    let http = match &a.http {
        Some(addr) => Some(http_config(g, a, addr)?),
        None => None,
    };
    let ledger = Ledger::open(&dir, wait(g))?;
    let socket = dir.join(SOCKET);
    if socket.exists() {
        if connect(&socket).is_ok() {
            return Err(Failure::new(Kind::Conflict, format!("{} is already served", dir.display())));
        }
        std::fs::remove_file(&socket).map_err(|e| crate::fail::input(format!("{}: {e}", socket.display())))?;
    }
    let listener = bind(&socket)?;
    let _socket_removed = RemoveOnDrop(socket.clone());
    let http_stop = Arc::new(pledger_http::server::Stop::new());
    watch_signals(&socket, Arc::clone(&http_stop))?;
    if let Some(idle) = a.idle {
        stop_when_idle(&socket, Duration::from_secs(idle));
    }
    let size = ledger.size();
    let ledger = Arc::new(RwLock::new(ledger));
    let Some((tcp, config)) = http else {
        if !g.quiet {
            eprintln!("pledger: serving {} ({size} entries) on {}; Ctrl-C stops", dir.display(), socket.display());
        }
        return answer_socket(&listener, &ledger, g);
    };
    if !g.quiet {
        let addr = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
        eprintln!(
            "pledger: serving {} ({size} entries) on {} and http://{addr}; Ctrl-C stops",
            dir.display(),
            socket.display()
        );
    }
    let on_socket = {
        let (ledger, g2) = (Arc::clone(&ledger), g.clone());
        std::thread::spawn(move || answer_socket(&listener, &ledger, &g2))
    };
    let served = pledger_http::server::run(Arc::clone(&ledger), tcp, config, http_stop);
    STOP.store(true, Ordering::SeqCst);
    let _ = connect(&socket);
    let _ = on_socket.join();
    served.map_err(|e| Failure::new(Kind::Storage, e))
}

/// The HTTP listener and the server's bounds, from `serve --http`'s flags.
fn http_config(
    g: &Global,
    a: &crate::cli::ServeArgs,
    addr: &str,
) -> Result<(std::net::TcpListener, pledger_http::server::Config)> {
    let key = crate::signing::load_key(g)
        .map_err(|f| Failure::new(f.kind, format!("serve --http signs checkpoints with the log key: {}", f.message)))?;
    // A port alone, or :PORT, is on the loopback interface.
    let addr = match addr.strip_prefix(':').unwrap_or(addr) {
        port if port.bytes().all(|b| b.is_ascii_digit()) => format!("127.0.0.1:{port}"),
        _ => addr.to_owned(),
    };
    let tcp = std::net::TcpListener::bind(&addr).map_err(|e| crate::fail::input(format!("--http {addr}: {e}")))?;
    let mut witnesses = Vec::new();
    for w in &a.witness {
        let (url, vkey) =
            w.split_once('=').ok_or_else(|| crate::fail::usage(format!("--witness {w}: give URL=VKEY")))?;
        let verifier = pledger_log::note::Verifier::parse_vkey(vkey)
            .map_err(|e| crate::fail::usage(format!("--witness {w}: {e}")))?;
        witnesses.push(pledger_http::server::WitnessTarget { url: url.to_owned(), verifier });
    }
    let config = pledger_http::server::Config {
        log_key: key,
        witnesses,
        max_body: a.max_body,
        read_timeout: Duration::from_secs(a.read_timeout.max(1)),
        max_connections: a.max_connections.max(1),
        quiet: g.quiet,
        ..Default::default()
    };
    Ok((tcp, config))
}

/// Milliseconds since [`EPOCH`] at the end of the last request answered on the socket (or at
/// the start): what `--idle` counts from.
static LAST_ANSWERED: AtomicU64 = AtomicU64::new(0);
/// Set while a request on the socket is being answered.
static ANSWERING: AtomicBool = AtomicBool::new(false);
/// When the server started.
static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn now_ms() -> u64 {
    EPOCH.get_or_init(std::time::Instant::now).elapsed().as_millis().try_into().unwrap_or(u64::MAX)
}

/// Stops the server once `idle` has passed since the last request on the socket, none being
/// answered. A client that connects just as it stops finds the server gone before its request
/// began, and opens the ledger itself ([`Asked::NotBegun`]).
fn stop_when_idle(socket: &Path, idle: Duration) {
    LAST_ANSWERED.store(now_ms(), Ordering::SeqCst);
    let socket = socket.to_owned();
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        let quiet_for = now_ms().saturating_sub(LAST_ANSWERED.load(Ordering::SeqCst));
        if !ANSWERING.load(Ordering::SeqCst) && quiet_for >= idle_ms {
            STOP.store(true, Ordering::SeqCst);
            // Wake the loop waiting for a connection.
            let _ = connect(&socket);
            return;
        }
    });
}

/// Answers the socket's connections, one at a time, on the shared ledger, until stopped.
fn answer_socket(listener: &UnixListener, ledger: &RwLock<Ledger>, g: &Global) -> Result<()> {
    for conn in listener.incoming() {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        ANSWERING.store(true, Ordering::SeqCst);
        let _answered = Answered;
        let start = std::time::Instant::now();
        let mut guard = ledger.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ran = answer(&conn, &mut guard);
        if let (Some((name, code)), false) = (&ran, g.quiet) {
            // One line per request, for the journal of a server run as a service.
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            eprintln!("pledger: {} {name} exit {code} in {ms:.0} ms", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
        }
        let ok = ran.as_ref().is_none_or(|(_, code)| *code == 0);
        // A request that failed or panicked may have left the handle's memory behind the disk
        // (a commit sled took part of, an interrupted rebuild): then open the ledger again, as
        // the next process would. A refused event leaves the handle as it was.
        if !ok && !guard.in_step_with_store().unwrap_or(false) {
            guard.reopen(wait(g)).map_err(Failure::from)?;
        }
    }
    Ok(())
}

/// Marks the end of a request on the socket, however it ended.
struct Answered;

impl Drop for Answered {
    fn drop(&mut self) {
        LAST_ANSWERED.store(now_ms(), Ordering::SeqCst);
        ANSWERING.store(false, Ordering::SeqCst);
    }
}

/// Listens on `socket`, reachable by this user alone from its first moment, whatever the
/// umask: the socket is made in a new directory of mode 0700 beside it, set to 0600 there, and
/// only then moved to its place.
fn bind(socket: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    let failed = |e: std::io::Error| crate::fail::input(format!("{}: {e}", socket.display()));
    let (Some(dir), Some(name)) = (socket.parent(), socket.file_name()) else {
        return Err(crate::fail::input(format!("{}: not a path for a socket", socket.display())));
    };
    // Any such directory was left by a server killed while starting: this one holds the
    // ledger's lock, so no other is starting beside it.
    for stale in std::fs::read_dir(dir).map_err(failed)?.flatten() {
        if stale.file_name().to_string_lossy().starts_with(PRIVATE_PREFIX) {
            let _ = std::fs::remove_dir_all(stale.path());
        }
    }
    let private = dir.join(format!("{PRIVATE_PREFIX}{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&private).map_err(failed)?;
    let _private_removed = RemoveOnDrop(private.clone());
    let inner = private.join(name);
    let listener = UnixListener::bind(&inner).or_else(|e| {
        // A path too long for a socket's address: bind through the directory's descriptor.
        let fd = std::fs::File::open(&private).map_err(|_| e)?;
        UnixListener::bind(Path::new("/proc/self/fd").join(std::os::fd::AsRawFd::as_raw_fd(&fd).to_string()).join(name))
    });
    let listener = listener.map_err(failed)?;
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    std::fs::rename(&inner, socket).map_err(failed)?;
    Ok(listener)
}

/// The name of the directory a starting server binds its socket in, before its process id.
const PRIVATE_PREFIX: &str = ".pledger-serve-";

/// Removes a file or a directory with what it holds when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = if self.0.is_dir() { std::fs::remove_dir_all(&self.0) } else { std::fs::remove_file(&self.0) };
    }
}

/// Stops the server on SIGINT, SIGTERM and SIGHUP once the request in hand is answered — or
/// after [`GRACE`] if it takes longer — and at once on a second one. A client gone mid-answer
/// is a failed write to its socket, not the server's death.
fn watch_signals(socket: &Path, http: Arc<pledger_http::server::Stop>) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};
    let cannot = |e: std::io::Error| crate::fail::input(format!("cannot watch for signals: {e}"));
    signal_hook::flag::register(SIGPIPE, Arc::new(AtomicBool::new(false))).map_err(cannot)?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(cannot)?;
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        let mut signals = signals.forever();
        if signals.next().is_some() {
            STOP.store(true, Ordering::SeqCst);
            http.notify_one();
            // Wake the loop waiting for a connection.
            let _ = connect(&socket);
            let late = socket.clone();
            std::thread::spawn(move || {
                std::thread::sleep(GRACE);
                eprintln!("pledger: stopped after {} s without the end of the request in hand", GRACE.as_secs());
                let _ = std::fs::remove_file(&late);
                std::process::exit(i32::from(REFUSED));
            });
        }
        if signals.next().is_some() {
            eprintln!("pledger: stopped without waiting for the request in hand");
            let _ = std::fs::remove_file(&socket);
            std::process::exit(i32::from(REFUSED));
        }
    });
    Ok(())
}

/// Notifies `stop` on SIGINT, SIGTERM or SIGHUP (a server with no socket: the witness's).
pub fn stop_on_signals(stop: Arc<pledger_http::server::Stop>) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| crate::fail::input(format!("cannot watch for signals: {e}")))?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop.notify_one();
        }
    });
    Ok(())
}

/// How long a client may take to send its request, and its go-ahead once the server is free.
const CLIENT_SILENCE: Duration = Duration::from_secs(10);

/// Whether the client on `conn` has gone away (its end closed), without reading what it sent.
fn gone(conn: &UnixStream) -> bool {
    let mut byte = [0u8; 1];
    let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
    matches!(rustix::net::recv(conn.as_fd(), &mut byte[..], flags), Ok((0, _)))
}

/// Answers one connection: the name of the request it ran and its exit code, or `None` if it
/// ran none (a wake-up, a client gone or refused before it began).
fn answer(conn: &UnixStream, ledger: &mut Ledger) -> Option<(String, u8)> {
    // The socket is this user's alone (0600), but root passes any mode: a request is answered
    // only for a process of the server's own user.
    let me = rustix::process::geteuid();
    if !rustix::net::sockopt::socket_peercred(conn).is_ok_and(|c| c.uid == me) {
        return None;
    }
    // A client that connects and says nothing must not hold the ledger.
    conn.set_read_timeout(Some(CLIENT_SILENCE)).ok()?;
    let request = match wire::read(&mut &*conn) {
        Ok(Some((wire::REQUEST, body))) => serde_json::from_slice::<Request>(&body),
        // A wake-up, or a client gone before it asked.
        _ => return None,
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            let f = Failure::new(Kind::Usage, format!("the ledger's server could not read the request: {e}"));
            let _ = frame(conn, wire::FAILED, &serde_json::to_vec(&f).unwrap_or_default());
            return None;
        }
    };
    frame(conn, wire::STARTED, &[]).ok()?;
    match wire::read(&mut &*conn) {
        Ok(Some((wire::GO, _))) => {}
        // The client stopped waiting: it said the ledger was in use, so nothing runs.
        _ => return None,
    }
    // A submit's envelopes may come slowly, from a stream.
    conn.set_read_timeout(None).ok()?;
    let name = serde_json::to_value(&request).ok()?["ask"].as_str().unwrap_or_default().to_owned();
    if gone(conn) {
        return None;
    }
    let input: Option<Items> = match &request {
        Request::Submit { input: true, .. } => {
            Some(Box::new(InputFrames { conn: conn.try_clone().ok()?, ended: false }))
        }
        _ => None,
    };
    let mut sink = |a: Answer| -> pledger_app::Result<()> {
        let sent = match a {
            Answer::Bytes(b) => frame(conn, wire::BYTES, &b),
            a => frame(conn, wire::PART, &serde_json::to_vec(&a).unwrap_or_default()),
        };
        sent.map_err(|_| pledger_app::Error::Cancelled("the client went away".into()))
    };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service::handle(ledger, request, input, &mut sink)));
    let (tag, body, code) = match outcome {
        Ok(Ok(answer)) => (wire::ANSWER, serde_json::to_vec(&compact(answer)).unwrap_or_default(), 0),
        Ok(Err(e)) => {
            let f = Failure::from(e);
            let code = f.code();
            (wire::FAILED, serde_json::to_vec(&f).unwrap_or_default(), code)
        }
        Err(_) => {
            let f = Failure::new(Kind::Storage, "internal error (see the server's output)");
            (wire::FAILED, serde_json::to_vec(&f).unwrap_or_default(), REFUSED)
        }
    };
    let _ = frame(conn, tag, &body);
    Some((name, code))
}

/// A submit's envelopes, read from the client's frames as they come.
struct InputFrames {
    conn: UnixStream,
    ended: bool,
}

impl Iterator for InputFrames {
    type Item = pledger_app::Result<(Source, Envelope)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let gone = || pledger_app::Error::Cancelled("the client went away before its envelopes ended".into());
        let item = match wire::read(&mut self.conn) {
            Ok(Some((wire::INPUT, body))) if body.is_empty() => {
                self.ended = true;
                return None;
            }
            Ok(Some((wire::INPUT, body))) => match serde_json::from_slice::<Input>(&body) {
                Ok(Input::Envelope(src, json)) => Envelope::parse(json.as_bytes())
                    .map(|e| (src.clone(), e))
                    .map_err(|e| pledger_app::Error::input(format!("{src}: {e}"))),
                Ok(Input::Failed(f)) => {
                    self.ended = true;
                    Err(match f.kind {
                        Kind::Usage => pledger_app::Error::Usage(f.message),
                        _ => pledger_app::Error::Input(f.message),
                    })
                }
                Err(_) => {
                    self.ended = true;
                    Err(pledger_app::Error::input("the client sent an envelope this server cannot read"))
                }
            },
            _ => {
                self.ended = true;
                Err(gone())
            }
        };
        Some(item)
    }
}
