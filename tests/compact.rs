//! End-to-end: `pledger compact` rewrites a ledger into a fresh database with exactly the same
//! contents and less disk; killed at any moment, it leaves the ledger whole; what it cannot do
//! safely it refuses, leaving the ledger as it was.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{bin, copy_dir, generated_ledger, Env};

/// Everything a user can read of the ledger: log, members and the four projections, as JSON.
fn contents(env: &Env) -> String {
    let mut all = env.state();
    for query in ["status", "scorecard", "coverage", "timeline"] {
        all.push('\n');
        all.push_str(&env.ok(&[query, "--format", "json"]));
    }
    all
}

/// Where an interrupted compaction leaves its copy: beside the ledger, hidden.
fn beside(env: &Env) -> PathBuf {
    env.path(".ledger.compacting")
}

/// Rewrites the ledger as one whose files hold much that was superseded, as those written before
/// pledger ran sled's cleaner do: sled's cleaner off, every key written, then, in a scattered
/// order, each overwritten by 4 KiB of padding and written back with its own value, a flush every
/// 1,000. The ledger reads exactly as before; the padding stays on disk, in segments that the
/// live pages written among it keep from being reused.
fn make_old(env: &Env) {
    let db = pledger_store::config(&env.ledger).flush_every_ms(None).open().unwrap();
    let all: Vec<(sled::IVec, sled::IVec)> = db.iter().map(|kv| kv.unwrap()).collect();
    let n = all.len();
    assert!(n > 1000);
    // A stride coprime with n visits every key once, scattered over the tree.
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let stride = (7919..).find(|&s| gcd(s, n) == 1).unwrap();
    let padding = vec![0u8; 4096];
    for i in 0..n {
        let (k, v) = &all[(i * stride) % n];
        db.insert(k, padding.as_slice()).unwrap();
        db.insert(k, v.clone()).unwrap();
        if i % 1000 == 999 {
            db.flush().unwrap();
        }
    }
    db.flush().unwrap();
}

fn verified(env: &Env) {
    let out = env.ok(&["verify", "-q"]);
    assert!(out.starts_with("verified"), "{out}");
}

#[test]
fn compaction_keeps_every_key_shrinks_the_files_and_the_ledger_goes_on() {
    let env = generated_ledger(3000);
    make_old(&env);
    let before = contents(&env);
    let bytes = pledger_store::ledger_bytes(&env.ledger).unwrap();
    eprintln!("an old ledger of {bytes} bytes");

    let out = env.ok(&["compact"]);
    eprintln!("{out}");
    assert!(out.starts_with(&format!("compacted {}: 3000 entries, ", env.ledger.display())), "{out}");
    assert!(out.contains("keys copied and compared"), "{out}");
    assert!(!beside(&env).exists(), "the former database was left behind");
    let after = pledger_store::ledger_bytes(&env.ledger).unwrap();
    assert!(after < bytes / 2, "{after} bytes after, {bytes} before");
    assert_eq!(contents(&env), before);
    verified(&env);

    // Writes go on into the compacted ledger, and it verifies with them.
    let keys = env.path("gen");
    let pledge = crate::common::pledge_with(keys.join("m100.key").to_str().unwrap(), &[("--to", "m000")]);
    let id = env.ok(&pledge);
    assert!(id.starts_with("P-"), "{id}");
    verified(&env);
    assert_eq!(env.ok(&["log", "--format", "json"]).lines().count(), 3001);
}

#[test]
fn compaction_killed_at_any_moment_leaves_the_ledger_whole() {
    let env = generated_ledger(3000);
    make_old(&env);
    let before = contents(&env);
    // How long a whole compaction takes here, to spread the kills over it; then the ledger is
    // bloated again, so that each compaction swaps a copy in.
    let start = Instant::now();
    assert!(env.ok(&["compact"]).starts_with("compacted"));
    let whole = start.elapsed();
    assert_eq!(contents(&env), before);
    make_old(&env);

    let mut mid_way = 0;
    for i in 0..12u32 {
        let mut child = Command::new(bin())
            .args(["--ledger", env.ledger.to_str().unwrap(), "compact"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * i / 10);
        child.kill().unwrap();
        child.wait().unwrap();
        if beside(&env).exists() {
            mid_way += 1;
        }
        verified(&env);
        assert_eq!(contents(&env), before, "after a kill at {} of the way", f64::from(i) / 10.0);
    }
    eprintln!("{mid_way} of 12 kills landed mid-compaction");
    assert!(mid_way >= 2, "only {mid_way} of 12 kills landed mid-compaction");

    // What the kills left beside the ledger, the next compaction removes.
    make_old(&env);
    assert!(env.ok(&["compact"]).starts_with("compacted"));
    assert!(!beside(&env).exists());
    assert_eq!(contents(&env), before);
}

#[test]
fn a_ledger_a_fresh_copy_would_not_shrink_is_left_as_it_was() {
    let env = Env::founded();
    let before = contents(&env);
    let files = file_list(&env.ledger);
    let out = env.ok(&["compact"]);
    assert!(out.starts_with(&format!("{} is compact already: a fresh copy of its ", env.ledger.display())), "{out}");
    assert!(out.ends_with("left as it was"), "{out}");
    assert!(!beside(&env).exists());
    assert_eq!(file_list(&env.ledger), files);
    assert_eq!(contents(&env), before);
}

/// The files of a directory with their inode numbers: the same files, not copies of them.
fn file_list(dir: &Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().ino())
        })
        .filter(|(name, _)| !name.starts_with("snap."))
        .collect();
    v.sort();
    v
}

#[test]
fn what_an_earlier_compaction_left_is_removed_and_anything_else_refused() {
    let env = generated_ledger(300);
    let before = contents(&env);
    // As a kill just after the swap leaves it: the former database, whole.
    copy_dir(&env.ledger, &beside(&env));
    env.ok(&["compact"]);
    assert!(!beside(&env).exists());
    assert_eq!(contents(&env), before);

    // As a kill mid-copy leaves it: a database cut short.
    copy_dir(&env.ledger, &beside(&env));
    let db = beside(&env).join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len / 3).unwrap();
    env.ok(&["compact"]);
    assert!(!beside(&env).exists());
    assert_eq!(contents(&env), before);

    // Not pledger's: left alone, and the ledger too.
    std::fs::create_dir(beside(&env)).unwrap();
    std::fs::write(beside(&env).join("thesis.odt"), "mine").unwrap();
    env.refused(&["compact"], 1, "is not what an earlier compaction left");
    assert_eq!(std::fs::read_to_string(beside(&env).join("thesis.odt")).unwrap(), "mine");
}

#[test]
fn compaction_refuses_what_it_cannot_do_safely() {
    let env = generated_ledger(300);
    // A file of the user's in the ledger's directory would not follow the copy.
    std::fs::write(env.ledger.join("notes.txt"), "keep me").unwrap();
    env.refused(&["compact"], 1, "holds notes.txt, which is not the ledger's");
    assert_eq!(std::fs::read_to_string(env.ledger.join("notes.txt")).unwrap(), "keep me");
    std::fs::remove_file(env.ledger.join("notes.txt")).unwrap();

    // A ledger another process holds open.
    let mut holder = env.submit_stream();
    let start = Instant::now();
    while env.run(&["--wait", "0", "members"]).status.code() != Some(75) {
        assert!(start.elapsed() < Duration::from_secs(20), "submit never opened the ledger");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = env.run(&["--wait", "0", "compact"]);
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(holder.stdin.take());
    holder.wait().unwrap();
    assert!(!beside(&env).exists());

    // No ledger there.
    let empty = Env::new();
    std::fs::create_dir(&empty.ledger).unwrap();
    let out = empty.run(&["compact"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pledger: no ledger at") && err.trim_end().lines().count() == 1, "{err}");
    assert_eq!(std::fs::read_dir(empty.dir.path()).unwrap().count(), 1, "compact wrote beside a non-ledger");
}
