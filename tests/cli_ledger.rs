//! End-to-end: keys, ledgers on disk, offline signing, bulk submit, concurrent processes.

use std::io::Write;
use std::process::Command;

use crate::common::{bin, pledge_with, Env, ORIGIN};

#[test]
fn keygen_writes_private_0600_and_public_that_openssl_reads() {
    let env = Env::new();
    let id = env.keygen("k");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("k")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let private = std::fs::read_to_string(env.path("k")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    let public = std::fs::read_to_string(env.path("k.pub")).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    // Never overwrites a key.
    let out = env.run(&["keygen", "k"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => {
            for args in [vec!["pkey", "-in", "k", "-noout"], vec!["pkey", "-pubin", "-in", "k.pub", "-noout"]] {
                let o = Command::new("openssl").args(&args).current_dir(env.dir.path()).output().unwrap();
                assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
            }
            // openssl derives the same public key from the private one.
            let o = Command::new("openssl")
                .args(["pkey", "-in", "k", "-pubout"])
                .current_dir(env.dir.path())
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(o.stdout).unwrap(), public);
        }
        _ => crate::common::unavailable("openssl, for the half of this test that reads pledger's keys with it"),
    }
    // A private key readable by others is refused, with the fix.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.path("k"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = env.run(&["--key", "k", "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
        assert!(!env.ledger.exists());
    }
}

#[test]
fn a_ledger_closed_and_reopened_shows_the_same_log() {
    let env = Env::founded();
    env.pledge_xof("psi", "5000");
    let first = env.ok(&["log", "--format", "json"]);
    assert_eq!(first.lines().count(), 11, "genesis, 5 areas, 4 members, 1 pledge");
    assert_eq!(env.ok(&["log", "--format", "json"]), first);
    let from = env.ok(&["log", "--from", "10", "--format", "json"]);
    assert_eq!(from.lines().count(), 1);
    assert!(from.contains("\"P-000001\""));
    let csv = env.ok(&["log", "--format", "csv"]);
    assert!(csv.starts_with("seq,recorded,id,kind,signer,effective,what\n"));
    assert_eq!(csv.lines().count(), 12);
}

#[test]
fn init_refuses_a_bad_areas_file_and_leaves_no_ledger() {
    let env = Env::new();
    env.keygen("dns.key");
    env.write("areas.csv", "code,name,level,parent\nML,Mali,country,\nML-3,Sikasso,region,ML-9\n");
    let out = env.run(&[
        "--key", "dns.key", "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS", "--areas", "areas.csv",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown area ML-9"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!env.ledger.exists(), "a half-made ledger was left behind");
    env.write("areas.csv", "code,name\nML,Mali\n");
    let out = env.run(&[
        "--key", "dns.key", "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS", "--areas", "areas.csv",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("header must name"));
    let out = env.run(&["--key", "dns.key", "--origin", "has space", "init", "--org", "dns", "--name", "DNS"]);
    assert_eq!(out.status.code(), Some(2));
    // A ledger is never initialised twice.
    env.ok(&["--key", "dns.key", "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS"]);
    let out = env.run(&["--key", "dns.key", "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn offline_signing_then_submit() {
    let env = Env::founded();
    // Sign without any ledger at hand: origin and signer given.
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args([
        "--key", "psi.key", "--as", "psi", "--origin", ORIGIN, "pledge", "--to", "dns", "--category", "training",
        "--area", "ML-1", "--quantity", "12", "--unit", "sessions", "--due", "2015-01-01", "--title", "Training",
        "--date", "2014-02-02", "--sign-only",
    ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let envelope = String::from_utf8(out.stdout).unwrap();
    let f = env.write("p.json", &envelope);
    assert_eq!(env.ok(&["submit", f.to_str().unwrap()]), "P-000001");
    // A hand-written event, completed and signed by `sign`.
    env.write(
        "event.json",
        r#"{"kind": "fulfillment", "effective": "2014-06-01",
            "body": {"pledge": "P-000001", "amount": {"count": 5, "unit": "sessions"}, "note": "First five"}}"#,
    );
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["--key", "psi.key", "--as", "psi", "--origin", ORIGIN, "sign", "event.json"]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = env.write("f.json", &String::from_utf8(out.stdout).unwrap());
    assert_eq!(env.ok(&["submit", f.to_str().unwrap()]), "F-000001");
    // A hand-written event with a mistake is refused before signing.
    env.write(
        "bad.json",
        r#"{"kind": "fulfillment", "body": {"pledge": "P-1", "amount": {"count": -5, "unit": "x"}}}"#,
    );
    let out = env.run(&["--key", "psi.key", "--as", "psi", "sign", "bad.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
    assert!(out.stdout.is_empty());
}

#[test]
fn bulk_submit_prints_durable_ids_and_stops_at_the_first_refusal() {
    let env = Env::founded();
    let mut lines = String::new();
    for i in 0..25 {
        let amount = format!("{}", 100 + i);
        let mut args = pledge_with("psi.key", &[("--amount", &amount)]);
        args.push("--sign-only".into());
        let env_json = env.ok(&args);
        lines.push_str(&env_json);
        lines.push('\n');
        if i == 19 {
            // The 21st line is the 20th again: a replay.
            lines.push_str(&env_json);
            lines.push('\n');
        }
    }
    let f = env.write("bulk.jsonl", &lines);
    let out = env.run(&["submit", "--group", "7", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<&str> = stdout.lines().collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(ids[0], "P-000001");
    assert_eq!(ids[19], "P-000020");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("bulk.jsonl:21: refused: duplicate event"), "{stderr}");
    // The twenty before the refusal are on disk.
    assert_eq!(env.ok(&["log", "--format", "json"]).matches("\"kind\":\"pledge\"").count(), 20 * 2);
    // Submitting from standard input.
    let last = lines.lines().last().unwrap().to_owned();
    let out = env.cmd().args(["submit", "-"]).write_stdin(format!("{last}\n")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "P-000021");
}

#[test]
fn a_ledger_in_use_is_reported_and_concurrent_writers_never_corrupt_it() {
    let env = Env::founded();
    // Hold the ledger open: `submit -` waits on its standard input.
    let mut holder = env.submit_stream();
    // Once the holder has the lock, a second process that will not wait is turned away.
    let start = std::time::Instant::now();
    let out = loop {
        let out = env.run(&["--wait", "0", "log"]);
        if out.status.code() == Some(75) || start.elapsed() > std::time::Duration::from_secs(20) {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(out.status.code(), Some(75));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("ledger {} is in use by another process", env.ledger.display())), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1);
    holder.stdin.take().unwrap().flush().unwrap();
    assert!(holder.wait().unwrap().success());

    // Four processes, ten pledges each, all at once; each waits its turn.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let ledger = env.ledger.clone();
            let dir = env.dir.path().to_owned();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..10 {
                    let out = Command::new(bin())
                        .current_dir(&dir)
                        .args(["--ledger", ledger.to_str().unwrap(), "--wait", "120"])
                        .args(pledge_with(
                            "psi.key",
                            &[("--amount", &format!("{}", 1000 * w + i + 1)), ("--title", "Concurrent")],
                        ))
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    ids.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<String> = writers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "ids were given twice");
    assert_eq!(ids.first().unwrap(), "P-000001");
    assert_eq!(ids.last().unwrap(), "P-000040");
    let log = env.ok(&["log", "--format", "json"]);
    assert_eq!(log.lines().count(), 10 + 40);
    for w in 0..4 {
        for i in 0..10 {
            let needle = format!("\"minor\":{},", 1000 * w + i + 1);
            assert_eq!(log.matches(&needle).count(), 1, "{needle}");
        }
    }
}

#[test]
fn demo_builds_the_story_and_keeps_it_when_asked() {
    let env = Env::new();
    let out = env.cmd().env_remove("PLEDGER_LEDGER").arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Who kept their word") && text.contains("Gaps: ML-8 Kidal."), "{text}");
    let kept = env.path("demo-ledger");
    let out = env.cmd().args(["--ledger", kept.to_str().unwrap(), "demo"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = env.cmd().args(["--ledger", kept.to_str().unwrap(), "log", "--format", "json"]).output().unwrap();
    let log = String::from_utf8(log.stdout).unwrap();
    assert!(log.lines().count() > 50);
    assert!(log.contains("\"disputed\""), "a disputed delivery");
    assert!(log.contains("\"withdrawal\""), "a partial withdrawal");
    assert!(log.contains("\"amendment\""), "an amendment");
}

/// Bulk submit checks a group's signatures ahead of applying it, under the keys the ledger held
/// before the group; a key added or revoked inside the group must still be judged as if the
/// envelopes came one at a time.
#[test]
fn a_key_added_or_revoked_within_one_submitted_group() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    let second = env.keygen("psi2.key");
    let first: String = {
        let members = env.ok(&["members", "--format", "json"]);
        let psi: serde_json::Value =
            serde_json::from_str(members.lines().find(|l| l.contains("\"psi\"")).unwrap()).unwrap();
        psi["keys"][0]["id"].as_str().unwrap().to_owned()
    };
    let sign = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--sign-only");
        env.ok(&all)
    };
    // One file: add psi2, sign with it at once, revoke the first key, then the first key again.
    let add = sign(&["--key", "psi.key", "key", "add", "psi", "--pubkey", "psi2.key.pub"]);
    let with_new =
        sign(&["--key", "psi2.key", "--as", "psi", "fulfill", "P-000001", "--amount", "10", "--date", "2014-05-01"]);
    let revoke = sign(&["--key", "psi2.key", "--as", "psi", "key", "revoke", "psi", &first]);
    let with_old = sign(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "20", "--date", "2014-05-02"]);
    let f = env.write("group.jsonl", &[add, with_new, revoke, with_old].join("\n"));
    let out = env.run(&["submit", "--group", "100", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("group.jsonl:4: refused") && stderr.contains("was revoked at entry"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(),
        [second.as_str(), "F-000001", first.as_str()]
    );
    // A forged signature inside a group is refused at its line, after the ones before it.
    let good = sign(&["--key", "psi2.key", "fulfill", "P-000001", "--amount", "30", "--date", "2014-05-03"]);
    let mut forged: serde_json::Value = serde_json::from_str(&sign(&[
        "--key", "psi2.key", "fulfill", "P-000001", "--amount", "40", "--date", "2014-05-04",
    ]))
    .unwrap();
    let sig = forged["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('A') { sig.replacen('A', "B", 1) } else { format!("A{}", &sig[1..]) };
    forged["signatures"][0]["sig"] = serde_json::Value::String(flipped);
    let f = env.write("forged.jsonl", &format!("{good}\n{forged}\n"));
    let out = env.run(&["submit", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("forged.jsonl:2: refused: bad signature"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "F-000002");
    env.ok(&["verify"]);
}

/// A stream on standard input is answered as it comes: a refused envelope ends `submit` at
/// once, with what came before it durable, even while the writer keeps the stream open.
#[test]
fn a_refusal_on_an_open_stream_ends_submit_at_once() {
    let env = Env::founded();
    let mut args = pledge_with("psi.key", &[]);
    args.push("--sign-only".into());
    let first = env.ok(&args);
    let mut child = env.submit_stream();
    let mut stdin = child.stdin.take().unwrap();
    // The same envelope twice: the second is a replay. The stream stays open after it.
    writeln!(stdin, "{first}\n{first}").unwrap();
    stdin.flush().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "submit waited on the open stream");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(stdin);
    assert_eq!(status.code(), Some(1));
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "P-000001");
    assert!(String::from_utf8_lossy(&out.stderr).contains("-:2: refused: duplicate event"));
    assert_eq!(env.ok(&["status", "--format", "json"]).lines().count(), 1);
}

#[test]
fn key_files_are_safe_whatever_the_umask_and_whose_they_are() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let mode = |name: &str| std::fs::metadata(env.path(name)).unwrap().permissions().mode() & 0o7777;
    // Under umask 000, the public key a convener will trust is still not writable by others.
    let out = Command::new("sh")
        .args(["-c", &format!("umask 000 && exec '{}' keygen k", bin().display())])
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((mode("k"), mode("k.pub")), (0o600, 0o644));
    let init = |key: &str| -> Vec<String> {
        ["--key", key, "--origin", ORIGIN, "init", "--org", "dns", "--name", "DNS"].map(str::to_owned).to_vec()
    };
    // Refused in one line, before any ledger exists.
    let refused = |args: &[String], needle: &str| {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        assert!(!env.ledger.exists());
    };
    // A public key given to sign with is called what it is.
    refused(&init("k.pub"), "k.pub: is a public key (SPKI PEM); signing needs the private key");
    // A key in a directory others can write, without the sticky bit, could be replaced.
    std::fs::create_dir(env.path("open")).unwrap();
    std::fs::set_permissions(env.path("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
    env.ok(&["keygen", "open/k"]);
    refused(&init("open/k"), "which others can write (mode 777)");
    // With the sticky bit, as /tmp has it, only the key's owner may replace it.
    std::fs::set_permissions(env.path("open"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    // A FIFO as --key is refused at once instead of waited on; a device as --pubkey too.
    rustix::fs::mkfifoat(rustix::fs::CWD, env.path("fifo"), rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let started = std::time::Instant::now();
    refused(&init("fifo"), "fifo: not a regular file (a FIFO)");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    env.ok(&init("open/k"));
    env.refused(
        &["--key", "k", "member", "add", "x", "--name", "X", "--kind", "donor", "--pubkey", "/dev/zero"],
        1,
        "/dev/zero: not a regular file (a character device)",
    );
    // A private key that is not the user's own.
    if Command::new("id").arg("-u").output().unwrap().stdout == b"0\n" {
        env.ok(&["keygen", "theirs"]);
        rustix::fs::chown(env.path("theirs"), Some(rustix::process::Uid::from_raw(65534)), None).unwrap();
        env.refused(
            &["--key", "theirs", "member", "add", "x", "--name", "X", "--kind", "donor", "--pubkey", "k.pub"],
            1,
            "private key is owned by uid 65534, not by you (uid 0)",
        );
    } else {
        crate::common::unavailable("root, to give a key file to another user");
    }
}
