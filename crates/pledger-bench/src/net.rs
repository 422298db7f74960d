//! `pledger-bench http`: pledger over HTTP on a generated ledger — writes through
//! `pledger serve --http` by 1, 8 and 64 concurrent clients (JSON Lines batches, as
//! `submit --remote` posts them, and single envelopes, as `pledge --remote` does), beside bulk
//! `submit` of the same kind of envelopes into the same ledger; `pledger monitor` catching up
//! from nothing, beside the exact verification limit; tile and entry-bundle reads.
//!
//! The clients run on the same machine as the server and share its cores: their work (JSON,
//! HTTP) is counted against the server's throughput, as it would not be across a network.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use pledger_core::event::{PledgeBody, Title};
use pledger_core::{AreaCode, Body, CategoryCode, Date, Measure, MemberId, Unit};
use pledger_log::dsse::Envelope;
use pledger_log::sign::Signer;

use crate::measure::{err, exact_limit, fmt_rate, generate, per_sec, percentile, run_cmd, signature_jobs, Report, Res};

/// What an HTTP run measures, on a ledger of `events` events.
pub struct Plan {
    /// Events in the ledger served.
    pub events: u64,
    /// Envelopes written per batched figure (and by bulk submit).
    pub writes: usize,
    /// Single-envelope writes per figure.
    pub singles: usize,
    /// Seconds each read figure runs.
    pub read_secs: f64,
    /// Where the ledger is built and kept (a temporary directory when none).
    pub work: Option<PathBuf>,
    /// The `pledger` binary (else the one beside this benchmark).
    pub pledger: Option<PathBuf>,
}

/// Fresh pledges by the generated implementers to the convener, each its own title: they can be
/// written in any order, by any number of clients at once.
fn pledges(tag: &str, n: usize) -> Res<Vec<Envelope>> {
    let members = crate::members(1);
    let signers: Vec<Signer> = members[80..]
        .iter()
        .map(|m| Signer { origin: crate::ORIGIN.into(), member: m.id.clone(), key: m.key.clone() })
        .collect();
    let to = MemberId::parse("m000").map_err(err)?;
    let category = CategoryCode::parse("funding").map_err(err)?;
    let area = AreaCode::parse("ML-3").map_err(err)?;
    let (made, due) = (Date::parse("2026-01-05").map_err(err)?, Date::parse("2027-06-30").map_err(err)?);
    let now = Utc::now();
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let body = Body::Pledge(PledgeBody {
                to: to.clone(),
                category: category.clone(),
                areas: vec![area.clone()],
                amount: Measure::new(1_000_000 + i as u64, Unit::currency("XOF").map_err(err)?).map_err(err)?,
                due,
                title: Title::parse(&format!("{tag} {i}")).map_err(err)?,
                tranches: Vec::new(),
            });
            Ok(signers[i % signers.len()].sign(now, made, body))
        })
        .collect()
}

/// `pledger serve --http` on a free port of 127.0.0.1; stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(bin: &Path, ledger: &str, key: &str) -> Res<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(err)?.port();
        let child = Command::new(bin)
            .args(["--ledger", ledger, "--key", key, "--quiet", "serve", "--http", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(err)?;
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(120) {
                return Err("the server never listened".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Server { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Posts `envelopes` from `clients` threads at once, each in requests of `per_request`
/// envelopes; returns the elapsed seconds and each request's latency in milliseconds. The
/// bodies are built before the clock starts and the receipts only counted, so that the
/// server's work, not the clients', is what is measured.
fn post(url: &str, envelopes: Vec<Envelope>, clients: usize, per_request: usize) -> Res<(f64, Vec<f64>)> {
    let mut parts: Vec<Vec<Envelope>> = (0..clients).map(|_| Vec::new()).collect();
    for (i, e) in envelopes.into_iter().enumerate() {
        parts[i % clients].push(e);
    }
    let bodies: Vec<Vec<(&'static str, usize, Vec<u8>)>> = parts
        .iter()
        .map(|part| {
            part.chunks(per_request.max(1))
                .map(|chunk| match chunk {
                    [one] => ("application/json", 1, one.to_json().into_bytes()),
                    many => {
                        let mut body = Vec::new();
                        for e in many {
                            body.extend(e.to_json().into_bytes());
                            body.push(b'\n');
                        }
                        ("application/jsonl", many.len(), body)
                    }
                })
                .collect()
        })
        .collect();
    let target = format!("{url}/v1/entries");
    let start = Instant::now();
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|requests| {
            let target = target.clone();
            std::thread::spawn(move || -> Res<Vec<f64>> {
                let client =
                    reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().map_err(err)?;
                let mut latencies = Vec::new();
                for (media, n, body) in requests {
                    let t = Instant::now();
                    let resp = client.post(&target).header("content-type", media).body(body).send().map_err(err)?;
                    let status = resp.status().as_u16();
                    let answer = resp.bytes().map_err(err)?;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    let receipts = if n == 1 { 1 } else { answer.iter().filter(|b| **b == b'\n').count() };
                    if status != 201 || receipts != n {
                        return Err(format!("a write answered {status}: {}", String::from_utf8_lossy(&answer)));
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in threads {
        latencies.extend(t.join().map_err(|_| "a client thread panicked".to_string())??);
    }
    Ok((start.elapsed().as_secs_f64(), latencies))
}

/// GETs `paths` round-robin from `clients` threads over kept-alive HTTP/1.1 connections for
/// `secs` seconds; returns the answers read and their bytes. A minimal client, so that the
/// server's work, not the client's, is what is measured.
fn read_paths(addr: &str, paths: &[String], clients: usize, secs: f64) -> Res<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.to_owned();
            let paths: Vec<String> = paths.iter().skip(c).step_by(clients).cloned().collect();
            std::thread::spawn(move || -> Res<(u64, u64)> {
                let stream = TcpStream::connect(&addr).map_err(err)?;
                stream.set_nodelay(true).map_err(err)?;
                let mut reader = BufReader::new(stream.try_clone().map_err(err)?);
                let mut writer = stream;
                let (mut n, mut bytes) = (0u64, 0u64);
                let mut i = 0;
                let mut line = String::new();
                while Instant::now() < deadline && !paths.is_empty() {
                    let path = &paths[i % paths.len()];
                    i += 1;
                    write!(writer, "GET /{path} HTTP/1.1\r\nhost: bench\r\n\r\n").map_err(err)?;
                    let mut length = None;
                    let mut status_ok = false;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).map_err(err)? == 0 {
                            return Err("the server closed the connection".into());
                        }
                        if line.starts_with("HTTP/1.1 ") {
                            status_ok = line.starts_with("HTTP/1.1 200");
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse::<u64>().ok();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let length = length.ok_or("an answer without content-length")?;
                    let mut body = vec![0u8; length as usize];
                    reader.read_exact(&mut body).map_err(err)?;
                    if !status_ok {
                        return Err(format!("GET /{path}: {}", String::from_utf8_lossy(&body)));
                    }
                    n += 1;
                    bytes += length;
                }
                Ok((n, bytes))
            })
        })
        .collect();
    let (mut n, mut bytes) = (0, 0);
    for t in threads {
        let (a, b) = t.join().map_err(|_| "a reader thread panicked".to_string())??;
        n += a;
        bytes += b;
    }
    Ok((n, bytes))
}

/// Builds (or reuses) the ledger in `work`, then measures; prints the Markdown report.
pub fn run(plan: &Plan) -> Res<Report> {
    let temporary = plan.work.is_none();
    let work = plan
        .work
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pledger-bench-http-{}", std::process::id())));
    let bin = match &plan.pledger {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(err)?.with_file_name("pledger"),
    };
    let ledger = work.join("ledger");
    let l = ledger.to_str().ok_or("bad path")?.to_owned();
    let env_path = work.join("envelopes.jsonl");
    if !ledger.exists() {
        generate(plan.events, &work, 1)?;
        let e = env_path.to_str().ok_or("bad path")?;
        eprintln!("building the ledger of {} events", plan.events);
        run_cmd(&bin, &["--ledger", &l, "--quiet", "submit", "--create", e], true)?;
    }
    let key = work.join("m000.key");
    let key = key.to_str().ok_or("bad path")?.to_owned();
    let mut r = Report { rows: Vec::new() };
    let cores = rayon::current_num_threads();

    // The limit: exact verification of the ledger's own signatures.
    let lines: Vec<Vec<u8>> = {
        let f = BufReader::new(std::fs::File::open(&env_path).map_err(err)?);
        f.split(b'\n').take(200_000).map(|l| l.map_err(err)).collect::<Res<_>>()?
    };
    let envelopes: Vec<Envelope> = lines.iter().map(|l| Envelope::parse(l).map_err(err)).collect::<Res<_>>()?;
    let sig_limit = exact_limit(&signature_jobs(&envelopes)?)?;
    drop(envelopes);
    r.row("Ed25519 exact verification, all cores (limit)", fmt_rate(sig_limit), "—".into(), format!("{cores} cores"));

    // Bulk submit of fresh pledges into the same ledger: the figure HTTP writes are held to.
    let tag = format!("{}", Utc::now().timestamp_millis());
    let bulk = work.join("bulk.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&bulk).map_err(err)?);
        for e in pledges(&format!("bulk {tag}"), plan.writes)? {
            writeln!(f, "{}", e.to_json()).map_err(err)?;
        }
        f.flush().map_err(err)?;
    }
    let ran = run_cmd(&bin, &["--ledger", &l, "--quiet", "submit", bulk.to_str().ok_or("bad path")?], true)?;
    let bulk_rate = per_sec(plan.writes as u64, ran.secs);
    r.row(
        &format!("bulk `submit` of {} pledges into this ledger (the reference)", plan.writes),
        format!("{} ({:.1} s)", fmt_rate(bulk_rate), ran.secs),
        "—".into(),
        "—".into(),
    );

    let server = Server::start(&bin, &l, &key)?;
    // Batched, as `submit --remote` posts: requests of up to 1,000 envelopes.
    for clients in [1usize, 8, 64] {
        let envs = pledges(&format!("batch {clients} {tag}"), plan.writes)?;
        let per_request = (plan.writes / clients).clamp(1, 1000);
        let (secs, _) = post(&server.url, envs, clients, per_request)?;
        let rate = per_sec(plan.writes as u64, secs);
        r.row(
            &format!("HTTP writes, {clients} client(s), JSON Lines of {per_request}, receipts"),
            format!("{} ({secs:.1} s)", fmt_rate(rate)),
            format!("≥ 0.8 × bulk submit ({})", fmt_rate(bulk_rate)),
            format!("{:.2} of bulk", rate / bulk_rate),
        );
    }
    // One envelope a request, as `pledge --remote` posts.
    for clients in [1usize, 8, 64] {
        let envs = pledges(&format!("single {clients} {tag}"), plan.singles)?;
        let (secs, mut ms) = post(&server.url, envs, clients, 1)?;
        let rate = per_sec(plan.singles as u64, secs);
        let (p50, p99) = (percentile(&mut ms, 0.5), percentile(&mut ms, 0.99));
        r.row(
            &format!("HTTP writes, {clients} client(s), one envelope a request"),
            format!("{}; p50 {p50:.1} ms, p99 {p99:.1} ms", fmt_rate(rate)),
            if clients == 1 { "≤ 10 ms p50".into() } else { "—".into() },
            if clients == 1 { format!("{:.2}", p50 / 10.0) } else { format!("{:.2} of bulk", rate / bulk_rate) },
        );
    }

    // A monitor catching up from nothing.
    let vkey = String::from_utf8(run_cmd(&bin, &["--ledger", &l, "checkpoint", "--vkey"], false)?.stdout)
        .map_err(err)?
        .trim()
        .to_owned();
    let size = pledger_http::client::Remote::new(&server.url)
        .map_err(err)?
        .checkpoint()
        .map_err(err)?
        .lines()
        .nth(1)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("the server's checkpoint has no size")?;
    let state = work.join("monitor-state");
    let _ = std::fs::remove_dir_all(&state);
    let s = state.to_str().ok_or("bad path")?;
    let ran = run_cmd(&bin, &["--quiet", "monitor", &server.url, "--log-key", &vkey, "--state", s], true)?;
    r.rate(
        &format!("`monitor` catching up from nothing ({size} entries)"),
        size,
        &ran,
        sig_limit,
        "exact verification",
    );
    let ran = run_cmd(&bin, &["--quiet", "monitor", &server.url, "--log-key", &vkey, "--state", s], true)?;
    r.row("`monitor`, a round with nothing new", format!("{:.0} ms", ran.secs * 1000.0), "—".into(), "—".into());

    // Reads: full hash tiles of level 0, and full entry bundles.
    let full = size / 256;
    let step = (full / 4096).max(1);
    let hash_tiles: Vec<String> = (0..full)
        .step_by(step as usize)
        .map(|n| pledger_http::tiles::Tile { level: Some(0), index: n, width: 256 }.path())
        .collect();
    let bundles: Vec<String> = (0..full)
        .step_by(step as usize)
        .map(|n| pledger_http::tiles::Tile { level: None, index: n, width: 256 }.path())
        .collect();
    let addr = server.url.trim_start_matches("http://").to_owned();
    for (what, paths) in [("full hash tiles (8 KiB)", &hash_tiles), ("full entry bundles", &bundles)] {
        let clients = 16;
        let (n, bytes) = read_paths(&addr, paths, clients, plan.read_secs)?;
        let rate = n as f64 / plan.read_secs;
        let target = if what.starts_with("full hash") { "≥ 20k/s" } else { "—" };
        r.row(
            &format!("GET {what}, {clients} clients kept alive"),
            format!("{} ({:.0} MB/s)", fmt_rate(rate), bytes as f64 / plan.read_secs / 1e6),
            target.into(),
            if target == "—" { "—".into() } else { format!("{:.2}", rate / 20_000.0) },
        );
    }
    drop(server);

    println!("| figure | measured | limit or target | ratio |");
    println!("|---|---|---|---|");
    for row in &r.rows {
        println!("| {} | {} | {} | {} |", row[0], row[1], row[2], row[3]);
    }
    println!();
    println!("{} events before the writes, {cores} cores; clients on the same machine.", plan.events);
    let _ = std::fs::remove_file(&bulk);
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(r)
}
