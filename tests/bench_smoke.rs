//! The benchmark at a small size, as CI runs it: every figure docs/benchmarks.md reports is
//! measured, by the real `pledger` binary on a generated ledger, and reported. No timing is
//! asserted: speed is judged in docs/benchmarks.md, on the release build, never here.

use pledger_bench::measure::Only;

fn bin_again() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("pledger")
}

#[test]
fn the_benchmark_measures_every_figure_at_a_small_size() {
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pledger");
    let report = pledger_bench::measure::run(1500, Some(work.path().join("bench")), Some(bin), 2, Only::All).unwrap();
    let names: Vec<&str> = report.rows.iter().map(|row| row[0].as_str()).collect();
    for want in [
        "Ed25519 exact verification",
        "ed25519-dalek verify_strict, one at a time",
        "sled inserts",
        "bulk submit",
        "bytes on disk per event",
        "verify the ledger",
        "export the bundle",
        "verify the bundle",
        "rebuild",
        "compact",
        "bytes on disk per event after compact",
        "status of one member, in-process",
        "scorecard, in-process",
        "coverage, in-process",
        "timeline, in-process",
        "status of one member, as a CLI process",
        "scorecard, as a CLI process",
        "a single durable write through the CLI",
        "pledger serve: listening after",
        "status of one member, as a CLI process, ledger served",
        "coverage, as a CLI process, ledger served",
        "a single durable write through the CLI, ledger served",
        "status --at 750",
        "scorecard --as-of",
    ] {
        assert!(names.iter().any(|n| n.starts_with(want)), "no figure for {want:?} in {names:?}");
    }
    for row in &report.rows {
        assert!(row[1].chars().any(|c| c.is_ascii_digit()), "a figure without a number: {row:?}");
    }
    // --reuse measures the queries again on the ledger kept in --work.
    let again = pledger_bench::measure::run(
        1500,
        Some(work.path().join("bench")),
        Some(assert_cmd::cargo::cargo_bin("pledger")),
        2,
        Only::Queries,
    )
    .unwrap();
    assert!(again.rows.iter().any(|r| r[0].starts_with("scorecard, in-process")));
    assert!(!again.rows.iter().any(|r| r[0].starts_with("bulk submit")), "--reuse built the ledger again");
    assert!(again.rows.iter().any(|r| r[0].starts_with("pledger serve")), "--reuse measured no CLI figure");
    // --in-process: only the head queries in this process.
    let quick =
        pledger_bench::measure::run(1500, Some(work.path().join("bench")), Some(bin_again()), 2, Only::InProcess(None))
            .unwrap();
    let names: Vec<&str> = quick.rows.iter().map(|row| row[0].as_str()).collect();
    assert!(names.iter().all(|n| n.ends_with(", in-process")), "{names:?}");
    assert_eq!(names.len(), 5, "{names:?}");
    let one = Only::InProcess(Some("coverage".into()));
    let one = pledger_bench::measure::run(1500, Some(work.path().join("bench")), Some(bin_again()), 2, one).unwrap();
    let names: Vec<&str> = one.rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(names, ["coverage, in-process"]);
}

#[test]
fn the_http_benchmark_measures_every_figure_at_a_small_size() {
    let work = tempfile::tempdir().unwrap();
    let plan = pledger_bench::net::Plan {
        events: 1500,
        writes: 300,
        singles: 64,
        read_secs: 0.3,
        work: Some(work.path().join("http")),
        pledger: Some(assert_cmd::cargo::cargo_bin("pledger")),
    };
    let report = pledger_bench::net::run(&plan).unwrap();
    let names: Vec<&str> = report.rows.iter().map(|row| row[0].as_str()).collect();
    for want in [
        "Ed25519 exact verification",
        "bulk `submit`",
        "HTTP writes, 1 client(s), JSON Lines",
        "HTTP writes, 8 client(s), JSON Lines",
        "HTTP writes, 64 client(s), JSON Lines",
        "HTTP writes, 1 client(s), one envelope a request",
        "HTTP writes, 64 client(s), one envelope a request",
        "`monitor` catching up from nothing",
        "`monitor`, a round with nothing new",
        "GET full hash tiles",
        "GET full entry bundles",
    ] {
        assert!(names.iter().any(|n| n.starts_with(want)), "no figure for {want:?} in {names:?}");
    }
    for row in &report.rows {
        assert!(row[1].chars().any(|c| c.is_ascii_digit()), "a figure without a number: {row:?}");
    }
    // Every write the benchmark made is in the ledger, which verifies.
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("pledger"))
        .args(["--ledger", work.path().join("http/ledger").to_str().unwrap(), "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let size: u64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("verify names the size");
    assert_eq!(size, 1500 + 4 * 300 + 3 * 64);
}
