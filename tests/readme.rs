//! The README's tour, run as printed: every command of the block after `<!-- tour -->` must
//! succeed, with the freshly built `pledger` first on the PATH.

mod common;

use std::process::Command;

#[test]
fn the_readme_tour_works_as_printed() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("<!-- tour -->").expect("README has a tour");
    let block = &readme[start..];
    let body_start = block.find("```sh\n").unwrap() + 6;
    let body_end = body_start + block[body_start..].find("\n```").unwrap();
    let script = &block[body_start..body_end];
    assert!(script.lines().filter(|l| l.starts_with("pledger ")).count() >= 10);

    let dir = tempfile::tempdir().unwrap();
    let bin_dir = common::bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &format!("export PATH={path:?}\n{script}\n")])
        .current_dir(dir.path())
        .env_remove("PLEDGER_LEDGER")
        .env_remove("PLEDGER_KEY")
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the tour failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in ["P-000001", "F-000001", "A-000001", "W-000001", "P-000002", "F-000002", "Laptops for district"] {
        assert!(stdout.contains(expected), "tour output lacks {expected}:\n{stdout}");
    }
}
