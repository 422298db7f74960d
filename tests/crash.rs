//! Crash safety with real processes (the short version; `pledger-bench crash` runs the long one,
//! recorded in docs/reliability.md): `pledger submit` killed with SIGKILL at random moments; after
//! every kill the ledger verifies, every id submit printed is present, and rebuild changes no
//! projection.

#[test]
fn sigkill_during_submit_loses_nothing_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pledger");
    let s = pledger_bench::crash::run(&bin, work.path(), 12, 4000, 400, 4, 42).unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.kills, 12);
    assert!(s.kills_mid_write >= 6, "too few kills landed mid-write: {s:?}");
    assert!(s.acknowledged > 100, "{s:?}");
    assert_eq!((s.lost, s.failed_verifications, s.rebuild_mismatches), (0, 0, 0), "{:?}", s.failures);
    assert!(s.rebuilds >= 2);
}
