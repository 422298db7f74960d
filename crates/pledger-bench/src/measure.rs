//! The benchmark itself: builds a generated ledger with the real `pledger` binary and measures
//! every figure of docs/benchmarks.md beside the raw limits of the same run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use pledger_core::projection::{self, Horizon};
use pledger_core::{Date, MemberId};
use pledger_log::audit::SIG_CHUNK;
use pledger_log::dsse::Envelope;
use pledger_store::{Ledger, WithFulfillments};
use rayon::prelude::*;

/// A result whose error is a message.
pub type Res<T> = Result<T, String>;

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Generates the envelopes and writes the keys of m000 (convener, log key) and m100 (an
/// implementer); returns the raw bytes of the envelopes.
pub fn generate(n: u64, dir: &Path, seed: u64) -> Res<u64> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let f = std::fs::File::create(dir.join("envelopes.jsonl")).map_err(err)?;
    let mut out = BufWriter::with_capacity(1 << 20, f);
    let start = Instant::now();
    let g = crate::generate(seed, n, &mut out, |done| {
        eprint!("\rgenerated {done}/{n}");
    })
    .map_err(err)?;
    out.flush().map_err(err)?;
    eprintln!(" in {:.1} s", start.elapsed().as_secs_f64());
    for i in [0usize, 100] {
        let path = dir.join(format!("m{i:03}.key"));
        if !path.exists() {
            pledger_log::keys::write_keypair(&path, &g.members[i].key).map_err(err)?;
        }
    }
    Ok(std::fs::metadata(dir.join("envelopes.jsonl")).map_err(err)?.len())
}

/// A child process's wall time and peak resident memory.
pub(crate) struct Ran {
    pub(crate) secs: f64,
    pub(crate) rss_mb: f64,
    pub(crate) stdout: Vec<u8>,
}

pub(crate) fn run_cmd(bin: &Path, args: &[&str], stdout_to_null: bool) -> Res<Ran> {
    run_cmd_env(bin, args, stdout_to_null, &[])
}

/// [`run_cmd`] with `env` set for the process.
pub(crate) fn run_cmd_env(bin: &Path, args: &[&str], stdout_to_null: bool, env: &[(&str, &str)]) -> Res<Ran> {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        // A process opening the ledger is measured as one, whatever the caller's environment.
        .env_remove("PLEDGER_SERVE_ON_USE")
        .envs(env.iter().copied())
        .stdout(if stdout_to_null { Stdio::null() } else { Stdio::piped() })
        .stderr(Stdio::piped())
        .spawn()
        .map_err(err)?;
    let peak = watch_peak(child.id());
    let mut stdout = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        std::io::Read::read_to_end(&mut o, &mut stdout).map_err(err)?;
    }
    let mut stderr = Vec::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_end(&mut e, &mut stderr).map_err(err)?;
    }
    // The watcher ends when the child is a zombie, before it is reaped (its pid cannot be reused).
    let rss_kb = peak.join().unwrap_or(0);
    let code = child.wait().map_err(err)?.code().unwrap_or(-1);
    let secs = start.elapsed().as_secs_f64();
    if code != 0 {
        return Err(format!("pledger {args:?} failed: {}", String::from_utf8_lossy(&stderr)));
    }
    Ok(Ran { secs, rss_mb: rss_kb as f64 / 1024.0, stdout })
}

/// Samples a child's peak resident set size (`VmHWM`, kB) every 5 ms until it exits. The kernel's
/// own figure for a child (`ru_maxrss` from `wait4`) starts from this process's peak at the
/// spawn, which the envelopes held here would inflate.
fn watch_peak(pid: u32) -> std::thread::JoinHandle<i64> {
    std::thread::spawn(move || {
        let mut peak = 0i64;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok());
            match hwm {
                Some(kb) => peak = peak.max(kb),
                // A zombie has no memory left to report: it has exited.
                None => break,
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i.min(samples.len() - 1)]
}

/// The measured figures: (what, measured, limit or target, ratio).
pub struct Report {
    /// One row a figure.
    pub rows: Vec<[String; 4]>,
}

impl Report {
    pub(crate) fn row(&mut self, what: &str, figure: String, limit: String, ratio: String) {
        eprintln!("{what}: {figure} (limit {limit}, {ratio})");
        self.rows.push([what.to_owned(), figure, limit, ratio]);
    }

    /// Latencies in milliseconds as p50 / p99 (with `decimals`), beside a target of `target_ms`
    /// at the quantile `at` (0.5 or 0.99).
    pub(crate) fn latency(&mut self, what: &str, ms: &mut [f64], decimals: usize, at: f64, target_ms: Option<f64>) {
        let (p50, p99) = (percentile(ms, 0.5), percentile(ms, 0.99));
        let at_name = if at >= 0.99 { "p99" } else { "p50" };
        let (target, ratio) = match target_ms {
            Some(t) => (format!("{t:.0} ms {at_name} (target)"), format!("{:.2}", percentile(ms, at) / t)),
            None => ("—".into(), "—".into()),
        };
        self.row(what, format!("p50 {p50:.decimals$} ms, p99 {p99:.decimals$} ms"), target, ratio);
    }

    /// A run over `events` events as a rate, beside a limit (per second) named `limit_name`.
    pub(crate) fn rate(&mut self, what: &str, events: u64, ran: &Ran, limit: f64, limit_name: &str) {
        let rate = per_sec(events, ran.secs);
        self.row(
            what,
            format!("{} ({:.1} s, peak {:.0} MB)", fmt_rate(rate), ran.secs, ran.rss_mb),
            format!("{} {limit_name}", fmt_rate(limit)),
            format!("{:.2}", rate / limit),
        );
    }
}

pub(crate) fn per_sec(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

pub(crate) fn fmt_rate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.0}k/s", r / 1000.0)
    } else {
        format!("{r:.0}/s")
    }
}

/// Measures everything on a ledger of `events` events (built in `work`, or reused from it), with
/// the `pledger` binary given or the one beside this program; prints the Markdown report and
/// returns its rows.
/// What a run measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Only {
    /// Generate, build, audit, then the queries.
    All,
    /// The queries and writes on the ledger a run built before (`--reuse`).
    Queries,
    /// Only the head queries in-process, on the ledger a run built before; only those whose
    /// name contains the text, if one is given.
    InProcess(Option<String>),
}

/// Runs the benchmark on a ledger of `events` events in `work` (a temporary directory when none)
/// with the `pledger` binary given (else the one beside this), `samples` per latency; `only` says
/// which part.
pub fn run(events: u64, work: Option<PathBuf>, pledger: Option<PathBuf>, samples: usize, only: Only) -> Res<Report> {
    let reuse = only != Only::All;
    // A directory given with --work is kept, to run the queries again with --reuse.
    let temporary = work.is_none();
    let work = work.unwrap_or_else(|| std::env::temp_dir().join(format!("pledger-bench-{}", std::process::id())));
    let bin = match pledger {
        Some(p) => p,
        None => std::env::current_exe().map_err(err)?.with_file_name("pledger"),
    };
    if !bin.exists() {
        return Err(format!("{} not found: build it with `cargo build --release -p pledger`", bin.display()));
    }
    let env_path = work.join("envelopes.jsonl");
    let mut r = Report { rows: Vec::new() };
    let cores = rayon::current_num_threads();
    let raw_bytes = if reuse {
        std::fs::metadata(&env_path).map_err(err)?.len()
    } else {
        let _ = std::fs::remove_dir_all(&work);
        generate(events, &work, 1)?
    };
    if !reuse {
        build_and_audit(&work, &bin, events, raw_bytes, &mut r)?;
    }
    let filter = match &only {
        Only::InProcess(f) => f.as_deref(),
        _ => None,
    };
    in_process(&work, samples, filter, &mut r)?;
    if !matches!(only, Only::InProcess(_)) {
        queries(&work, &bin, events, samples, &mut r)?;
    }
    println!("| figure | measured | limit or target | ratio |");
    println!("|---|---|---|---|");
    for row in &r.rows {
        println!("| {} | {} | {} | {} |", row[0], row[1], row[2], row[3]);
    }
    println!();
    println!("{events} events, {cores} cores, raw envelopes {:.0} MB.", raw_bytes as f64 / 1e6);
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(r)
}

/// Raw limits, then bulk submit, disk, checkpoint, verify, export, bundle verify, rebuild,
/// compaction and disk again.
fn build_and_audit(work: &Path, bin: &Path, events: u64, raw_bytes: u64, r: &mut Report) -> Res<()> {
    let env_path = work.join("envelopes.jsonl");
    let ledger = work.join("ledger");
    let l = ledger.to_str().ok_or("bad path")?;
    let cores = rayon::current_num_threads();
    let bin = bin.to_path_buf();

    // Raw limits, on the same envelopes (at most 200,000 of them).
    let lines: Vec<Vec<u8>> = {
        let f = std::io::BufReader::new(std::fs::File::open(&env_path).map_err(err)?);
        f.split(b'\n').take(200_000).map(|l| l.map_err(err)).collect::<Res<_>>()?
    };
    let envelopes: Vec<Envelope> = lines.iter().map(|l| Envelope::parse(l).map_err(err)).collect::<Res<_>>()?;
    let jobs = signature_jobs(&envelopes)?;
    // ed25519-dalek's batch (fast, but its verdict on a crafted signature depends on its random
    // coefficients: no audit uses it), its verify_strict one signature at a time, and
    // pledger's exact check (crate::ed25519), which the audit and append use: the limit.
    let t = Instant::now();
    jobs.par_chunks(SIG_CHUNK).for_each(|c| {
        let msgs: Vec<&[u8]> = c.iter().map(|j| j.0.as_slice()).collect();
        let sigs: Vec<Signature> = c.iter().map(|j| j.1).collect();
        let ks: Vec<VerifyingKey> = c.iter().map(|j| j.2).collect();
        assert!(
            ed25519_dalek::verify_batch(&msgs, &sigs, &ks).is_ok(),
            "a batch of the benchmark's own signatures failed"
        );
    });
    let batch_rate = per_sec(jobs.len() as u64, t.elapsed().as_secs_f64());
    let t = Instant::now();
    jobs.par_iter().for_each(|j| assert!(j.2.verify_strict(&j.0, &j.1).is_ok(), "a benchmark signature failed"));
    let strict_rate = per_sec(jobs.len() as u64, t.elapsed().as_secs_f64());
    let sig_limit = exact_limit(&jobs)?;
    let t = Instant::now();
    for l in &lines {
        std::hint::black_box(pledger_log::merkle::leaf_hash(l));
    }
    let blake3_limit = per_sec(lines.len() as u64, t.elapsed().as_secs_f64());
    let t = Instant::now();
    for e in &envelopes {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&e.payload).map_err(err)?);
    }
    let json_limit = per_sec(envelopes.len() as u64, t.elapsed().as_secs_f64());
    let sled_dir = work.join("sled-baseline");
    let db = pledger_store::config(&sled_dir).open().map_err(err)?;
    let t = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        db.insert((i as u64).to_be_bytes(), l.as_slice()).map_err(err)?;
        if i % 1000 == 999 {
            db.flush().map_err(err)?;
        }
    }
    db.flush().map_err(err)?;
    let sled_limit = per_sec(lines.len() as u64, t.elapsed().as_secs_f64());
    drop(db);
    let _ = std::fs::remove_dir_all(&sled_dir);
    r.row(
        "Ed25519 exact verification (pledger's, as verify_strict), all cores (limit)",
        fmt_rate(sig_limit),
        "—".into(),
        format!("{cores} cores"),
    );
    r.row(
        "ed25519-dalek verify_strict, one at a time, all cores",
        fmt_rate(strict_rate),
        "—".into(),
        format!("{:.2} × the limit", strict_rate / sig_limit),
    );
    r.row(
        &format!("ed25519-dalek verify_batch, batches of {SIG_CHUNK} (not exact; for comparison)"),
        fmt_rate(batch_rate),
        "—".into(),
        format!("{:.2} × the limit", batch_rate / sig_limit),
    );
    r.row("sled inserts, flush per 1,000 (limit)", fmt_rate(sled_limit), "—".into(), "—".into());
    r.row("blake3 leaf hashes of the same bytes (limit)", fmt_rate(blake3_limit), "—".into(), "—".into());
    r.row("serde_json parses of the same payloads (limit)", fmt_rate(json_limit), "—".into(), "—".into());

    // Bulk submit into a fresh ledger.
    let env_s = env_path.to_str().ok_or("bad path")?;
    let ran = run_cmd(&bin, &["--ledger", l, "--quiet", "submit", "--create", env_s], true)?;
    let what = "bulk submit, every signature and rule checked, durable per 1,000";
    r.rate(what, events, &ran, sig_limit.min(sled_limit), "(min of exact verify, sled)");
    disk_row(
        r,
        "bytes on disk per event (tree and state included)",
        pledger_store::ledger_bytes(&ledger).map_err(err)?,
        events,
        raw_bytes,
    );

    // The peer: plain SQLite, signing each event and appending 1,000 per transaction, on the
    // same envelopes (at most 200,000 of them).
    let submitted = per_sec(events, ran.secs);
    let peer = crate::peer::sqlite_append(&work.join("sqlite-peer"), &envelopes)?;
    r.row(
        "peer: plain SQLite (rusqlite), each event signed then inserted, WAL, synchronous=FULL, 1,000 per transaction",
        format!(
            "{} ({:.0} bytes on disk per event)",
            fmt_rate(peer.rate),
            peer.bytes as f64 / envelopes.len().max(1) as f64
        ),
        "—".into(),
        "—".into(),
    );
    r.row(
        "bulk submit against the SQLite peer",
        format!("{:.2} × the peer", submitted / peer.rate),
        "2 × (target)".into(),
        format!("{:.2}", submitted / peer.rate / 2.0),
    );

    // Checkpoint, verify, export, verify the bundle, rebuild.
    let key0 = work.join("m000.key");
    let key0 = key0.to_str().ok_or("bad path")?;
    run_cmd(&bin, &["--ledger", l, "--key", key0, "checkpoint"], true)?;
    let ran = run_cmd(&bin, &["--ledger", l, "--quiet", "verify"], true)?;
    r.rate("verify the ledger: signatures, rules, tree, stored state", events, &ran, sig_limit, "exact verification");
    let bundle = work.join("bundle.jsonl");
    let b = bundle.to_str().ok_or("bad path")?;
    let ran = run_cmd(&bin, &["--ledger", l, "--quiet", "export", b], true)?;
    r.row(
        "export the bundle",
        format!("{} ({:.1} s)", fmt_rate(per_sec(events, ran.secs)), ran.secs),
        "—".into(),
        "—".into(),
    );
    // Anchored as an auditor would: to the log key (the genesis member's).
    let log_key = work.join("m000.key.pub");
    let log_key = log_key.to_str().ok_or("bad path")?;
    let ran = run_cmd(&bin, &["--quiet", "verify", "--bundle", b, "--log-key", log_key], true)?;
    r.rate("verify the bundle, no ledger", events, &ran, sig_limit, "exact verification");
    let ran = run_cmd(&bin, &["--ledger", l, "--quiet", "rebuild"], true)?;
    r.rate("rebuild tree, state and projections (no signature checks)", events, &ran, json_limit, "serde_json");

    // Compaction; the queries below run on the compacted ledger, as after an import one would.
    let ran = run_cmd(&bin, &["--ledger", l, "--quiet", "compact"], true)?;
    r.row(
        "compact: every key copied into a fresh database, compared, swapped in",
        format!("{} ({:.1} s, peak {:.0} MB)", fmt_rate(per_sec(events, ran.secs)), ran.secs, ran.rss_mb),
        "—".into(),
        "—".into(),
    );
    disk_row(
        r,
        "bytes on disk per event after compact",
        pledger_store::ledger_bytes(&ledger).map_err(err)?,
        events,
        raw_bytes,
    );
    Ok(())
}

/// A signature to check: the signed bytes, the signature, the key.
pub(crate) type SigJob = (Vec<u8>, Signature, VerifyingKey);

/// The signatures of generated envelopes, with the keys of the generated members.
pub(crate) fn signature_jobs(envelopes: &[Envelope]) -> Res<Vec<SigJob>> {
    let members = crate::members(1);
    let keys: BTreeMap<String, VerifyingKey> = members
        .iter()
        .map(|m| (pledger_log::keys::key_id(&m.key.verifying_key()).to_string(), m.key.verifying_key()))
        .collect();
    envelopes
        .iter()
        .map(|e| {
            let (kid, sig) = e.single_signature().map_err(err)?;
            let key = keys.get(kid).ok_or_else(|| format!("key {kid} is not a generated member's"))?;
            Ok((e.signed_bytes(), sig, *key))
        })
        .collect()
}

/// The limit of every signature check: pledger's exact verification (the verdict of
/// `verify_strict`, per key precomputed as the audit does), on every core, per second.
pub(crate) fn exact_limit(jobs: &[SigJob]) -> Res<f64> {
    let mut cache = pledger_log::ed25519::KeyCache::new();
    let exact: Vec<_> = jobs
        .iter()
        .map(|j| {
            cache.get(&pledger_core::event::PublicKey(j.2.to_bytes())).ok_or_else(|| "a bad benchmark key".to_string())
        })
        .collect::<Res<_>>()?;
    let t = Instant::now();
    jobs.par_iter().zip(&exact).for_each(|(j, k)| assert!(k.verify(&j.0, &j.1), "a benchmark signature failed"));
    Ok(per_sec(jobs.len() as u64, t.elapsed().as_secs_f64()))
}

/// The ledger's bytes on disk per event, beside the raw envelopes' and the 2.5 × target.
fn disk_row(r: &mut Report, what: &str, disk: u64, events: u64, raw_bytes: u64) {
    let ratio = disk as f64 / raw_bytes as f64;
    r.row(
        what,
        format!("{:.0} B ({ratio:.2} × the raw envelopes)", disk as f64 / events as f64),
        format!("{:.0} B raw envelope; target ≤ 2.5 ×", raw_bytes as f64 / events as f64),
        format!("{ratio:.2}"),
    );
}

/// Head queries in-process: status of one member, scorecard, coverage, timeline, and the
/// scorecard from every pledge.
fn in_process(work: &Path, samples: usize, filter: Option<&str>, r: &mut Report) -> Res<()> {
    {
        let ledger = Ledger::open(&work.join("ledger"), Duration::from_secs(10)).map_err(err)?;
        let who = MemberId::parse("m100").map_err(err)?;
        let today = Date::parse("2026-11-28").map_err(err)?;
        let h = Horizon::head(today);
        // Each query beside its target, if it has one.
        let mut timed = |what: &str, target: Option<f64>, f: &dyn Fn() -> Res<usize>| -> Res<()> {
            if filter.is_some_and(|only| !what.contains(only)) {
                return Ok(());
            }
            // One run first, untimed: the figures are of a ledger in use, its pages cached.
            std::hint::black_box(f()?);
            let mut s = Vec::new();
            for _ in 0..samples {
                let t = Instant::now();
                std::hint::black_box(f()?);
                s.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            r.latency(&format!("{what}, in-process"), &mut s, 1, 0.99, target);
            Ok(())
        };
        // As `pledger status --org`: the member's pledges through the member index.
        timed("status of one member", Some(5.0), &|| {
            let r = ledger
                .records_of(&who, WithFulfillments::ForHeadStatus)
                .map_err(err)?
                .ok_or("the ledger has no member index")?;
            Ok(r.pledges.iter().filter_map(|p| projection::status(p, &r.fulfillments, &h)).count())
        })?;
        // As `pledger scorecard` and `coverage`: the head's tallies.
        timed("scorecard", Some(5.0), &|| {
            let card = ledger.scorecard(&ledger.members().map_err(err)?, &[], today).map_err(err)?;
            Ok(card.ok_or("the ledger keeps no tallies")?.len())
        })?;
        timed("coverage", Some(5.0), &|| {
            let cov = ledger.coverage(&ledger.areas().map_err(err)?, None, None).map_err(err)?;
            Ok(cov.ok_or("the ledger keeps no tallies")?.len())
        })?;
        timed("timeline", Some(5.0), &|| {
            Ok(ledger.timeline().map_err(err)?.ok_or("the ledger keeps no tallies")?.len())
        })?;
        // The same from every pledge's status, as `--at` and `--as-of` compute them.
        timed("scorecard from every pledge", None, &|| {
            let fs = ledger.fulfillments().map_err(err)?;
            let st: Vec<_> =
                ledger.pledges().map_err(err)?.iter().filter_map(|p| projection::status(p, &fs, &h)).collect();
            Ok(projection::scorecard(&st, &ledger.members().map_err(err)?, &[]).len())
        })?;
    }
    Ok(())
}

/// Head queries and single writes as processes, `--at`, `--as-of`.
fn queries(work: &Path, bin: &Path, events: u64, samples: usize, r: &mut Report) -> Res<()> {
    let ledger = work.join("ledger");
    let l = ledger.to_str().ok_or("bad path")?;
    let bin = bin.to_path_buf();
    // Head queries and single writes, as processes: each opening the ledger, then answered by
    // `pledger serve` holding it open.
    let cli_samples = samples.min(20);
    let key = work.join("m100.key");
    let key = key.to_str().ok_or("bad path")?;
    as_processes(&bin, l, key, cli_samples, "", r)?;
    let server = Server::start(&bin, &ledger)?;
    r.row("pledger serve: listening after", format!("{:.0} ms", server.ready_ms), "—".into(), "—".into());
    let served = as_processes(&bin, l, key, cli_samples, ", ledger served", r);
    server.stop()?;
    served?;
    // With PLEDGER_SERVE_ON_USE, the first command starts the server the next ones reach (as
    // above), and the server stops once idle.
    let first = run_cmd_env(
        &bin,
        &["--ledger", l, "status", "--org", "m100", "--format", "json"],
        true,
        &[("PLEDGER_SERVE_ON_USE", "3")],
    )?;
    let idle_from = Instant::now();
    let socket = ledger.join("pledger.sock");
    r.row(
        "first command with PLEDGER_SERVE_ON_USE (opens the ledger, starts the server; the next are served as above)",
        format!("{:.0} ms", first.secs * 1000.0),
        "—".into(),
        "—".into(),
    );
    while socket.exists() {
        if idle_from.elapsed() > Duration::from_secs(60) {
            return Err("the server started on first use did not stop when idle".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    r.row(
        "server started on first use, PLEDGER_SERVE_ON_USE=3: gone after",
        format!("{:.1} s idle", idle_from.elapsed().as_secs_f64()),
        "—".into(),
        "—".into(),
    );
    let half = (events / 2).to_string();
    let ran = run_cmd(&bin, &["--ledger", l, "status", "--at", &half, "--format", "json"], true)?;
    r.row(
        &format!("status --at {half} (replays {half} entries)"),
        format!("{:.1} s, peak {:.0} MB", ran.secs, ran.rss_mb),
        "—".into(),
        "—".into(),
    );
    let ran = run_cmd(&bin, &["--ledger", l, "scorecard", "--as-of", "2018-12-31", "--format", "json"], true)?;
    r.row(
        "scorecard --as-of 2018-12-31",
        format!("{:.2} s, peak {:.0} MB", ran.secs, ran.rss_mb),
        "—".into(),
        "—".into(),
    );
    Ok(())
}

/// The head queries and a single durable write, each run as a `pledger` process `samples` times.
fn as_processes(bin: &Path, l: &str, key: &str, samples: usize, how: &str, r: &mut Report) -> Res<()> {
    for (what, args) in [
        ("status of one member", vec!["status", "--org", "m100", "--format", "json"]),
        ("scorecard", vec!["scorecard", "--format", "json"]),
        ("coverage", vec!["coverage", "--format", "json"]),
    ] {
        let mut a = vec!["--ledger", l];
        a.extend(&args);
        // One run first, untimed, as for the in-process figures.
        run_cmd(bin, &a, true)?;
        let mut s = Vec::new();
        for _ in 0..samples {
            s.push(run_cmd(bin, &a, true)?.secs * 1000.0);
        }
        r.latency(&format!("{what}, as a CLI process{how}"), &mut s, 0, 0.99, Some(50.0));
    }
    let mut s = Vec::new();
    for i in 0..samples {
        let amount = format!("{}", 1000 + i);
        let ran = run_cmd(
            bin,
            &[
                "--ledger", l, "--key", key, "pledge", "--to", "m000", "--category", "training", "--area", "ML-3",
                "--amount", &amount, "--currency", "XOF", "--due", "2027-01-01", "--title", "Bench",
            ],
            false,
        )?;
        std::hint::black_box(ran.stdout);
        s.push(ran.secs * 1000.0);
    }
    r.latency(&format!("a single durable write through the CLI{how}"), &mut s, 0, 0.5, Some(30.0));
    Ok(())
}

/// `pledger serve` on a ledger, from the moment it listens until stopped.
struct Server {
    child: std::process::Child,
    ready_ms: f64,
}

impl Server {
    fn start(bin: &Path, ledger: &Path) -> Res<Server> {
        let start = Instant::now();
        let child = crate::crash::serve(bin, ledger)?;
        Ok(Server { child, ready_ms: start.elapsed().as_secs_f64() * 1000.0 })
    }

    /// Stops it as a person would (SIGTERM) and checks it ended cleanly.
    fn stop(mut self) -> Res<()> {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().map_err(err)?;
        let status = self.child.wait().map_err(err)?;
        if !sent.success() || !status.success() {
            return Err(format!("pledger serve did not stop cleanly: {status}"));
        }
        Ok(())
    }
}
