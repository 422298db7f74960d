//! `pledger serve`: one process keeps the ledger open and answers the commands other processes
//! run on it, so that they skip sled's open — a fraction of a second on a large ledger — and
//! are not turned away because the ledger is in use.
//!
//! A command run with `--ledger DIR` looks for the socket `DIR/pledger.sock`. If a server
//! answers there, the command is sent to it whole (as parsed here, with this process's working
//! directory and whether its stdout is a terminal) and runs inside the server, on the
//! ledger it holds, exactly as it would have run here; its output comes back as frames
//! ([`crate::console::frame`]) and its exit code is this process's. With no server, or a stale
//! socket, the command opens the ledger itself. The socket is the user's alone (mode 0600):
//! whoever may use it may act as the server's user.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pledger_store::Ledger;
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, Command, Global, SubmitArgs};
use crate::console::{self, frame};
use crate::fail::{in_use, refused, Result, IN_USE, REFUSED};

/// The socket's name inside the ledger's directory.
pub const SOCKET: &str = "pledger.sock";

/// The ledger the server holds, lent to the command it runs.
#[derive(Clone, Default)]
pub struct Served(Option<Arc<Mutex<Ledger>>>);

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Served(ledger)" } else { "Served(none)" })
    }
}

impl Served {
    /// The served ledger, if this command runs inside the server. A command holds it once: a
    /// second open within the same command is refused rather than waiting on itself.
    pub fn ledger(&self) -> Option<Result<MutexGuard<'_, Ledger>>> {
        self.0.as_ref().map(|m| match m.try_lock() {
            Ok(guard) => Ok(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {
                Err(refused("the served ledger is already open in this command"))
            }
        })
    }
}

/// What a client sends: the command as it parsed it — the server parses nothing again, so
/// neither its environment nor its defaults leak into the command — and its surroundings.
#[derive(Serialize, Deserialize)]
struct Request<C> {
    cwd: PathBuf,
    stdout_tty: bool,
    /// Its stderr's width, if a terminal: the server draws progress there.
    stderr_width: Option<u16>,
    /// The command reads stdin: the client sends it as frames after the request.
    stdin: bool,
    /// The client's local date, the default of `--date` and of the evaluation date.
    today: chrono::NaiveDate,
    cli: C,
}

fn reads_stdin(cli: &Cli) -> bool {
    matches!(&cli.command, Command::Submit(SubmitArgs { files, .. }) if files.iter().any(|f| f == Path::new("-")))
}

/// Runs `cli` in the server of its ledger, if one answers; `None` when the command is to run
/// here: no ledger given, no server, or a command that never reads a ledger's open handle.
pub fn forward(cli: &Cli) -> Option<ExitCode> {
    if !needs_ledger(&cli.command) {
        return None;
    }
    let dir = cli.global.ledger.as_deref()?;
    let socket = dir.join(SOCKET);
    if !socket.exists() {
        return None;
    }
    let stream = match connect(&socket) {
        Ok(stream) => stream,
        // Another user's server: its socket is its own. Waiting for the ledger's lock, which
        // that server holds, would end in a bare "in use".
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let _ = writeln!(
                std::io::stderr(),
                "pledger: ledger {} is served by {}'s `pledger serve`, whose socket is theirs alone: run the command as that user",
                dir.display(),
                owner(&socket)
            );
            return Some(ExitCode::from(IN_USE));
        }
        // A socket nobody listens on is what a server killed without warning leaves behind.
        Err(_) => return None,
    };
    // Whoever could create the socket could answer on it: nothing is sent — not the command,
    // not the working directory — unless the process answering is this user's own.
    if let Err(why) = answered_by_me(&stream, &socket) {
        let _ = writeln!(std::io::stderr(), "pledger: {why}");
        return Some(ExitCode::from(REFUSED));
    }
    match ask(stream, cli, dir) {
        Ok(Some(code)) => Some(ExitCode::from(code)),
        // The server closed before it began the command (it was stopping): run it here.
        Ok(None) => None,
        Err(f) => {
            let _ = writeln!(std::io::stderr(), "pledger: {}", f.message);
            Some(ExitCode::from(f.code))
        }
    }
}

/// Whether a command reads a ledger at all: those that do not never go to a server, whatever
/// answers on a socket.
fn needs_ledger(command: &Command) -> bool {
    use crate::cli::WitnessAction;
    match command {
        Command::Keygen { .. }
        | Command::Init(_)
        | Command::Demo
        | Command::Serve
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Sign { .. } => false,
        Command::Verify(a) => a.bundle.is_none() && a.proof.is_none(),
        Command::Witness { action: WitnessAction::Vkey { .. } } => false,
        Command::Witness { action: WitnessAction::Cosign { bundle, .. } } => bundle.is_none(),
        _ => true,
    }
}

/// Checks that the process on the other end of `stream` (by the kernel's word, SO_PEERCRED)
/// and the socket file both belong to this process's user.
fn answered_by_me(stream: &UnixStream, socket: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| format!("{}: cannot tell who answers on it: {e}", socket.display()))?;
    let owner = std::fs::metadata(socket).map(|m| m.uid()).map_err(|e| format!("{}: {e}", socket.display()))?;
    for (what, uid) in [("is answered by a process of", peer.uid.as_raw()), ("belongs to", owner)] {
        if uid != me {
            return Err(format!(
                "{} {what} {}, not by you: pledger sends it nothing; if it is not your server, remove it",
                socket.display(),
                user_name(uid)
            ));
        }
    }
    Ok(())
}

/// The name of the user owning `path` (from /etc/passwd), or `uid N`.
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

/// Whether a server answers on the ledger `dir`'s socket.
pub fn listening(dir: &Path) -> bool {
    let socket = dir.join(SOCKET);
    socket.exists() && connect(&socket).is_ok()
}

/// Connects to a socket by a path of any length (a socket's address holds about 100 bytes).
fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    UnixStream::connect(socket).or_else(|e| {
        let (Some(dir), Some(name)) = (socket.parent(), socket.file_name()) else { return Err(e) };
        let dir = std::fs::File::open(dir)?;
        UnixStream::connect(
            Path::new("/proc/self/fd").join(std::os::fd::AsRawFd::as_raw_fd(&dir).to_string()).join(name),
        )
    })
}

/// The command's exit code, or `None` if the server closed before beginning it.
fn ask(mut stream: UnixStream, cli: &Cli, dir: &Path) -> Result<Option<u8>> {
    use std::io::IsTerminal;
    // From here a socket closed by the server, or a stdout closed by its reader, is an error
    // this process handles — not, as `pledger log | head` alone would have it, its death.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGPIPE, Arc::new(AtomicBool::new(false)));
    let lost = |e: std::io::Error| refused(format!("the server of {} stopped answering: {e}", dir.display()));
    let request = Request {
        cwd: std::env::current_dir().map_err(|e| refused(format!("the working directory: {e}")))?,
        stdout_tty: std::io::stdout().is_terminal(),
        stderr_width: std::io::stderr()
            .is_terminal()
            .then(|| ::console::Term::stderr().size_checked().map_or(80, |(_, cols)| cols)),
        stdin: reads_stdin(cli),
        today: chrono::Local::now().date_naive(),
        cli,
    };
    let body = serde_json::to_vec(&request)
        .map_err(|e| refused(format!("cannot send the command to the ledger's server: {e}")))?;
    if frame::write(&mut stream, frame::REQUEST, &body).is_err() {
        return Ok(None);
    }
    // The server answers one command at a time: wait for it as for a ledger in use.
    stream.set_read_timeout(Some(wait(&cli.global).max(Duration::from_millis(1)))).map_err(lost)?;
    match frame::read(&mut stream) {
        Ok(Some((frame::STARTED, _))) => {}
        Ok(None) => return Ok(None),
        Ok(Some(_)) => return Err(refused(format!("the server of {} answered out of turn", dir.display()))),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return Err(in_use(format!("ledger {} is in use: its server is busy with another command", dir.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
        Err(e) => return Err(lost(e)),
    }
    // A server that refused the command at once has already closed: its answer is read below.
    let _ = frame::write(&mut stream, frame::GO, &[]);
    // Only now: a command never begun must find stdin untouched, to run here.
    if request.stdin {
        let mut to_server = stream.try_clone().map_err(lost)?;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            let mut input = std::io::stdin().lock();
            loop {
                let n = match std::io::Read::read(&mut input, &mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                if frame::write(&mut to_server, frame::STDIN, &buf[..n]).is_err() || n == 0 {
                    break;
                }
            }
        });
    }
    stream.set_read_timeout(None).map_err(lost)?;
    loop {
        match frame::read(&mut stream) {
            Ok(Some((frame::STDOUT, bytes))) => {
                let mut out = std::io::stdout().lock();
                match out.write_all(&bytes).and_then(|()| out.flush()) {
                    Ok(()) => {}
                    // Its reader is gone (`pledger log | head`): end quietly, with the status a
                    // shell reports for a process ended by SIGPIPE.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Some(CLOSED_PIPE)),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Some((frame::STDERR, bytes))) => std::io::stderr().lock().write_all(&bytes)?,
            Ok(Some((frame::EXIT, code))) => return Ok(Some(code.first().copied().unwrap_or(REFUSED))),
            Ok(_) | Err(_) => {
                return Err(refused(format!(
                    "the server of {} stopped before the command ended; a write may or may not have been recorded (see pledger log)",
                    dir.display()
                )))
            }
        }
    }
}

/// The exit status of a client whose stdout's reader went away: 128 + SIGPIPE, as a shell
/// reports a process SIGPIPE ended.
const CLOSED_PIPE: u8 = 141;

/// How long `--wait` allows, bounded.
pub fn wait(g: &Global) -> Duration {
    Duration::from_secs_f64(if g.wait.is_finite() && g.wait >= 0.0 { g.wait.min(3600.0) } else { 0.0 })
}

/// Set by SIGINT, SIGTERM or SIGHUP: the server ends after the command it is answering.
static STOP: AtomicBool = AtomicBool::new(false);

/// `pledger serve`: opens the ledger, listens on its socket, answers commands one at a time.
pub fn serve(g: &Global, run: impl Fn(Cli) -> u8) -> Result<()> {
    let dir = crate::write::ledger_path(g)?;
    // sled reopens its files by path, and each command changes the working directory.
    let dir = std::fs::canonicalize(dir).map_err(|e| refused(format!("{}: {e}", dir.display())))?;
    let ledger = Ledger::open(&dir, wait(g))?;
    let socket = dir.join(SOCKET);
    if socket.exists() {
        if connect(&socket).is_ok() {
            return Err(refused(format!("{} is already served", dir.display())));
        }
        std::fs::remove_file(&socket).map_err(|e| refused(format!("{}: {e}", socket.display())))?;
    }
    let listener = bind(&socket)?;
    let _socket_removed = RemoveOnDrop(socket.clone());
    watch_signals(&socket)?;
    let mut served = Arc::new(Mutex::new(ledger));
    if !g.quiet {
        let size = served.lock().map(|l| l.size()).unwrap_or(0);
        eprintln!("pledger: serving {} ({size} entries) on {}; Ctrl-C stops", dir.display(), socket.display());
    }
    for conn in listener.incoming() {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let start = std::time::Instant::now();
        let ran = answer(conn, &served, &run);
        std::env::set_current_dir("/").ok();
        if let (Some((name, code)), false) = (&ran, g.quiet) {
            // One line per command, for the journal of a server run as a service.
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            eprintln!("pledger: {} {name} exit {code} in {ms:.0} ms", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
        }
        let ok = ran.is_none_or(|(_, code)| code == 0);
        // A command that failed or panicked may have left the handle's memory behind the disk
        // (a commit sled took part of, an interrupted rebuild): then open the ledger again, as
        // the next process would. A refused event leaves the handle as it was.
        if !ok && !served.lock().ok().and_then(|l| l.in_step_with_store().ok()).unwrap_or(false) {
            served = reopen(served, &dir, g)?;
        }
    }
    Ok(())
}

/// Listens on `socket`, reachable by this user alone from its first moment, whatever the
/// umask: the socket is made in a new directory of mode 0700 beside it, set to 0600 there, and
/// only then moved to its place. (Bound in place and set to 0600 after, it would be open to
/// everyone in between under a umask of 000.)
fn bind(socket: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    let failed = |e: std::io::Error| refused(format!("{}: {e}", socket.display()));
    let (Some(dir), Some(name)) = (socket.parent(), socket.file_name()) else {
        return Err(refused(format!("{}: not a path for a socket", socket.display())));
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

/// Stops the server on SIGINT, SIGTERM and SIGHUP once the command in hand is answered — at
/// once on a second one, as a crash would (every acknowledged write is on disk); a client gone
/// mid-answer (`pledger log | head`) is a failed write, not the server's death.
fn watch_signals(socket: &Path) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};
    signal_hook::flag::register(SIGPIPE, Arc::new(AtomicBool::new(false)))
        .map_err(|e| refused(format!("cannot watch for signals: {e}")))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| refused(format!("cannot watch for signals: {e}")))?;
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        let mut signals = signals.forever();
        if signals.next().is_some() {
            STOP.store(true, Ordering::SeqCst);
            // Wake the loop waiting for a connection.
            let _ = connect(&socket);
        }
        if signals.next().is_some() {
            eprintln!("pledger: stopped without waiting for the command in hand");
            let _ = std::fs::remove_file(&socket);
            std::process::exit(i32::from(REFUSED));
        }
    });
    Ok(())
}

fn reopen(served: Arc<Mutex<Ledger>>, dir: &Path, g: &Global) -> Result<Arc<Mutex<Ledger>>> {
    // The only other holder was the command, which has ended.
    drop(served);
    Ok(Arc::new(Mutex::new(Ledger::open(dir, wait(g))?)))
}

/// How long a client may take to send its request, or its go-ahead once the server is free.
const CLIENT_SILENCE: Duration = Duration::from_secs(10);

/// Answers one connection: the name and exit code of the command it ran, or `None` if it ran
/// none (a wake-up, a client gone or refused before it began).
fn answer(mut conn: UnixStream, served: &Arc<Mutex<Ledger>>, run: &impl Fn(Cli) -> u8) -> Option<(String, u8)> {
    // The socket is this user's alone (0600), but root passes any mode: a command is run only
    // for a process of the server's own user.
    let me = rustix::process::geteuid();
    if !rustix::net::sockopt::socket_peercred(&conn).is_ok_and(|c| c.uid == me) {
        return None;
    }
    // A client that connects and says nothing must not hold the ledger.
    if conn.set_read_timeout(Some(CLIENT_SILENCE)).is_err() {
        return None;
    }
    let request = match frame::read(&mut conn) {
        Ok(Some((frame::REQUEST, body))) => serde_json::from_slice::<Request<Cli>>(&body),
        // A wake-up, or a client gone before it asked.
        _ => return None,
    };
    // A refusal: one line on the client's stderr and exit 1; nothing ran.
    let refuse = |conn: &mut UnixStream, message: String| {
        let _ = frame::write(conn, frame::STDERR, format!("pledger: {message}\n").as_bytes());
        let _ = frame::write(conn, frame::EXIT, &[REFUSED]);
        None
    };
    let refuse_at_once = |conn: &mut UnixStream, message: String| {
        let _ = frame::write(conn, frame::STARTED, &[]);
        refuse(conn, message)
    };
    let mut request = match request {
        Ok(r) => r,
        Err(e) => return refuse_at_once(&mut conn, format!("the ledger's server could not read the command: {e}")),
    };
    if frame::write(&mut conn, frame::STARTED, &[]).is_err() {
        return None;
    }
    match frame::read(&mut conn) {
        Ok(Some((frame::GO, _))) => {}
        // The client stopped waiting: it said the ledger was in use, so nothing runs.
        _ => return None,
    }
    // Its stdin may come slowly.
    if conn.set_read_timeout(None).is_err() {
        return None;
    }
    if let Err(e) = std::env::set_current_dir(&request.cwd) {
        return refuse(&mut conn, format!("the working directory {}: {e}", request.cwd.display()));
    }
    let Ok(socket) = conn.try_clone() else { return None };
    console::begin_session(socket, request.stdout_tty, request.stderr_width, request.today);
    let name = command_name(&request.cli.command);
    request.cli.global.served = Served(Some(Arc::clone(served)));
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(request.cli))).unwrap_or_else(|_| {
        let _ = writeln!(console::stderr(), "pledger: internal error (see the server's output)");
        REFUSED
    });
    console::end_session();
    let _ = frame::write(&mut conn, frame::EXIT, &[code]);
    Some((name, code))
}

/// A command's name as typed (`status`, `member`), for the server's journal.
fn command_name(command: &Command) -> String {
    match serde_json::to_value(command) {
        Ok(serde_json::Value::String(s)) => s.to_lowercase(),
        Ok(serde_json::Value::Object(m)) => m.keys().next().map(|k| k.to_lowercase()).unwrap_or_default(),
        _ => String::new(),
    }
}
