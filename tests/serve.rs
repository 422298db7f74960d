//! End-to-end: `pledger serve` holds the ledger open and answers the commands other `pledger`
//! processes run on it — the same answers, the same refusals, nothing lost when it is killed.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, generated_ledger, Env};
use serde_json::Value;

/// A running `pledger serve` on the env's ledger, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    socket: std::path::PathBuf,
}

impl Server {
    fn start(env: &Env) -> Server {
        Self::start_in_zone(env, "UTC0")
    }

    /// A server whose local time is the POSIX time zone `tz`.
    fn start_in_zone(env: &Env, tz: &str) -> Server {
        Self::start_with(env, tz, "022")
    }

    /// A server started under the umask `umask`, its local time the POSIX time zone `tz`.
    fn start_with(env: &Env, tz: &str, umask: &str) -> Server {
        let socket = env.ledger.join("pledger.sock");
        let child = Command::new("sh")
            .args(["-c", &format!("umask {umask} && exec \"$0\" serve")])
            .arg(bin())
            .current_dir(env.dir.path())
            .env("PLEDGER_LEDGER", &env.ledger)
            .env("TZ", tz)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let server = Server { child, socket };
        let start = Instant::now();
        // Listening, not merely there: a killed server leaves its socket behind.
        while connect(&server.socket).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "the server never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    /// Sends `sig` with procps' `kill` (which `.ci/run` installs where it is missing).
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// Stops the server with SIGTERM; its exit status and stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        self.signal("-TERM");
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        (status, err)
    }

    /// SIGKILL (std's `kill` on Unix): no chance to clean up.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Connects to a socket, through its directory's descriptor when its path is longer than a
/// socket's address holds (as pledger does).
fn connect(socket: &std::path::Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::unix::net::UnixStream;
    UnixStream::connect(socket).or_else(|_| {
        let dir = std::fs::File::open(socket.parent().unwrap())?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        UnixStream::connect(
            std::path::Path::new("/proc/self/fd").join(fd.to_string()).join(socket.file_name().unwrap()),
        )
    })
}

fn triple(o: &Output) -> (Option<i32>, String, String) {
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A ledger with a pledge met in part, confirmed, and a checkpoint.
fn busy_ledger() -> Env {
    let env = Env::founded();
    let p = env.pledge_xof("psi", "1000000");
    let f = env.ok(&["--key", "psi.key", "fulfill", &p, "--amount", "400000", "--date", "2014-06-01"]);
    env.ok(&["--key", "dns.key", "attest", &f, "--confirm", "--date", "2014-06-10"]);
    env.ok(&["--key", "dns.key", "checkpoint"]);
    env
}

const QUERIES: &[&[&str]] = &[
    &["log", "--format", "json"],
    &["log", "--from", "3", "--format", "csv"],
    &["members", "--format", "json"],
    &["status"],
    &["status", "--org", "psi", "--format", "csv"],
    &["status", "--as-of", "2014-06-05", "--format", "json"],
    &["scorecard", "--format", "csv"],
    &["scorecard", "--format", "table"],
    &["coverage", "--format", "json"],
    &["coverage", "--area", "ML-3", "--format", "csv"],
    &["timeline", "--format", "json"],
    &["show", "P-000001", "--format", "json"],
    &["show", "P-999999"],
    &["prove", "inclusion", "P-000001"],
    &["verify"],
    &["status", "--org", "nobody"],
    &["status", "--at", "9999"],
];

#[test]
fn the_socket_is_its_users_alone_whatever_the_umask() {
    let env = busy_ledger();
    // What a server killed while starting leaves behind: swept by the next.
    std::fs::create_dir(env.ledger.join(".pledger-serve-4000000")).unwrap();
    let server = Server::start_with(&env, "UTC0", "000");
    let mode = std::fs::metadata(&server.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket under a umask of 000");
    // Made in a private directory and moved into place: nothing of that is left behind.
    let names: Vec<String> = std::fs::read_dir(&env.ledger)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".pledger-serve")), "{names:?}");
    assert_eq!(env.ok(&["status", "--org", "psi", "--format", "csv"]).lines().count(), 2);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn another_users_server_is_named_instead_of_waited_for() {
    let env = busy_ledger();
    let server = Server::start(&env);
    // What another user meets: directories open to all, a copy of the binary they may run, and
    // the server's socket, which is not theirs.
    for d in [env.dir.path(), env.ledger.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = env.path("pledger-copy");
    std::fs::copy(bin(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let has_setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut nobody = if root && has_setpriv {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c
    } else if Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|s| s.success()) {
        let mut c = Command::new("sudo");
        c.args(["-n", "-u", "#65534"]);
        c
    } else {
        crate::common::unavailable(
            "setpriv (util-linux) as root, or passwordless sudo, to run a command as another user",
        );
        return;
    };
    let owner = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let before = env.state();
    let out = nobody
        .current_dir("/")
        .arg(&copy)
        .args(["--ledger", env.ledger.to_str().unwrap(), "--wait", "5", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("is served by {}'s `pledger serve`", owner.trim())), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(env.state(), before);
    let (status, _) = server.stop();
    assert!(status.success());
}

/// A command that runs `argv` as the user nobody (uid 65534): setpriv as root, or sudo.
fn as_nobody() -> Option<Command> {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let has_setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if root && has_setpriv {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        Some(c)
    } else if Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|s| s.success()) {
        let mut c = Command::new("sudo");
        c.args(["-n", "-u", "#65534"]);
        Some(c)
    } else {
        crate::common::unavailable(
            "setpriv (util-linux) as root, or passwordless sudo, to run a command as another user",
        );
        None
    }
}

/// What listens on a ledger's socket when another local user put it there: it answers every
/// command "verified" with exit 0, and records every byte it is sent.
const IMPOSTOR: &str = r#"
import os, socket, struct, sys
path, record = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
s.settimeout(60)
open(record + ".ready", "w").close()
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        sys.exit(0)
    c.settimeout(2)
    def frame(tag, payload=b""):
        c.sendall(tag + struct.pack(">I", len(payload)) + payload)
    try:
        got = c.recv(1 << 20)
        with open(record, "ab") as f:
            f.write(got)
        frame(b"S")
        c.recv(1 << 20)
        frame(b"O", b"verified 63 entries of hmis.sante.gov.ml/pledges: every signature, every rule\n")
        frame(b"X", b"\x00")
    except Exception:
        pass
    c.close()
"#;

#[test]
fn a_socket_another_user_made_is_sent_nothing_and_believed_in_nothing() {
    let env = busy_ledger();
    env.ok(&["export", "good.jsonl"]);
    env.write("evil.jsonl", "{\"bundle\":\"pledger-bundle/v1\",\"origin\":\"x\",\"size\":0,\"checkpoints\":[]}\n");
    env.write("cp.txt", &(env.ok(&["checkpoint"]) + "\n"));
    env.write("proof.json", &env.ok(&["prove", "inclusion", "P-000001"]));
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    let before = env.state();
    // A ledger directory others can write, as a group-writable one shared carelessly (the
    // directory above, which holds the keys, only open to pass through).
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&env.ledger, std::fs::Permissions::from_mode(0o777)).unwrap();
    let Some(mut nobody) = as_nobody() else { return };
    // The system's Python: another user cannot reach one installed in root's home.
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(python) = python else {
        return crate::common::unavailable("python3 in /usr/bin, for a process of another user");
    };
    let record = env.ledger.join("received");
    let mut impostor = nobody
        .args([python, "-c", IMPOSTOR])
        .arg(env.ledger.join("pledger.sock"))
        .arg(&record)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !env.ledger.join("received.ready").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "the impostor never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Commands that need no ledger never go near the socket: the evil bundle fails here.
    let out = env.run(&["verify", "--bundle", "evil.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", triple(&out).2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no checkpoint of its size"), "{}", triple(&out).2);
    let out = env.run(&["verify", "--bundle", "good.jsonl", "--log-key", &vkey]);
    assert!(out.status.success(), "{}", triple(&out).2);
    let out = env.run(&["verify", "--proof", "proof.json", "--checkpoint", "cp.txt", "--log-key", &vkey]);
    assert!(out.status.success(), "{}", triple(&out).2);
    env.ok(&["keygen", "new.key"]);
    // Commands on the ledger are refused, and the impostor is told nothing.
    for args in [
        vec!["verify"],
        vec!["verify", "--checkpoint", "cp.txt"],
        vec![
            "--key", "psi.key", "pledge", "--to", "dns", "--category", "equipment", "--area", "ML-3", "--amount", "5",
            "--currency", "XOF", "--due", "2015-01-01", "--title", "T",
        ],
        vec!["status"],
    ] {
        let (code, stdout, stderr) = triple(&env.run(&args));
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("pledger.sock is answered by a process of "), "{stderr}");
        assert!(stderr.contains(", not by you: pledger sends it nothing"), "{stderr}");
    }
    let received = std::fs::read(&record).unwrap_or_default();
    assert!(received.is_empty(), "the impostor was sent {}", String::from_utf8_lossy(&received));
    let _ = impostor.kill();
    let _ = impostor.wait();
    std::fs::remove_file(env.ledger.join("pledger.sock")).unwrap();
    assert_eq!(env.state(), before, "nothing was written");
}

#[test]
fn a_ledger_deeper_than_a_sockets_address_allows_is_served() {
    let env = busy_ledger();
    let want = env.ok(&["status", "--org", "psi", "--format", "csv"]);
    // A socket's address holds 107 bytes; this path is longer.
    let deep = env.dir.path().join("d".repeat(60)).join("e".repeat(60)).join("ledger");
    std::fs::create_dir_all(deep.parent().unwrap()).unwrap();
    std::fs::rename(&env.ledger, &deep).unwrap();
    let env = Env { dir: env.dir, ledger: deep };
    assert!(env.ledger.join("pledger.sock").as_os_str().len() > 108);
    let server = Server::start(&env);
    let mode = std::fs::metadata(&server.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(env.ok(&["status", "--org", "psi", "--format", "csv"]), want);
    let (status, err) = server.stop();
    assert!(status.success(), "{err}");
    assert!(!env.ledger.join("pledger.sock").exists(), "the socket outlived its server");
}

#[test]
fn served_commands_answer_exactly_as_a_process_of_their_own() {
    let env = busy_ledger();
    let alone: Vec<_> = QUERIES.iter().map(|q| triple(&env.run(q))).collect();
    let server = Server::start(&env);
    let mode = std::fs::metadata(&server.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is its user's alone");
    for (q, want) in QUERIES.iter().zip(&alone) {
        let got = triple(&env.run(q));
        assert_eq!(&got, want, "{q:?} through the server");
    }
    // Some of them did fail, and the failures came through as one line each.
    assert!(alone.iter().filter(|(code, _, _)| *code != Some(0)).count() >= 3);
    // A write through the server is acknowledged by the server's handle, and on disk.
    let p = env.ok(&crate::common::pledge_with("usaid.key", &[("--date", "2014-02-01")]));
    assert_eq!(p, "P-000002");
    let served_log = env.ok(&["log", "--format", "json"]);
    let (status, err) = server.stop();
    assert!(status.success(), "{err}");
    assert!(err.contains("serving"), "{err}");
    // Its journal: a line per request, with its exit code; the pledge was two requests, the
    // signing context and the append of what the client signed.
    for line in
        [" scorecard exit 0 in ", " show exit 1 in ", " context exit 0 in ", " append exit 0 in ", " verify exit 0 in "]
    {
        assert!(err.contains(line), "no {line:?} in the server's journal:\n{err}");
    }
    assert_eq!(err.lines().filter(|l| l.contains(" exit ")).count(), QUERIES.len() + 3, "{err}");
    assert_eq!(env.ok(&["log", "--format", "json"]), served_log);
    assert!(served_log.contains("\"P-000002\""));
    env.ok(&["verify"]);
}

#[test]
fn a_served_ledger_refuses_bad_input_as_a_process_would() {
    let env = busy_ledger();
    let _server = Server::start(&env);
    env.refused(&crate::common::pledge_with("psi.key", &[("--amount", "1.5")]), 2, "amount");
    env.refused(&crate::common::pledge_with("psi.key", &[("--due", "2015-02-30")]), 2, "date");
    env.refused(&["--key", "psi.key", "fulfill", "P-000042", "--amount", "5", "--date", "2014-06-01"], 1, "P-000042");
    env.refused(&["--key", "psi.key", "attest", "F-000001", "--confirm"], 1, "psi");
    // A forged envelope: psi's event, its signature altered.
    let signed = env.ok(&[&crate::common::pledge_with("psi.key", &[])[..], &["--sign-only".to_owned()]].concat());
    let mut v: serde_json::Value = serde_json::from_str(&signed).unwrap();
    let sig = v["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &sig[1..]),
    };
    v["signatures"][0]["sig"] = serde_json::Value::String(flipped);
    env.write("forged.json", &v.to_string());
    env.refused(&["submit", "forged.json"], 1, "signature");
    env.write("truncated.json", &signed[..signed.len() / 2]);
    env.refused(&["submit", "truncated.json"], 1, "truncated.json");
    // The server still answers, and the ledger is whole.
    assert!(env.ok(&["verify"]).starts_with("verified"));
    env.write("good.json", &signed);
    assert_eq!(env.ok(&["submit", "good.json"]), "P-000002");
}

#[test]
fn submit_reads_the_clients_stdin_through_the_server() {
    let env = busy_ledger();
    let mut lines = String::new();
    for title in ["one", "two", "three"] {
        lines += &env.ok(&[
            &crate::common::pledge_with("measure.key", &[("--title", title)])[..],
            &["--sign-only".to_owned()],
        ]
        .concat());
        lines.push('\n');
    }
    let _server = Server::start(&env);
    let mut child = env.submit_stream();
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "P-000002\nP-000003\nP-000004\n");
    let status = env.ok(&["status", "--org", "measure", "--format", "json"]);
    assert_eq!(status.lines().count(), 3);
}

#[test]
fn a_busy_server_is_waited_for_with_a_bound() {
    let env = busy_ledger();
    let signed = env.ok(&[&crate::common::pledge_with("psi.key", &[])[..], &["--sign-only".to_owned()]].concat());
    let _server = Server::start(&env);
    // `submit -` holds the server while it waits on its input.
    let mut holder = env.submit_stream();
    let start = Instant::now();
    let busy = loop {
        let out = env.run(&["--wait", "0.2", "members"]);
        if out.status.code() == Some(75) {
            break out;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the server never got busy");
    };
    let err = String::from_utf8(busy.stderr).unwrap();
    assert!(err.starts_with("pledger: ledger ") && err.contains("in use"), "{err}");
    assert_eq!(err.lines().count(), 1);
    // A command waiting longer is answered once the server is free.
    let waiter = Command::new(bin())
        .args(["--ledger", env.ledger.to_str().unwrap(), "--wait", "30", "members", "--format", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = holder.stdin.take().unwrap();
    input.write_all(signed.as_bytes()).unwrap();
    drop(input);
    let held = holder.wait_with_output().unwrap();
    assert!(held.status.success(), "{}", String::from_utf8_lossy(&held.stderr));
    assert_eq!(String::from_utf8(held.stdout).unwrap(), "P-000002\n");
    let waited = waiter.wait_with_output().unwrap();
    assert!(waited.status.success());
    assert_eq!(String::from_utf8(waited.stdout).unwrap().lines().count(), 5);
}

#[test]
fn one_server_per_ledger_and_a_stale_socket_is_passed_over() {
    let env = busy_ledger();
    let before = env.ok(&["log", "--format", "json"]);
    let server = Server::start(&env);
    let second = env.run(&["--wait", "0", "serve"]);
    assert_eq!(second.status.code(), Some(75), "{}", String::from_utf8_lossy(&second.stderr));
    // Killed without warning, the server leaves its socket; commands open the ledger themselves.
    server.kill();
    assert!(env.ledger.join("pledger.sock").exists());
    assert_eq!(env.ok(&["log", "--format", "json"]), before);
    // A new server takes the stale socket's place.
    let server = Server::start(&env);
    assert_eq!(env.ok(&["log", "--format", "json"]), before);
    let (status, _) = server.stop();
    assert!(status.success());
    assert!(!env.ledger.join("pledger.sock").exists(), "a server stopped by SIGTERM removes its socket");
}

#[test]
fn killing_the_server_mid_write_loses_nothing_acknowledged() {
    let env = busy_ledger();
    for round in 0..3u64 {
        let server = Server::start(&env);
        let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Writes through the server until it is killed; each printed id is acknowledged (the
        // last ones may be written by the command itself once the server is gone).
        let writer = {
            let killed = std::sync::Arc::clone(&killed);
            let program = bin();
            let dir = env.dir.path().to_owned();
            let ledger = env.ledger.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while !killed.load(std::sync::atomic::Ordering::SeqCst) {
                    i += 1;
                    let title = format!("r{round}-{i}");
                    let out = Command::new(&program)
                        .current_dir(&dir)
                        .env("PLEDGER_LEDGER", &ledger)
                        .args(crate::common::pledge_with("usaid.key", &[("--title", &title)]))
                        .output()
                        .unwrap();
                    if out.status.success() {
                        acknowledged.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
                    }
                }
                acknowledged
            })
        };
        std::thread::sleep(Duration::from_millis(150 + 120 * round));
        server.kill();
        killed.store(true, std::sync::atomic::Ordering::SeqCst);
        let acknowledged = writer.join().unwrap();
        assert!(!acknowledged.is_empty(), "round {round}: nothing was written before the kill");
        let log = env.ok(&["log", "--format", "json"]);
        for id in &acknowledged {
            assert!(log.contains(&format!("\"{id}\"")), "round {round}: acknowledged {id} lost");
        }
        assert!(env.ok(&["verify"]).starts_with("verified"));
    }
}

#[test]
fn long_work_shows_its_progress_on_the_clients_terminal() {
    let env = busy_ledger();
    let _server = Server::start(&env);
    // Piped: no progress, through the server as without it.
    let piped = env.run(&["verify"]);
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("verifying"));
    // On a terminal (a pseudo-terminal from util-linux's `script`), the bar is drawn there.
    let on_terminal = |extra: &str| {
        let line = format!("{} --ledger {} verify {extra}", bin().display(), env.ledger.display());
        Command::new("script").args(["-qec", &line, "/dev/null"]).stdin(Stdio::null()).output()
    };
    match on_terminal("") {
        Ok(out) if out.status.success() => {
            let shown = String::from_utf8_lossy(&out.stdout);
            assert!(shown.contains("verifying"), "no progress on the client's terminal: {shown:?}");
            assert!(shown.contains("verified"), "{shown:?}");
            let quiet = on_terminal("--quiet").unwrap();
            assert!(!String::from_utf8_lossy(&quiet.stdout).contains("verifying"));
        }
        _ => crate::common::unavailable("util-linux `script`, to give the client a terminal"),
    }
}

/// Every kind of command, through the server: writes of each kind, files read and written in
/// the client's working directory, proofs, a witness, a report, a rebuild — each answered, the
/// ledger whole at the end.
#[test]
fn every_kind_of_command_runs_through_the_server() {
    let env = busy_ledger();
    let server = Server::start(&env);
    let ok = |args: &[&str]| env.ok(args);
    assert_eq!(
        ok(&["--key", "psi.key", "amend", "P-000001", "--increase", "5000", "--date", "2014-07-01"]),
        "M-000001"
    );
    assert_eq!(
        ok(&[
            "--key", "psi.key", "withdraw", "P-000001", "--amount", "1000", "--reason", "cut", "--date", "2014-08-01"
        ]),
        "W-000001"
    );
    let f = ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "2000", "--date", "2014-09-01"]);
    assert_eq!(ok(&["--key", "dns.key", "attest", &f, "--dispute", "--date", "2014-09-05"]), "A-000002");
    env.keygen("psi2.key");
    ok(&["--key", "psi.key", "key", "add", "psi", "--pubkey", "psi2.key.pub"]);
    ok(&["--key", "dns.key", "area", "add", "ML-2", "--name", "Koulikoro", "--level", "region", "--parent", "ML"]);
    // The client's relative paths, in the client's directory.
    std::fs::create_dir(env.path("out")).unwrap();
    let checkpoint = ok(&["--key", "dns.key", "checkpoint"]);
    env.write("out/cp.txt", &format!("{checkpoint}\n"));
    ok(&["export", "out/bundle.jsonl"]);
    ok(&["report", "--html", "out/report.html"]);
    assert!(std::fs::read_to_string(env.path("out/report.html")).unwrap().contains("<svg"));
    let proof = ok(&["prove", "consistency", "3"]);
    assert!(proof.contains("\"old_size\": 3"), "{proof}");
    ok(&["verify", "--checkpoint", "out/cp.txt"]);
    let vkey = ok(&["checkpoint", "--vkey"]);
    let cosigned =
        ok(&["--key", "bvg.key", "witness", "cosign", "out/cp.txt", "--state", "out/witness", "--log-key", &vkey]);
    assert!(cosigned.contains("— witness-"));
    let size: u64 = ok(&["rebuild"]).parse().unwrap();
    assert!(size > 15);
    // The server's last answers, and then the ledger as a process of its own finds it.
    let (status, err) = server.stop();
    assert!(status.success(), "{err}");
    let alone = Command::new(bin())
        .args(["verify", "--bundle", "out/bundle.jsonl", "--checkpoint", "out/cp.txt"])
        .current_dir(env.dir.path())
        .env_remove("PLEDGER_LEDGER")
        .output()
        .unwrap();
    assert!(alone.status.success(), "{}", String::from_utf8_lossy(&alone.stderr));
    assert!(env.ok(&["verify", "--checkpoint", "out/cp.txt"]).starts_with("verified"));
    assert_eq!(env.ok(&["log", "--format", "json"]).lines().count() as u64, size);
}

#[test]
fn a_served_client_whose_reader_goes_away_ends_quietly_and_the_server_goes_on() {
    let env = generated_ledger(600);
    let _server = Server::start(&env);
    let mut child = Command::new(bin())
        .args(["--ledger", env.ledger.to_str().unwrap(), "log", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `pledger log | head -1` does.
    let mut first = String::new();
    {
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    }
    assert!(first.starts_with("{\"seq\":0"), "{first}");
    let out = child.wait_with_output().unwrap();
    // Ended by SIGPIPE, or exited with the status a shell gives that (141): the same to a script.
    use std::os::unix::process::ExitStatusExt;
    assert!(out.status.code() == Some(141) || out.status.signal() == Some(13), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    // The server answers the next command.
    assert_eq!(env.ok(&["log", "--format", "json"]).lines().count(), 600);
}

#[test]
fn a_served_submit_refused_mid_input_answers_with_its_refusal() {
    let env = generated_ledger(200);
    let _server = Server::start(&env);
    // A bad line first, then far more input than a socket buffers: the server refuses at the
    // first line and stops reading; the client still ends with the refusal, not a broken pipe.
    let mut input = String::from("{\"not\": \"an envelope\"}\n");
    input.push_str(&"{\"payloadType\":\"x\"}\n".repeat(20_000));
    let before = env.state();
    let mut child = env.submit_stream();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The reader may stop reading before the end: a failed write here is expected.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("pledger: -:1:"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(env.state(), before);
}

#[test]
fn today_is_the_clients_date_not_the_servers() {
    let env = busy_ledger();
    // Fourteen hours ahead of UTC for the server, twelve behind for the client: their dates
    // always differ.
    let _server = Server::start_in_zone(&env, "SRV-14");
    let client_today = || (chrono::Utc::now() - chrono::Duration::hours(12)).date_naive().to_string();
    let before = client_today();
    let out = env
        .cmd()
        .env("TZ", "CLI+12")
        .args(["--key", "usaid.key", "pledge", "--to", "dns", "--category", "funding", "--area", "ML"])
        .args(["--amount", "5", "--currency", "XOF", "--due", "2030-01-01", "--title", "Dated by its signer"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = client_today();
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let shown: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id, "--format", "json"])).unwrap();
    let made = shown["status"]["made"].as_str().unwrap().to_owned();
    assert!(made == before || made == after, "made {made}, the client's date {before} (or {after})");
}

#[test]
fn a_second_interrupt_stops_the_server_without_waiting() {
    let env = busy_ledger();
    let before = env.ok(&["log", "--format", "json"]);
    let server = Server::start(&env);
    // Busy: a submit waiting on its input.
    let mut holder = env.submit_stream();
    let start = Instant::now();
    while env.run(&["--wait", "0.1", "members"]).status.code() != Some(75) {
        assert!(start.elapsed() < Duration::from_secs(20), "the server never got busy");
    }
    // The first interrupt waits for the command in hand; the second does not.
    server.signal("-INT");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("-INT");
    let mut server = server;
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!env.ledger.join("pledger.sock").exists());
    drop(holder.stdin.take());
    let held = holder.wait_with_output().unwrap();
    assert_eq!(held.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&held.stderr).contains("stopped before the command ended"));
    // Nothing was written; the ledger opens and verifies.
    assert_eq!(env.ok(&["log", "--format", "json"]), before);
    env.ok(&["verify"]);
}

/// What a hostile or broken client sends the socket: the server answers it or hangs up on it,
/// and goes on answering others.
#[test]
fn garbage_on_the_socket_is_refused_and_the_server_goes_on() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let env = busy_ledger();
    let before = env.state();
    let server = Server::start(&env);
    let frame = |tag: u8, payload: &[u8]| {
        let mut f = vec![tag];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let exchange = |bytes: &[u8]| -> Vec<u8> {
        let mut s = UnixStream::connect(&server.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    };
    // A request that is not one of pledger's: refused, in one failure frame naming it.
    let answer = exchange(&frame(b'R', b"{\"cwd\": 7}"));
    assert_eq!(answer.first(), Some(&b'F'), "{answer:?}");
    let failure: Value = serde_json::from_slice(&answer[5..]).unwrap();
    assert_eq!(failure["kind"], "usage");
    assert!(
        failure["message"].as_str().unwrap().starts_with("the ledger's server could not read the request"),
        "{failure}"
    );
    // Noise, a frame claiming 4 GB, a frame of an unknown kind, a half frame: hung up on.
    for junk in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[b'R', 0xff, 0xff, 0xff, 0xff], &frame(b'Z', b"x"), &[b'R', 0, 0]] {
        assert!(exchange(junk).is_empty(), "{junk:?}");
    }
    // The server still answers, and nothing was written.
    assert_eq!(env.state(), before);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn compaction_is_refused_while_the_ledger_is_served_and_runs_once_it_is_not() {
    let env = generated_ledger(200);
    let before = env.state();
    let server = Server::start(&env);
    let out = env.run(&["compact"]);
    let (code, stdout, stderr) = triple(&out);
    assert_eq!(code, Some(75), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.starts_with("pledger: ") && stderr.trim_end().lines().count() == 1, "{stderr}");
    assert!(stderr.contains("served by `pledger serve`") && stderr.contains("stop the server"), "{stderr}");
    assert_eq!(env.state(), before);
    let (status, _) = server.stop();
    assert!(status.success());
    // Run now, to its end: compacted, or found compact already (a small ledger).
    let out = env.ok(&["compact"]);
    assert!(out.starts_with("compacted") || out.ends_with("left as it was"), "{out}");
    assert_eq!(env.state(), before);
}

/// A client's files are its own to read: a device or a FIFO it was given holds that client, never
/// the server; a client that goes away before its group is written leaves nothing written; and a
/// stop signal is obeyed within seconds even while a stream holds the server.
#[test]
fn no_client_holds_the_server_and_a_client_gone_writes_nothing() {
    let env = busy_ledger();
    let before = env.state();
    let signed = env.ok(&[&crate::common::pledge_with("psi.key", &[])[..], &["--sign-only".to_owned()]].concat());
    let server = Server::start(&env);
    // Hashing /dev/zero as evidence, or waiting on a FIFO as its key: the client's own work.
    let mut hashing = Command::new(bin())
        .args(["--ledger", env.ledger.to_str().unwrap(), "--key", "psi.key", "fulfill", "P-000001"])
        .args(["--amount", "1", "--date", "2014-07-01", "--evidence", "/dev/zero"])
        .current_dir(env.dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, env.path("key.fifo"), rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let fifo = env.run(&["--key", "key.fifo", "withdraw", "P-000001", "--reason", "r"]);
    assert_eq!(fifo.status.code(), Some(1), "{}", String::from_utf8_lossy(&fifo.stderr));
    assert!(String::from_utf8_lossy(&fifo.stderr).contains("not a regular file (a FIFO)"));
    let start = Instant::now();
    assert_eq!(env.ok(&["--wait", "2", "members", "--format", "json"]).lines().count(), 5);
    assert!(start.elapsed() < Duration::from_secs(2), "the server was held");
    hashing.kill().unwrap();
    hashing.wait().unwrap();
    // A stream whose client is killed before its group is full: its envelope is not written.
    let mut stream = env.submit_stream();
    stream.stdin.as_mut().unwrap().write_all(format!("{signed}\n").as_bytes()).unwrap();
    let start = Instant::now();
    while env.run(&["--wait", "0.1", "members"]).status.code() != Some(75) {
        assert!(start.elapsed() < Duration::from_secs(20), "the stream never held the server");
    }
    stream.kill().unwrap();
    stream.wait().unwrap();
    let start = Instant::now();
    while env.run(&["--wait", "0.5", "members"]).status.code() != Some(0) {
        assert!(start.elapsed() < Duration::from_secs(20), "the server never came back");
    }
    assert_eq!(env.state(), before, "the group of a client gone was written");
    // One SIGTERM, a stream holding the server: it stops within its grace, writing nothing.
    let mut holder = env.submit_stream();
    holder.stdin.as_mut().unwrap().write_all(format!("{signed}\n").as_bytes()).unwrap();
    let start = Instant::now();
    while env.run(&["--wait", "0.1", "members"]).status.code() != Some(75) {
        assert!(start.elapsed() < Duration::from_secs(20), "the stream never held the server");
    }
    let stopping = Instant::now();
    server.signal("-TERM");
    let mut server = server;
    let status = server.child.wait().unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(10), "one SIGTERM took {:?}", stopping.elapsed());
    assert!(!status.success());
    assert!(!env.ledger.join("pledger.sock").exists());
    drop(holder.stdin.take());
    let held = holder.wait_with_output().unwrap();
    assert_eq!(held.status.code(), Some(1));
    assert_eq!(env.state(), before);
    env.ok(&["verify"]);
}

/// With PLEDGER_SERVE_ON_USE, the first command starts a server the next commands reach, and
/// the server stops by itself once idle: the same answers as processes of their own, every
/// write on disk, the ledger as verify finds it; a bad setting is named.
#[test]
fn a_server_started_on_first_use_serves_the_next_commands_and_stops_when_idle() {
    let env = busy_ledger();
    let socket = env.ledger.join("pledger.sock");
    let before = env.ok(&["status", "--format", "json"]);
    assert!(!socket.exists(), "no server until one is asked for");
    let on_use = |value: &str, args: &[&str]| env.cmd().env("PLEDGER_SERVE_ON_USE", value).args(args).output().unwrap();

    let first = on_use("2", &["status", "--format", "json"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(String::from_utf8_lossy(&first.stdout).trim(), before);
    assert!(connect(&socket).is_ok(), "the first command left a server listening");
    // The next commands, writes included, are answered by it.
    let p = env.pledge_xof("psi", "250000");
    assert_eq!(p, "P-000002");
    let served = on_use("2", &["show", &p, "--format", "json"]);
    assert!(served.status.success(), "{}", String::from_utf8_lossy(&served.stderr));

    // Idle for two seconds, it stops and removes its socket.
    let start = Instant::now();
    while socket.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "the idle server never stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The write is on disk: a process of its own reads it, and the ledger verifies.
    assert_eq!(env.ok(&["show", &p, "--format", "json"]), String::from_utf8_lossy(&served.stdout).trim());
    env.ok(&["verify"]);

    // 0 starts nothing; a bad value is a usage error naming the setting, and nothing runs.
    let none = on_use("0", &["status", "--format", "json"]);
    assert!(none.status.success());
    assert!(!socket.exists(), "PLEDGER_SERVE_ON_USE=0 starts no server");
    let bad = on_use("soon", &["status"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("PLEDGER_SERVE_ON_USE") && err.lines().count() == 1, "{err}");
    assert!(!socket.exists());
}
