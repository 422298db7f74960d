//! Crash safety with real processes (the short version; `pledger-bench crash` runs the long one,
//! recorded in docs/reliability.md): `pledger submit` killed with SIGKILL at random moments; after
//! every kill the ledger verifies, every id submit printed is present, and rebuild changes no
//! projection.

use pledger_bench::crash::Plan;

/// Runs the plan and checks what it found: nothing lost, every verification and rebuild right.
fn crash_run(plan: Plan, mid_write_at_least: u64) {
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pledger");
    let s = pledger_bench::crash::run(&bin, work.path(), &plan).unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.kills, plan.kills);
    assert!(s.kills_mid_write >= mid_write_at_least, "too few kills landed mid-write: {s:?}");
    assert!(s.acknowledged > 100, "{s:?}");
    assert_eq!((s.lost, s.failed_verifications, s.rebuild_mismatches), (0, 0, 0), "{:?}", s.failures);
    assert!(s.rebuilds >= 2);
}

#[test]
fn sigkill_during_submit_loses_nothing_acknowledged() {
    crash_run(Plan { kills: 12, events: 4000, max_ms: 400, rebuild_every: 4, seed: 42, served: false }, 6);
}

/// The same through `pledger serve`: the server, which does the writing, is what is killed.
#[test]
fn sigkill_of_the_server_during_submit_loses_nothing_acknowledged() {
    crash_run(Plan { kills: 8, events: 4000, max_ms: 400, rebuild_every: 4, seed: 7, served: true }, 4);
}
