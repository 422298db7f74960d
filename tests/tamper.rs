//! Tampered storage, on copies of a real ledger: bytes of sled's files flipped, files truncated
//! or removed. Whatever was done, a command either refuses in one line with a non-zero exit, or
//! answers exactly what the intact ledger answers — never a wrong answer, never a panic.

use std::path::{Path, PathBuf};

use crate::common::{copy_dir, Env};

struct Case {
    name: String,
    dir: PathBuf,
}

fn outcome(env: &Env, case: &str, dir: &Path, args: &[&str], truth: &str) -> &'static str {
    let out = env.cmd().arg("--ledger").arg(dir).args(["--wait", "0"]).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{case}: {args:?} panicked: {stderr}");
    assert!(out.status.code().is_some(), "{case}: {args:?} died of a signal");
    if out.status.success() {
        assert_eq!(String::from_utf8_lossy(&out.stdout), truth, "{case}: {args:?} answered wrong on {}", dir.display());
        "answered right"
    } else {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{case}: {args:?}: {stderr}");
        assert!(stderr.starts_with("pledger: "), "{stderr}");
        "refused"
    }
}

#[test]
fn tampered_stores_refuse_or_answer_right() {
    let env = Env::founded();
    for i in 0..30 {
        env.pledge_xof("psi", &format!("{}", 1000 + i));
    }
    env.ok(&["--key", "psi.key", "fulfill", "P-000003", "--amount", "1002", "--date", "2014-06-01"]);
    env.ok(&["--key", "dns.key", "checkpoint"]);
    let truth_status = env.ok(&["status", "--format", "json"]) + "\n";
    let truth_log = env.ok(&["log", "--format", "json"]) + "\n";
    let truth_verify = env.ok(&["verify"]) + "\n";

    let mut cases = Vec::new();
    let db_len = std::fs::metadata(env.ledger.join("db")).unwrap().len();
    let seed = std::env::var("PLEDGER_TAMPER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(2026);
    let mut rng = pledger_core::testkit::Rng::new(seed);
    for k in 0..24 {
        let dir = env.path(&format!("flip{k}"));
        copy_dir(&env.ledger, &dir);
        let mut bytes = std::fs::read(dir.join("db")).unwrap();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            let pos = rng.below(db_len) as usize;
            bytes[pos] ^= 1 << rng.below(8);
        }
        std::fs::write(dir.join("db"), bytes).unwrap();
        cases.push(Case { name: format!("{flips} bytes flipped in db"), dir });
    }
    for (name, f) in [
        (
            "db truncated to half",
            Box::new(|d: &Path| {
                let p = d.join("db");
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len / 2).unwrap();
            }) as Box<dyn Fn(&Path)>,
        ),
        (
            "db truncated to 100 bytes",
            Box::new(|d: &Path| {
                std::fs::OpenOptions::new().write(true).open(d.join("db")).unwrap().set_len(100).unwrap();
            }),
        ),
        ("db removed", Box::new(|d: &Path| std::fs::remove_file(d.join("db")).unwrap())),
        ("conf removed", Box::new(|d: &Path| std::fs::remove_file(d.join("conf")).unwrap())),
        (
            "snapshots removed",
            Box::new(|d: &Path| {
                for e in std::fs::read_dir(d).unwrap() {
                    let e = e.unwrap();
                    if e.file_name().to_string_lossy().starts_with("snap.") {
                        std::fs::remove_file(e.path()).unwrap();
                    }
                }
            }),
        ),
    ] {
        let dir = env.path(&name.replace(' ', "-"));
        copy_dir(&env.ledger, &dir);
        f(&dir);
        cases.push(Case { name: name.to_owned(), dir });
    }
    let mut tally = std::collections::BTreeMap::new();
    for c in &cases {
        for (args, truth) in [
            (&["verify"][..], &truth_verify),
            (&["status", "--format", "json"][..], &truth_status),
            (&["log", "--format", "json"][..], &truth_log),
        ] {
            let o = outcome(&env, &c.name, &c.dir, args, truth);
            *tally.entry((args[0], o)).or_insert(0) += 1;
        }
    }
    eprintln!("{tally:?}");
    // At least the destructive cases were refused.
    assert!(tally.get(&("verify", "refused")).copied().unwrap_or(0) >= 3, "{tally:?}");
}
