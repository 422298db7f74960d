//! Crash safety with real processes (the short version; `pledger-bench crash` runs the long one,
//! recorded in docs/reliability.md): `pledger submit` killed with SIGKILL at random moments; after
//! every kill the ledger verifies, every id submit printed is present, and rebuild changes no
//! projection.

use pledger_bench::crash::Plan;

#[test]
fn sigkill_during_submit_loses_nothing_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pledger");
    let plan = Plan { kills: 12, events: 4000, max_ms: 400, rebuild_every: 4, seed: 42, served: false };
    let s = pledger_bench::crash::run(&bin, work.path(), &plan).unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.kills, 12);
    assert!(s.kills_mid_write >= 6, "too few kills landed mid-write: {s:?}");
    assert!(s.acknowledged > 100, "{s:?}");
    assert_eq!((s.lost, s.failed_verifications, s.rebuild_mismatches), (0, 0, 0), "{:?}", s.failures);
    assert!(s.rebuilds >= 2);
}

/// The same through `pledger serve`: the server, which does the writing, is what is killed.
#[test]
fn sigkill_of_the_server_during_submit_loses_nothing_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pledger");
    let plan = Plan { kills: 8, events: 4000, max_ms: 400, rebuild_every: 4, seed: 7, served: true };
    let s = pledger_bench::crash::run(&bin, work.path(), &plan).unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.kills, 8);
    assert!(s.kills_mid_write >= 4, "too few kills landed mid-write: {s:?}");
    assert!(s.acknowledged > 100, "{s:?}");
    assert_eq!((s.lost, s.failed_verifications, s.rebuild_mismatches), (0, 0, 0), "{:?}", s.failures);
    assert!(s.rebuilds >= 2);
}
