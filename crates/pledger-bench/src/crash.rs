//! Crash testing with real processes: `pledger submit` over a large batch, killed with SIGKILL
//! at random moments, again and again — or, served, the `pledger serve` process that writes for
//! it. After every kill the ledger must open, `verify` must pass (it compares the stored tree and
//! state with what the entries say), and every id that submit printed — it prints an id only once
//! its event is on disk — must be in the log. Every few kills, `rebuild` must leave the
//! projections exactly as they were.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pledger_core::testkit::Rng;

/// What a crash run found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Kills made.
    pub kills: u64,
    /// Kills that landed while submit was still writing (not after it had finished).
    pub kills_mid_write: u64,
    /// Events whose submit was acknowledged before its kill.
    pub acknowledged: u64,
    /// Acknowledged events missing after the kill: must be 0.
    pub lost: u64,
    /// Verifications that failed after a kill: must be 0.
    pub failed_verifications: u64,
    /// Rebuilds whose state differed from the stored one: must be 0.
    pub rebuild_mismatches: u64,
    /// Rebuilds run.
    pub rebuilds: u64,
    /// Ledgers built.
    pub ledgers: u64,
    /// What went wrong, one line each.
    pub failures: Vec<String>,
}

fn pledger(bin: &Path, ledger: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    // The commands open the ledger themselves unless the run is of a server: no server started
    // on first use behind the harness's back.
    Command::new(bin).arg("--ledger").arg(ledger).arg("--quiet").args(args).env_remove("PLEDGER_SERVE_ON_USE").output()
}

/// What a crash run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Kills in all.
    pub kills: u64,
    /// Events generated for each ledger.
    pub events: u64,
    /// Each kill lands within this many milliseconds of the start.
    pub max_ms: u64,
    /// `rebuild` after every this many kills (0: never).
    pub rebuild_every: u64,
    /// The seed of the generated events and of the kill times.
    pub seed: u64,
    /// Submit through `pledger serve`, and kill the server instead of submit.
    pub served: bool,
}

/// Kills `pledger submit` (or the server it submits through) `plan.kills` times at random
/// moments, over ledgers of `plan.events` generated events, checking after each kill.
pub fn run(bin: &Path, work: &Path, plan: &Plan) -> Result<Summary, String> {
    let Plan { kills, events, max_ms, rebuild_every, seed, served } = *plan;
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let envelopes = work.join("envelopes.jsonl");
    {
        let f = std::fs::File::create(&envelopes).map_err(|e| e.to_string())?;
        let mut out = std::io::BufWriter::new(f);
        crate::generate(seed, events, &mut out, |_| {}).map_err(|e| e.to_string())?;
        std::io::Write::flush(&mut out).map_err(|e| e.to_string())?;
    }
    // A served ledger must exist before its server: it is founded from the genesis alone.
    let genesis = work.join("genesis.jsonl");
    if served {
        let f = std::fs::File::open(&envelopes).map_err(|e| e.to_string())?;
        let first = BufReader::new(f).lines().next().ok_or("no envelopes")?.map_err(|e| e.to_string())?;
        std::fs::write(&genesis, format!("{first}\n")).map_err(|e| e.to_string())?;
    }
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut s = Summary { ledgers: 1, ..Summary::default() };
    let mut ledger: PathBuf = work.join("ledger-1");
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    while s.kills < kills {
        let mut server = None;
        if served {
            if !pledger_store::looks_like_ledger(&ledger) {
                let genesis = genesis.to_str().ok_or("bad path")?;
                let founded = pledger(bin, &ledger, &["submit", "--create", genesis]).map_err(|e| e.to_string())?;
                if !founded.status.success() {
                    return Err("could not found the ledger to serve".into());
                }
            }
            server = Some(serve(bin, &ledger)?);
        }
        let mut child = Command::new(bin)
            .arg("--ledger")
            .arg(&ledger)
            .args(["--quiet", "submit", "--create", "--resume", "--group", "500"])
            .arg(&envelopes)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader =
            std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>());
        let delay = Duration::from_millis(5 + rng.below(max_ms));
        let start = Instant::now();
        let mut finished = false;
        while start.elapsed() < delay {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // std's kill sends SIGKILL on Unix: no destructor, no flush, no chance to clean up.
        match server.as_mut() {
            // The server is killed whether or not it was writing: it never outlives a round.
            Some(server) => {
                server.kill().map_err(|e| e.to_string())?;
                let _ = server.wait();
            }
            None if !finished => child.kill().map_err(|e| e.to_string())?,
            None => {}
        }
        if !finished {
            s.kills_mid_write += 1;
        }
        let _ = child.wait();
        s.kills += 1;
        let printed = reader.join().map_err(|_| "reader thread panicked")?;
        acknowledged.extend(printed);

        if !pledger_store::looks_like_ledger(&ledger)
            || acknowledged.is_empty() && pledger(bin, &ledger, &["log"]).map(|o| !o.status.success()).unwrap_or(true)
        {
            // Killed before the ledger existed: nothing was acknowledged, nothing to check.
            let _ = std::fs::remove_dir_all(&ledger);
            continue;
        }
        let v = pledger(bin, &ledger, &["verify"]).map_err(|e| e.to_string())?;
        if !v.status.success() {
            s.failed_verifications += 1;
            s.failures.push(format!("kill {}: {}", s.kills, String::from_utf8_lossy(&v.stderr).trim()));
        }
        let log = pledger(bin, &ledger, &["log", "--format", "json"]).map_err(|e| e.to_string())?;
        let present: BTreeSet<String> = String::from_utf8_lossy(&log.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect();
        let lost: Vec<&String> = acknowledged.iter().filter(|id| !present.contains(*id)).collect();
        if !lost.is_empty() {
            s.lost += lost.len() as u64;
            s.failures.push(format!("kill {}: acknowledged but missing: {:?}", s.kills, &lost[..lost.len().min(5)]));
        }
        if rebuild_every > 0 && s.kills.is_multiple_of(rebuild_every) {
            let before = pledger(bin, &ledger, &["scorecard", "--format", "json"]).map_err(|e| e.to_string())?;
            let before_status = pledger(bin, &ledger, &["status", "--format", "json"]).map_err(|e| e.to_string())?;
            let r = pledger(bin, &ledger, &["rebuild"]).map_err(|e| e.to_string())?;
            let after = pledger(bin, &ledger, &["scorecard", "--format", "json"]).map_err(|e| e.to_string())?;
            let after_status = pledger(bin, &ledger, &["status", "--format", "json"]).map_err(|e| e.to_string())?;
            s.rebuilds += 1;
            if !r.status.success() || before.stdout != after.stdout || before_status.stdout != after_status.stdout {
                s.rebuild_mismatches += 1;
                s.failures.push(format!("kill {}: projections differ after rebuild", s.kills));
            }
        }
        if finished {
            // The whole batch is in: start a fresh ledger, so that later kills land mid-write.
            s.acknowledged += acknowledged.len() as u64;
            acknowledged.clear();
            s.ledgers += 1;
            ledger = work.join(format!("ledger-{}", s.ledgers));
        }
    }
    s.acknowledged += acknowledged.len() as u64;
    Ok(s)
}

/// `pledger serve` on `ledger`, once it listens (within two minutes: the open of a large
/// ledger).
pub(crate) fn serve(bin: &Path, ledger: &Path) -> Result<std::process::Child, String> {
    let mut server = Command::new(bin)
        .arg("--ledger")
        .arg(ledger)
        .args(["--quiet", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(ledger.join("pledger.sock")).is_err() {
        if let Some(status) = server.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("pledger serve ended: {status}"));
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = server.kill();
            return Err("pledger serve did not listen within 2 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(server)
}
