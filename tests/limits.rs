//! Hostile sizes and numbers: each refused in one line, the ledger unchanged, nothing panics.

use crate::common::{pledge_with, Env};

#[test]
fn oversized_and_overflowing_input_is_refused() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000");
    // A 10 MB title in a hand-written event, and a 10 MB envelope line.
    let title = "x".repeat(10 * 1024 * 1024);
    env.write("big-event.json", &format!(r#"{{"kind":"pledge","body":{{"title":"{title}"}}}}"#));
    let out = env.run(&["--key", "psi.key", "--as", "psi", "sign", "big-event.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("larger than")
            || String::from_utf8_lossy(&out.stderr).contains("bytes, more than")
    );
    let big = env.write("big.jsonl", &format!("{{\"payloadType\":\"x\",\"payload\":\"{title}\",\"signatures\":[]}}\n"));
    env.refused(&["submit", big.to_str().unwrap()], 1, "a line longer than 1048576 bytes");
    // A title just over its limit, through the command line.
    let long_title = "t".repeat(301);
    env.refused(&pledge_with("psi.key", &[("--title", &long_title)]), 2, "bad title");
    // Deeply nested JSON.
    let nested = env.write("nested.jsonl", &format!("{}\n", "[".repeat(100_000)));
    env.refused(&["submit", nested.to_str().unwrap()], 1, "malformed envelope");
    env.write("nested-event.json", &format!("{{\"kind\":\"pledge\",\"body\":{}}}", "[".repeat(100_000)));
    let out = env.run(&["--key", "psi.key", "--as", "psi", "sign", "nested-event.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end().lines().count(), 1);
    // A 10,000-digit amount, negative and zero amounts.
    let huge = "9".repeat(10_000);
    for amount in [huge.as_str(), "-1", "0", "0.00"] {
        env.refused(&pledge_with("psi.key", &[("--amount", amount), ("--currency", "USD")]), 2, "bad amount");
    }
    env.write("huge-minor.json", &format!(
        r#"{{"kind":"fulfillment","effective":"2014-06-01","body":{{"pledge":"P-000001","amount":{{"minor":{huge},"currency":"XOF"}}}}}}"#));
    let out = env.run(&["--key", "psi.key", "--as", "psi", "sign", "huge-minor.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    // Sums that would overflow 2^53: an increase that would take the words past it.
    env.ok(&pledge_with(
        "psi.key",
        &[("--amount", "9007199254740990"), ("--title", "Nearly everything"), ("--date", "2014-01-01")],
    ));
    env.refused(&["--key", "psi.key", "amend", "P-000002", "--increase", "5", "--date", "2014-02-01"], 1, "overflows");
}

#[test]
fn private_key_bytes_never_appear_in_any_output() {
    use base64::Engine as _;
    let env = Env::founded();
    let secret = pledger_log::keys::read_private(&env.path("psi.key")).unwrap().to_bytes();
    let pem = std::fs::read_to_string(env.path("psi.key")).unwrap();
    let pem_body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let needles = [
        base64::engine::general_purpose::STANDARD.encode(secret),
        secret.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        pem_body,
    ];
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let mut sign_only = pledge_with("psi.key", &[]);
    sign_only.push("--sign-only".into());
    let runs: Vec<Vec<String>> = vec![
        owned(&["keygen", "another.key"]),
        pledge_with("psi.key", &[]),
        sign_only,
        owned(&["--key", "psi.key", "checkpoint"]),
        owned(&["--key", "psi.key", "fulfill", "P-000042", "--amount", "1", "--date", "2014-01-01"]),
        owned(&["members", "--format", "json"]),
        owned(&["log", "--format", "json"]),
    ];
    let mut outputs = Vec::new();
    for args in &runs {
        let out = env.run(args);
        outputs.push(String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr));
    }
    let all = outputs.join("\n");
    assert!(all.contains("P-000002") || all.contains("P-000001"), "the commands ran");
    for n in &needles {
        assert!(!all.contains(n.as_str()), "a private key appeared in the output");
    }
}

/// Every file of input is read through a bound, whatever its metadata says: devices and FIFOs
/// report a length of 0. Under an address-space limit that a read to the end would break, each
/// is refused in one line, promptly, and the ledger is left as it was.
#[test]
fn every_input_is_read_through_a_bound() {
    let env = Env::founded();
    let id = env.pledge_xof("psi", "1000");
    let pledger = crate::common::bin();
    let limited = |args: &str, stdin: Option<&str>| {
        let feed = stdin.map(|s| format!("{s} | ")).unwrap_or_default();
        let script = format!("ulimit -v 800000 && {feed}exec '{}' {args}", pledger.display());
        let mut c = std::process::Command::new("timeout");
        c.args(["60", "sh", "-c", &script]).current_dir(env.dir.path()).env("PLEDGER_LEDGER", &env.ledger);
        c.output().unwrap()
    };
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("submit /dev/zero".into(), None, "/dev/zero:1: a line longer than 1048576 bytes"),
        ("submit -".into(), Some("head -c 300000000 /dev/zero | tr '\\0' x"), "-:1: a line longer than 1048576 bytes"),
        (
            "--key dns.key --origin o.example init --org a --name A --areas /dev/zero".into(),
            None,
            "an areas file is larger than",
        ),
        ("--key dns.key member add x --name X --kind donor --pubkey /dev/zero".into(), None, "not a regular file"),
        ("--key dns.key key add dns --pubkey /dev/urandom".into(), None, "not a regular file"),
        ("--key psi.key sign /dev/zero".into(), None, "an event file is larger than the 1048576 bytes allowed"),
        ("verify --checkpoint /dev/zero".into(), None, "a checkpoint is larger than the 65536 bytes allowed"),
        (
            "verify --proof /dev/zero --log-key dns.key.pub".into(),
            None,
            "a proof is larger than the 262144 bytes allowed",
        ),
        ("checkpoint --add /dev/zero".into(), None, "a checkpoint is larger than the 65536 bytes allowed"),
        ("--key dns.key import iati /dev/zero".into(), None, "an IATI file is larger than the 67108864 bytes allowed"),
        (
            format!("--key psi.key fulfill {id} --amount 1 --date 2014-05-01 --evidence /dev/zero"),
            None,
            "evidence is larger than the 1 GiB allowed",
        ),
    ];
    let before = env.state();
    for (args, stdin, needle) in cases {
        let out = limited(&args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args}: {err}");
        assert!(err.contains(needle), "{args}: {err:?} lacks {needle:?}");
    }
    assert_eq!(env.state(), before);
}
