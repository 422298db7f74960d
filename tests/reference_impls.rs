//! pledger's formats checked by implementations that share no code with it: the reference
//! implementation of C2SP signed notes (Go's golang.org/x/mod/sumdb/note) opens its
//! checkpoints, and tools/verify_bundle.py — written from docs/format.md alone, with Python's
//! blake3 and cryptography — verifies its bundles. Each test says so and passes when its
//! toolchain is absent; .ci/run installs both.

use std::path::Path;
use std::process::Command;

use crate::common::{Env, ORIGIN};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A ledger with a checkpoint, cosigned by a witness; returns (env, log vkey).
fn ledger() -> (Env, String) {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "400000", "--date", "2014-06-01"]);
    env.write("cp.txt", &(env.ok(&["--key", "dns.key", "checkpoint"]) + "\n"));
    env.keygen("w.key");
    let cosigned = env.ok(&[
        "--key", "w.key", "witness", "cosign", "cp.txt", "--state", "ws", "--name", "w.example", "--log-key",
        "dns.key.pub",
    ]);
    env.write("cosigned.txt", &(cosigned + "\n"));
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    (env, vkey)
}

#[test]
fn go_reference_implementation_opens_pledger_checkpoints() {
    let gocode = Path::new("/usr/share/gocode");
    let has_go = Command::new("go").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    if !has_go || !gocode.join("src/golang.org/x/mod/sumdb/note").is_dir() {
        crate::common::unavailable("Go and golang.org/x/mod (Debian: golang-go golang-golang-x-mod-dev)");
        return;
    }
    let (env, vkey) = ledger();
    let bin = env.path("notecheck");
    let out = Command::new("go")
        .args(["build", "-o", bin.to_str().unwrap(), "notecheck.go"])
        .current_dir(repo().join("tests/go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", gocode)
        .env("GOCACHE", env.path("gocache"))
        .env_remove("GOFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "go build: {}", String::from_utf8_lossy(&out.stderr));
    for file in ["cp.txt", "cosigned.txt"] {
        let out = Command::new(&bin).args([&vkey, env.path(file).to_str().unwrap()]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with(&format!("verified {ORIGIN} ")), "{stdout}");
        assert!(stdout.contains(&format!("{ORIGIN}\n12\n")), "{stdout}");
    }
    let cp = std::fs::read_to_string(env.path("cp.txt")).unwrap();
    env.write("tampered.txt", &cp.replacen("\n12\n", "\n13\n", 1));
    let out = Command::new(&bin).args([&vkey, env.path("tampered.txt").to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid signature"));
}

#[test]
fn an_independent_python_verifier_accepts_real_bundles_and_rejects_tampered_ones() {
    let Some(script) = python_verifier() else { return };
    let env = Env::new();
    let vkey = demo_bundle(&env);
    let run = |file: &str, extra: &[&str]| {
        Command::new("python3").arg(&script).arg(env.path(file)).args(extra).output().unwrap()
    };
    let out = run("b.jsonl", &["--log-key", &vkey]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("verified 63 entries of hmis.sante.gov.ml/pledges"));
    let bundle = std::fs::read_to_string(env.path("b.jsonl")).unwrap();
    let lines: Vec<&str> = bundle.lines().collect();
    // One payload byte changed; an entry dropped; another ledger's log key trusted.
    let mut e: serde_json::Value = serde_json::from_str(lines[30]).unwrap();
    let payload = e["envelope"]["payload"].as_str().unwrap().to_owned();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(payload).unwrap();
    let pos = bytes.windows(8).position(|w| w == b"\"minor\":").unwrap() + 8;
    bytes[pos] = if bytes[pos] == b'9' { b'8' } else { b'9' };
    e["envelope"]["payload"] = serde_json::Value::String(b64.encode(&bytes));
    let mut forged: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    forged[30] = e.to_string();
    env.write("forged.jsonl", &(forged.join("\n") + "\n"));
    let out = run("forged.jsonl", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("entry 29: bad signature"));
    let mut dropped: Vec<&str> = lines.clone();
    dropped.remove(20);
    env.write("dropped.jsonl", &(dropped.join("\n") + "\n"));
    assert_eq!(run("dropped.jsonl", &[]).status.code(), Some(1));
    let other = Env::founded();
    let out = run("b.jsonl", &["--log-key", &other.ok(&["checkpoint", "--vkey"])]);
    assert_eq!(out.status.code(), Some(1));
}

/// A corpus of tampered bundles: each refused by pledger and by the independent verifier alike,
/// in one line, with exit 1; and the verifier's own `--help`.
#[test]
fn both_verifiers_refuse_every_tampered_bundle_of_the_corpus() {
    let Some(script) = python_verifier() else { return };
    let help = Command::new("python3").arg(&script).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("Usage: verify_bundle.py"));
    let env = Env::new();
    let vkey = demo_bundle(&env);
    let bundle = std::fs::read_to_string(env.path("b.jsonl")).unwrap();
    let lines: Vec<String> = bundle.lines().map(str::to_owned).collect();
    let header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let with_header = |h: serde_json::Value| {
        let mut l = lines.clone();
        l[0] = h.to_string();
        l.join("\n") + "\n"
    };
    let last = lines.len() - 1;
    let with_keys = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut l = lines.clone();
        let mut k: serde_json::Value = serde_json::from_str(&l[last]).unwrap();
        change(&mut k);
        l[last] = k.to_string();
        l.join("\n") + "\n"
    };
    let with_entry = |n: usize, change: &dyn Fn(&str) -> String| {
        let mut l = lines.clone();
        l[1 + n] = change(&l[1 + n]);
        l.join("\n") + "\n"
    };
    let revoked = lines[last].contains("\"revoked\":") && lines[last].matches("\"revoked\":null").count() > 0;
    assert!(revoked, "the demo's key list has keys never revoked");
    let mut corpus: Vec<(&str, String)> = vec![
        ("a byte-order mark", format!("\u{feff}{bundle}")),
        ("carriage returns", bundle.replace('\n', "\r\n")),
        ("an unknown header field", {
            let mut h = header.clone();
            h["note"] = "x".into();
            with_header(h)
        }),
        ("a checkpoint listed twice", {
            let mut h = header.clone();
            let cps = h["checkpoints"].as_array().unwrap().clone();
            let mut twice = vec![cps[0].clone()];
            twice.extend(cps);
            h["checkpoints"] = serde_json::Value::Array(twice);
            with_header(h)
        }),
        ("a revocation added to the key list", with_keys(&|k| k["keys"][1]["revoked"] = 5.into())),
        ("a key's addition moved in the key list", with_keys(&|k| k["keys"][1]["added"] = 1.into())),
        ("an unknown field in the key list", with_keys(&|k| k["keys"][0]["x"] = 1.into())),
        ("an unknown field in an entry", with_entry(10, &|l| l.replacen("{\"seq\"", "{\"x\":1,\"seq\"", 1))),
        (
            "a recording time spelled otherwise",
            with_entry(11, &|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let t = v["recorded"].as_str().unwrap().to_owned();
                l.replacen(&t, &t.replace('Z', "+00:00"), 1)
            }),
        ),
        ("an entry's field twice", with_entry(12, &|l| l.replacen("{\"seq\":12", "{\"seq\":12,\"seq\":12", 1))),
        ("an entry too many", {
            let mut l = lines.clone();
            l.insert(5, lines[5].clone());
            l.join("\n") + "\n"
        }),
    ];
    // The bundle itself passes both, so every refusal below is the tampering's.
    corpus.insert(0, ("nothing", bundle.clone()));
    for (i, (what, text)) in corpus.iter().enumerate() {
        let file = format!("t{i}.jsonl");
        env.write(&file, text);
        let py = Command::new("python3").arg(&script).arg(env.path(&file)).args(["--log-key", &vkey]).output().unwrap();
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", &file, "--log-key", &vkey]);
        let ours = c.output().unwrap();
        if i == 0 {
            assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
            assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
            continue;
        }
        let (py_err, our_err) = (String::from_utf8_lossy(&py.stderr), String::from_utf8_lossy(&ours.stderr));
        assert_eq!(py.status.code(), Some(1), "{what}: the independent verifier accepted it: {py_err}");
        assert_eq!(ours.status.code(), Some(1), "{what}: pledger accepted it: {our_err}");
        assert_eq!(py_err.trim_end().lines().count(), 1, "{what}: {py_err}");
        assert_eq!(our_err.trim_end().lines().count(), 1, "{what}: {our_err}");
    }
}

/// tools/verify_bundle.py, if a python3 with its libraries is at hand (else said to be
/// unavailable, which `.ci/run` makes a failure).
fn python_verifier() -> Option<std::path::PathBuf> {
    let ok =
        Command::new("python3").args(["-c", "import blake3, cryptography"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        crate::common::unavailable("python3 with blake3 and cryptography (pip install blake3 cryptography)");
        return None;
    }
    Some(repo().join("tools/verify_bundle.py"))
}

/// The demo's ledger exported to b.jsonl in `env`; its log verifier key.
fn demo_bundle(env: &Env) -> String {
    let dir = env.path("demo");
    let ledger = dir.to_str().unwrap();
    env.ok(&["--ledger", ledger, "demo"]);
    env.ok(&["--ledger", ledger, "export", "b.jsonl"]);
    env.ok(&["--ledger", ledger, "checkpoint", "--vkey"])
}
