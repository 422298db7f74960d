//! End-to-end over loopback: `pledger serve --http` taking writes from many clients at once and
//! answering each with a receipt that holds; killed mid-load, honouring every receipt it gave;
//! monitors following the server and a static copy, and naming a rollback and a split view;
//! witnesses over HTTP; hostile requests. Every server here listens on 127.0.0.1 and is stopped
//! when its test ends.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, Env, ORIGIN};
use pledger_core::event::{PledgeBody, Title};
use pledger_core::{AreaCode, Body, CategoryCode, Date, Measure, MemberId, Unit};
use pledger_http::client::Remote;
use pledger_http::Receipt;
use pledger_log::Envelope;

/// A child process killed and reaped when dropped, so that a failing test leaves nothing behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `pledger serve --http` on 127.0.0.1, on a port the system chose; killed when dropped.
struct Http {
    child: Child,
    url: String,
}

impl Http {
    fn start(env: &Env, extra: &[&str]) -> Http {
        Self::start_on(env, &env.ledger, extra)
    }

    fn start_on(env: &Env, ledger: &std::path::Path, extra: &[&str]) -> Http {
        Self::start_at(env, ledger, "127.0.0.1:0", extra)
    }

    fn start_at(env: &Env, ledger: &std::path::Path, addr: &str, extra: &[&str]) -> Http {
        let mut child = Command::new(bin())
            .args(["--ledger", ledger.to_str().unwrap(), "--key", "dns.key", "serve", "--http", addr])
            .args(extra)
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("the server said: {line}"))
            .trim_end_matches(';')
            .to_owned();
        // Its journal goes on being read, so that the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
        });
        Http { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it with SIGTERM: its exit code, and how long it took.
    fn terminate(&mut self) -> (Option<i32>, Duration) {
        let start = Instant::now();
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), start.elapsed());
            }
            assert!(start.elapsed() < Duration::from_secs(20), "SIGTERM did not stop the server");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` pledges signed by `member`, each with a distinct title `tag i`.
fn pledges(env: &Env, member: &str, n: usize, tag: &str) -> Vec<Envelope> {
    let signer = pledger_log::sign::Signer {
        origin: ORIGIN.into(),
        member: MemberId::parse(member).unwrap(),
        key: pledger_log::keys::read_private(&env.path(&format!("{member}.key"))).unwrap(),
    };
    let now = chrono::Utc::now();
    (0..n)
        .map(|i| {
            signer.sign(
                now,
                Date::parse("2014-03-01").unwrap(),
                Body::Pledge(PledgeBody {
                    to: MemberId::parse("dns").unwrap(),
                    category: CategoryCode::parse("funding").unwrap(),
                    areas: vec![AreaCode::parse("ML").unwrap()],
                    amount: Measure::new(1000 + i as u64, Unit::currency("XOF").unwrap()).unwrap(),
                    due: Date::parse("2015-06-30").unwrap(),
                    title: Title::parse(&format!("{tag} {i}")).unwrap(),
                    tranches: Vec::new(),
                }),
            )
        })
        .collect()
}

fn log_key(env: &Env) -> ed25519_dalek::VerifyingKey {
    pledger_log::keys::read_public(&env.path("dns.key.pub")).unwrap()
}

/// `clients` threads, each posting its share of `envelopes` one request at a time; every
/// receipt received is checked and returned with its envelope. A client stops at its first
/// failure (the server killed).
fn post_concurrently(
    url: &str,
    envelopes: Vec<Envelope>,
    clients: usize,
    key: ed25519_dalek::VerifyingKey,
) -> Vec<(Envelope, Receipt)> {
    let shares: Vec<Vec<Envelope>> =
        (0..clients).map(|c| envelopes.iter().skip(c).step_by(clients).cloned().collect()).collect();
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let url = url.to_owned();
            std::thread::spawn(move || {
                let remote = Remote::new(&url).unwrap();
                let mut got = Vec::new();
                for env in share {
                    match remote.post_entries(std::slice::from_ref(&env)) {
                        Ok(mut r) => {
                            let r = r.remove(0);
                            r.verify(ORIGIN, &key, Some(&env)).unwrap_or_else(|e| panic!("{e}"));
                            got.push((env, r));
                        }
                        Err(_) => break,
                    }
                }
                got
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

#[test]
fn fifty_clients_write_at_once_and_every_receipt_holds_even_when_the_server_is_killed() {
    let env = Env::founded();
    let key = log_key(&env);
    let mut server = Http::start(&env, &[]);
    let first = pledges(&env, "psi", 2000, "load");
    let receipts = post_concurrently(&server.url, first, 50, key);
    assert_eq!(receipts.len(), 2000, "every write acknowledged");
    let mut seqs: Vec<u64> = receipts.iter().map(|(_, r)| r.seq).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 2000, "one entry each");
    // A receipt can be asked for again, and holds again.
    let remote = Remote::new(&server.url).unwrap();
    let (env0, r0) = &receipts[17];
    let again: Receipt = remote.get_json(&format!("v1/receipts/{}", r0.event_id)).unwrap();
    again.verify(ORIGIN, &key, Some(env0)).unwrap();
    assert_eq!(again.entry, r0.entry);
    // Killed in the middle of another load: every receipt given is honoured afterwards.
    let second = pledges(&env, "usaid", 2000, "killed");
    let url = server.url.clone();
    let load = std::thread::spawn(move || post_concurrently(&url, second, 50, key));
    std::thread::sleep(Duration::from_millis(400));
    server.kill();
    let given = load.join().unwrap();
    assert!(!given.is_empty(), "nothing was acknowledged before the kill: kill later");
    let ledger = pledger_store::Ledger::open(&env.ledger, Duration::from_secs(10)).unwrap();
    for (_, r) in receipts.iter().chain(&given) {
        let line = ledger.line(r.seq).unwrap().expect("the entry a receipt names is there");
        assert_eq!(line, r.entry.as_bytes(), "entry {}", r.seq);
        let note = pledger_log::note::Note::parse(r.checkpoint.as_bytes()).unwrap();
        let cp = pledger_log::checkpoint::Checkpoint::open(&note, &key).unwrap();
        assert!(cp.size <= ledger.size());
        assert_eq!(pledger_log::merkle::root::<pledger_log::merkle::Blake3, _>(&ledger, cp.size).unwrap(), cp.root);
    }
    drop(ledger);
    let verified = env.ok(&["verify"]);
    assert!(verified.starts_with("verified"), "{verified}");
}

#[test]
fn writes_over_remote_check_their_receipts_and_pin_the_log_key() {
    let env = Env::founded();
    let server = Http::start(&env, &[]);
    let config = env.path("config");
    let remote_cmd = |args: &[&str]| {
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER").env("PLEDGER_CONFIG", &config).args(args);
        c.output().unwrap()
    };
    let url = server.url.clone();
    let pledge = |key: &str, extra: &[&str]| {
        let mut args = crate::common::pledge_with(key, &[]);
        args.extend(["--remote".to_owned(), url.clone()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        remote_cmd(&args)
    };
    let out = pledge("psi.key", &["--receipts", "receipts"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "P-000001");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pinned the log key"));
    let kept: Vec<_> = std::fs::read_dir(env.path("receipts")).unwrap().collect();
    assert_eq!(kept.len(), 1);
    // Queries over --remote answer as the ledger does.
    let remote_status = remote_cmd(&["status", "--remote", &url, "--format", "csv"]);
    assert!(String::from_utf8_lossy(&remote_status.stdout).contains("P-000001,psi,dns"));
    // A refusal is the ledger's, in one line: a key the ledger does not know.
    env.keygen("stranger.key");
    let out = pledge("stranger.key", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not a member") || err.contains("unknown") || err.contains("key"), "{err}");
    // Another ledger's server at the same address, signing with another key: not believed.
    let addr = server.url.trim_start_matches("http://").to_owned();
    drop(server);
    let other = Env::founded();
    let untouched = other.state();
    let impostor = Http::start_at(&other, &other.ledger, &addr, &[]);
    let out = pledge("psi.key", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not with the log key pinned for it"), "{err}");
    // Nothing was written there.
    drop(impostor);
    assert_eq!(other.state(), untouched);
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Python's http.server serving `dir` on 127.0.0.1; killed when dropped.
struct Static {
    child: Child,
    url: String,
}

impl Static {
    fn start(dir: &std::path::Path) -> Option<Static> {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let s = Static { child, url: format!("http://127.0.0.1:{port}") };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(s)
    }
}

impl Drop for Static {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn monitor(env: &Env, url: &str, state: &str) -> std::process::Output {
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["monitor", url, "--log-key", &vkey, "--state", state]);
    c.output().unwrap()
}

fn submit(env: &Env, ledger: &std::path::Path, envelopes: &[Envelope]) {
    let file = env.path("batch.jsonl");
    std::fs::write(&file, envelopes.iter().map(|e| e.to_json() + "\n").collect::<String>()).unwrap();
    let out = env.cmd().args(["--ledger", ledger.to_str().unwrap(), "-q", "submit"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn monitors_follow_the_server_and_a_static_copy_and_name_a_rollback_and_a_split_view() {
    let env = Env::founded();
    submit(&env, &env.ledger, &pledges(&env, "psi", 300, "first"));
    env.ok(&["--key", "dns.key", "checkpoint"]);
    let before = env.path("before");
    crate::common::copy_dir(&env.ledger, &before);
    submit(&env, &env.ledger, &pledges(&env, "psi", 200, "second"));
    env.ok(&["--key", "dns.key", "checkpoint"]);
    // The server: caught up from nothing, then nothing new.
    let server = Http::start(&env, &[]);
    let out = monitor(&env, &server.url, "mon");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(" new entries, every one verified"), "{said}");
    let out = monitor(&env, &server.url, "mon");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(": 0 new entries"), "{said}");
    // The same log published as files, served by Python's http.server: the same answer.
    let published = env.ok(&["publish", "site"]);
    assert!(published.starts_with("published "), "{published}");
    match Static::start(&env.path("site")) {
        Some(site) => {
            let out = monitor(&env, &site.url, "mon-static");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            // It follows: more entries, published again (only what is new), seen by the next round.
            drop(server);
            submit(&env, &env.ledger, &pledges(&env, "usaid", 20, "third"));
            env.ok(&["--key", "dns.key", "checkpoint"]);
            let again = env.ok(&["publish", "site"]);
            assert!(again.contains("full ones already there"), "{again}");
            let out = monitor(&env, &site.url, "mon-static");
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(said.contains(": 20 new entries"), "{said}{}", String::from_utf8_lossy(&out.stderr));
        }
        None => crate::common::unavailable("python3's http.server, to serve a published copy"),
    }
    // A rollback: the server now serves the ledger as it was, smaller.
    let old = Http::start_on(&env, &before, &[]);
    let out = monitor(&env, &old.url, "mon");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rollback: the log's checkpoint is of size"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    drop(old);
    // A split view: the earlier copy grows another history under the same origin and key.
    submit(&env, &before, &pledges(&env, "measure", 250, "other"));
    let out =
        env.cmd().args(["--ledger", before.to_str().unwrap(), "--key", "dns.key", "checkpoint"]).output().unwrap();
    assert!(out.status.success());
    let fork = Http::start_on(&env, &before, &[]);
    let out = monitor(&env, &fork.url, "mon");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("split view:"), "{err}");
    assert!(std::fs::read_dir(env.path("mon/evidence")).unwrap().count() >= 2, "both checkpoints kept");
    // A log that cannot be reached is not a finding: 75, try again later.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = monitor(&env, &nowhere, "mon-nowhere");
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_witness_over_http_cosigns_only_checkpoints_consistent_with_the_last() {
    let env = Env::founded();
    env.keygen("w.key");
    submit(&env, &env.ledger, &pledges(&env, "psi", 30, "a"));
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    let cp1 = env.ok(&["--key", "dns.key", "checkpoint"]) + "\n";
    let fork = env.path("fork");
    crate::common::copy_dir(&env.ledger, &fork);
    submit(&env, &env.ledger, &pledges(&env, "psi", 10, "b"));
    let cp2 = env.ok(&["--key", "dns.key", "checkpoint"]) + "\n";
    submit(&env, &fork, &pledges(&env, "measure", 10, "c"));
    let out = env.cmd().args(["--ledger", fork.to_str().unwrap(), "--key", "dns.key", "checkpoint"]).output().unwrap();
    let forked = String::from_utf8(out.stdout).unwrap();
    let port = free_port();
    let _witness = Reaped(
        Command::new(bin())
            .args([
                "--key",
                "w.key",
                "witness",
                "serve",
                "--http",
                &format!("127.0.0.1:{port}"),
                "--state",
                "wstate",
                "--log",
                &vkey,
            ])
            .current_dir(env.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "the witness never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let post = |body: String| -> (u16, String) {
        let client = reqwest::blocking::Client::new();
        let r = client.post(format!("http://127.0.0.1:{port}/add-checkpoint")).body(body).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let size1: u64 = cp1.lines().nth(1).unwrap().parse().unwrap();
    let (status, body) = post(format!("old 0\n\n{cp1}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("— witness-"), "{body}");
    // Consistent, with its proof from the size cosigned: cosigned.
    let proof = |ledger: &std::path::Path, new: u64| -> Vec<String> {
        let out = env
            .cmd()
            .args(["--ledger", ledger.to_str().unwrap(), "prove", "consistency", &size1.to_string(), &new.to_string()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["consistency"]["path"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_owned()).collect()
    };
    // The honest next checkpoint with a proof that is not its own: 422.
    let size_fork: u64 = forked.lines().nth(1).unwrap().parse().unwrap();
    let forked_proof = proof(&fork, size_fork);
    let size2: u64 = cp2.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(size_fork, size2, "the fork is meant to have the honest size");
    let (status, _) = post(format!("old {size1}\n{}\n\n{cp2}", forked_proof.join("\n")));
    assert_eq!(status, 422, "a checkpoint was cosigned on a proof that does not bind it");
    let honest = proof(&env.ledger, size2);
    let (status, body) = post(format!("old {size1}\n{}\n\n{cp2}", honest.join("\n")));
    assert_eq!(status, 200, "{body}");
    // The old size it no longer has: 409 with the size it knows.
    let (status, body) = post(format!("old {size1}\n{}\n\n{cp2}", honest.join("\n")));
    assert_eq!((status, body.trim()), (409, size2.to_string().as_str()));
    // The fork, which extends the first checkpoint as well, now conflicts with what was
    // cosigned for its size: the witness never signs both branches.
    let (status, _) = post(format!("old {size1}\n{}\n\n{forked}", forked_proof.join("\n")));
    assert_eq!(status, 409, "the fork was cosigned after the honest branch");
    let (status, _) = post(format!("old {size2}\n\n{forked}"));
    assert_eq!(status, 409, "the fork was cosigned at the size already cosigned");
    // A log it does not witness: 404.
    let other = Env::founded();
    let stranger = other.ok(&["--key", "dns.key", "checkpoint"]).replace(ORIGIN, "elsewhere.example/log");
    let (status, _) = post(format!("old 0\n\n{stranger}\n"));
    assert!(status == 404 || status == 400, "{status}");
}

#[test]
fn hostile_http_gets_one_clear_problem_each_and_the_server_serves_others() {
    let env = Env::founded();
    let before = env.state();
    let server = Http::start(&env, &["--max-body", "4096", "--read-timeout", "2", "--max-connections", "16"]);
    let client = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}/{p}", server.url);
    let problem = |r: reqwest::blocking::Response| -> (u16, serde_json::Value) {
        let status = r.status().as_u16();
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        (status, r.json().unwrap())
    };
    // Oversized.
    let (status, p) = problem(
        client
            .post(url("v1/entries"))
            .header("content-type", "application/json")
            .body(vec![b'x'; 10_000])
            .send()
            .unwrap(),
    );
    assert_eq!((status, p["type"].as_str().unwrap()), (413, "/v1/problems/payload-too-large"));
    // Malformed JSON.
    let (status, p) = problem(
        client.post(url("v1/entries")).header("content-type", "application/json").body("{\"payload\":").send().unwrap(),
    );
    assert_eq!(status, 400, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("malformed envelope"), "{p}");
    // The wrong content type.
    let (status, _) =
        problem(client.post(url("v1/entries")).header("content-type", "text/plain").body("x").send().unwrap());
    assert_eq!(status, 415);
    // A refusal by the rules: a signature by a key the ledger does not know.
    env.keygen("stranger.key");
    let mut c = env.cmd();
    let signed = c
        .env_remove("PLEDGER_LEDGER")
        .args(
            [
                &crate::common::pledge_with("stranger.key", &[])[..],
                &["--sign-only".into(), "--as".into(), "psi".into(), "--origin".into(), ORIGIN.into()],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    let (status, p) = problem(
        client.post(url("v1/entries")).header("content-type", "application/json").body(signed.stdout).send().unwrap(),
    );
    assert_eq!(status, 403, "{p}");
    // A member's envelope altered after signing: its signature, checked before the writer
    // sees it, fails.
    let mut forged = pledges(&env, "psi", 1, "honest").remove(0);
    let at = forged.payload.windows(6).position(|w| w == b"honest").expect("the title is in the payload");
    forged.payload[at..at + 6].copy_from_slice(b"forged");
    let (status, p) = problem(
        client
            .post(url("v1/entries"))
            .header("content-type", "application/json")
            .body(forged.to_json())
            .send()
            .unwrap(),
    );
    assert_eq!((status, p["type"].as_str().unwrap()), (403, "/v1/problems/bad-signature"), "{p}");
    // A body trickled slowly: answered within the read time, not held.
    let mut slow = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    slow.write_all(
        b"POST /v1/entries HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(start.elapsed() < Duration::from_secs(8), "a slow body held its connection {:?}", start.elapsed());
    assert!(answer.is_empty() || answer.contains(" 400 ") || answer.contains(" 408 "), "{answer}");
    // A flood of idle connections: past the bound, 503 at once; the others are freed by the
    // read time, and the server answers again.
    let idle: Vec<TcpStream> =
        (0..16).map(|_| TcpStream::connect(server.url.trim_start_matches("http://")).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 12];
    extra.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 503");
    drop(idle);
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(url("checkpoint")).send() {
            if r.status().as_u16() == 200 {
                break;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the server never answered again");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM stops it at once, cleanly, with a connection still open; nothing was written.
    let _open = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    let mut server = server;
    let (code, took) = server.terminate();
    assert_eq!(code, Some(0), "a server stopped by SIGTERM exits 0");
    assert!(took < Duration::from_secs(4), "SIGTERM took {took:?}: it should not wait out its grace");
    assert_eq!(env.state(), before);
}

#[test]
fn the_nginx_config_of_the_docs_serves_the_ledger_over_tls() {
    if Command::new("nginx").arg("-v").output().is_err() {
        return crate::common::unavailable("nginx (Debian's nginx), for deploy/nginx.conf");
    }
    let env = Env::founded();
    // A private CA and a certificate of it for 127.0.0.1, as a ministry's own CA would issue.
    let tls = env.path("tls");
    std::fs::create_dir(&tls).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(&tls).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
        "/CN=test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
    ]);
    openssl(&[
        "req", "-newkey", "ed25519", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=ledger",
    ]);
    std::fs::write(
        tls.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.pem", "-days", "2", "-extfile", "ext.cnf",
    ]);
    let server = Http::start(&env, &[]);
    let upstream = server.url.trim_start_matches("http://").to_owned();
    // deploy/nginx.conf as printed, with this test's ports and certificate in place of the
    // production ones: each replaced text must be there.
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx.conf")).unwrap();
    let (https, http) = (free_port(), free_port());
    let mut site = conf.clone();
    for (from, to) in [
        ("127.0.0.1:8417", upstream.clone()),
        ("listen 443 ssl http2;", format!("listen 127.0.0.1:{https} ssl http2;")),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("/etc/letsencrypt/live/ledger.sante.gov.ml/fullchain.pem", tls.join("server.pem").display().to_string()),
        ("/etc/letsencrypt/live/ledger.sante.gov.ml/privkey.pem", tls.join("server.key").display().to_string()),
    ] {
        assert!(site.contains(from), "deploy/nginx.conf no longer has {from:?}");
        site = site.replace(from, &to);
    }
    // No IPv6 listener here: the machine may have none.
    let site: String = site.lines().filter(|l| !l.contains("[::]")).map(|l| format!("{l}\n")).collect();
    let run = env.path("nginx");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("site.conf"), site).unwrap();
    let r = run.display();
    std::fs::write(
        run.join("main.conf"),
        format!(
            "daemon off;\nmaster_process off;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\nevents {{}}\n\
             http {{\n access_log {r}/access.log;\n client_body_temp_path {r}/body;\n proxy_temp_path {r}/proxy;\n\
             fastcgi_temp_path {r}/fastcgi;\n uwsgi_temp_path {r}/uwsgi;\n scgi_temp_path {r}/scgi;\n\
             include {r}/site.conf;\n}}\n"
        ),
    )
    .unwrap();
    let _nginx = Reaped(
        Command::new("nginx")
            .args(["-p", &r.to_string(), "-c", &run.join("main.conf").display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", https)).is_err() {
        let log = std::fs::read_to_string(run.join("error.log")).unwrap_or_default();
        assert!(start.elapsed() < Duration::from_secs(20), "nginx never listened: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{https}");
    let ca = tls.join("ca.pem");
    let config = env.path("config");
    let pledger = |args: &[&str], trust: bool| {
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER").env_remove("SSL_CERT_DIR").env("PLEDGER_CONFIG", &config).args(args);
        if trust {
            c.env("SSL_CERT_FILE", &ca);
        } else {
            c.env_remove("SSL_CERT_FILE");
        }
        c.output().unwrap()
    };
    // A partner writes through TLS, trusting the ministry's CA: its receipt holds.
    let mut args = crate::common::pledge_with("psi.key", &[]);
    args.extend(["--remote".into(), url.clone(), "--receipts".into(), "receipts".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pledger(&args, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "P-000001");
    // An auditor monitors through TLS.
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    let out = pledger(&["monitor", &url, "--log-key", &vkey, "--state", "monitor"], true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("new entries, every one verified"));
    // Without the CA: refused, in one line that says what to do.
    let out = pledger(&["status", "--remote", &url], false);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("certificate") && err.contains("SSL_CERT_FILE"), "{err}");
    // Plain HTTP is sent to HTTPS.
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{http}/checkpoint"))
        .send()
        .unwrap();
    assert_eq!(plain.status().as_u16(), 308);
    assert_eq!(plain.headers()["location"], "https://127.0.0.1/checkpoint");
}

#[test]
fn a_write_whose_client_went_away_is_durable_and_its_receipt_can_be_asked_for() {
    let env = Env::founded();
    let server = Http::start(&env, &[]);
    let key = pledger_log::keys::read_private(&env.path("dns.key")).unwrap().verifying_key();
    let envelope = pledges(&env, "psi", 1, "gone").remove(0);
    let event_id = pledger_log::parse_event(&envelope).unwrap().id.to_string();
    let body = envelope.to_json();
    // The whole request sent, then the connection closed before any answer is read.
    let mut gone = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    write!(
        gone,
        "POST /v1/entries HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    drop(gone);
    // Written all the same (the write was whole): its receipt is there, and holds.
    let remote = Remote::new(&server.url).unwrap();
    let start = Instant::now();
    let receipt: Receipt = loop {
        match remote.get_json(&format!("v1/receipts/{event_id}")) {
            Ok(r) => break r,
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(20), "no receipt: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    receipt.verify(ORIGIN, &key, Some(&envelope)).unwrap();
    // Sent again, it is refused as a duplicate, naming where it is.
    let again = reqwest::blocking::Client::new()
        .post(format!("{}/v1/entries", server.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let p: serde_json::Value = again.json().unwrap();
    assert_eq!(p["type"], "/v1/problems/duplicate");
    // An unknown event: 404.
    let none = remote.get_json::<Receipt>("v1/receipts/00000000000000000000000000000000");
    assert!(matches!(none, Err(pledger_http::client::ClientError::Problem(ref p)) if p.status == 404), "{none:?}");
}
