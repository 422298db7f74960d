//! The README's tours, run as printed: every command of the block after `<!-- tour -->` (and
//! after `<!-- network tour -->`) must succeed, with the freshly built `pledger` first on the PATH.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// The shell block after `marker` in the README.
fn block(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find(marker).unwrap_or_else(|| panic!("README has no {marker}"));
    let block = &readme[start..];
    let body_start = block.find("```sh\n").unwrap() + 6;
    let body_end = body_start + block[body_start..].find("\n```").unwrap();
    block[body_start..body_end].to_owned()
}

/// Runs `script` with bash in a temp dir, in a process group of its own that is killed
/// afterwards, so that a server it started never outlives it.
fn run(script: &str, dir: &std::path::Path) -> Output {
    let bin_dir = crate::common::bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &format!("export PATH={path:?}\n{script}\n")])
        .current_dir(dir)
        .env_remove("PLEDGER_LEDGER")
        .env_remove("PLEDGER_KEY")
        .env_remove("PLEDGER_REMOTE")
        .env("PLEDGER_CONFIG", dir.join("config"))
        .env("TMPDIR", dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = child.id();
    let out = child.wait_with_output().unwrap();
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).output();
    out
}

#[test]
fn the_readme_tour_works_as_printed() {
    let script = block("<!-- tour -->");
    assert!(script.lines().filter(|l| l.starts_with("pledger ")).count() >= 10);
    let dir = tempfile::tempdir().unwrap();
    let out = run(&script, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the tour failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in ["P-000001", "F-000001", "A-000001", "W-000001", "P-000002", "F-000002", "Laptops for district"] {
        assert!(stdout.contains(expected), "tour output lacks {expected}:\n{stdout}");
    }
}

#[test]
fn the_readme_network_tour_works_as_printed() {
    // On a port the system chose, not the printed one, which may be taken here.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = block("<!-- network tour -->").replace("8417", &port.to_string());
    assert!(script.contains("--remote") || script.contains("PLEDGER_REMOTE"));
    let dir = tempfile::tempdir().unwrap();
    let out = run(&script, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the network tour failed:\n{stdout}\n{stderr}");
    // The writes printed their ids, each receipt was kept, the scorecard was the server's, the
    // monitor verified every entry, and publish wrote the checkpoint and the tiles.
    for expected in [
        "P-000001",
        "F-000001",
        ".json",
        "psi,PSI Mali",
        "5 new entries, every one verified",
        "published hmis.sante.gov.ml/pledges at size 5",
        "checkpoint",
        "tile",
    ] {
        assert!(stdout.contains(expected), "network tour output lacks {expected}:\n{stdout}\n{stderr}");
    }
}
