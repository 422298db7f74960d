//! End-to-end: checkpoints, full verification, proofs, bundles and witnesses, through the
//! binary — and every kind of tampering detected, with the entry named where one can be.

use std::process::Command;

use crate::common::{behind_the_back, open_directly, Env, ORIGIN};
use serde_json::Value;

/// A founded ledger with a few events and a checkpoint kept at size 12 and at the head.
fn ledger_with_checkpoints() -> Env {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "400000", "--date", "2014-06-01"]);
    std::fs::write(env.path("cp12.txt"), env.ok(&["--key", "dns.key", "checkpoint"]) + "\n").unwrap();
    env.ok(&["--key", "dns.key", "attest", "F-000001", "--confirm", "--date", "2014-06-10"]);
    env.pledge_xof("measure", "250000");
    env.ok(&[
        "--key", "psi.key", "withdraw", "P-000001", "--amount", "100000", "--reason", "cut", "--date", "2014-08-01",
    ]);
    std::fs::write(env.path("cp.txt"), env.ok(&["--key", "dns.key", "checkpoint"]) + "\n").unwrap();
    env
}

fn fails(env: &Env, args: &[&str], needle: &str) {
    let out = env.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
}

#[test]
fn checkpoints_are_signed_notes_by_the_log_key_only() {
    let env = ledger_with_checkpoints();
    let cp = std::fs::read_to_string(env.path("cp.txt")).unwrap();
    let lines: Vec<&str> = cp.lines().collect();
    assert_eq!(lines[0], ORIGIN);
    assert_eq!(lines[1], "15");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with(&format!("\u{2014} {ORIGIN} ")));
    // Asking again at the same size gives the kept checkpoint, unchanged.
    assert_eq!(env.ok(&["checkpoint"]) + "\n", cp);
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    assert!(vkey.starts_with(&format!("{ORIGIN}+")));
    // Only the log key signs.
    env.pledge_xof("psi", "5");
    fails(&env, &["--key", "psi.key", "checkpoint"], "is not this ledger's log key");
    let out = env.ok(&["verify"]);
    assert!(out.contains("verified 16 entries"), "{out}");
    assert!(out.contains("checkpoint of size 12 signed by the log key: matches the entries"), "{out}");
}

#[test]
fn verify_checks_the_auditors_own_checkpoints_and_trusted_key() {
    let env = ledger_with_checkpoints();
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    let out = env.ok(&["verify", "--checkpoint", "cp12.txt", "--log-key", &vkey]);
    assert!(out.contains("your checkpoint of size 12 (cp12.txt): consistent"), "{out}");
    env.ok(&["verify", "--log-key", "dns.key.pub"]);
    fails(&env, &["verify", "--log-key", "psi.key.pub"], "the key you trust");
    // A checkpoint whose text was altered no longer verifies.
    let cp = std::fs::read_to_string(env.path("cp12.txt")).unwrap();
    env.write("altered.txt", &cp.replacen("\n12\n", "\n11\n", 1));
    fails(&env, &["verify", "--checkpoint", "altered.txt"], "does not verify");
    // A checkpoint signed by another key is refused.
    env.write("other-key.txt", &sign_with(&env, "psi.key", &cp));
    fails(&env, &["verify", "--checkpoint", "other-key.txt"], "not signed by the log key");
    // A checkpoint from the future (the ledger was cut back) is refused.
    let cp15 = std::fs::read_to_string(env.path("cp.txt")).unwrap();
    let ahead = cp15.replacen("\n15\n", "\n99\n", 1);
    env.write("ahead.txt", &ahead);
    fails(&env, &["verify", "--checkpoint", "ahead.txt"], "ahead of the ledger");
}

/// Re-signs a checkpoint's text with another key, as a note under the ledger's name.
fn sign_with(env: &Env, key: &str, note: &str) -> String {
    let text = &note[..note.find("\n\n").unwrap() + 1];
    let key = pledger_log::keys::read_private(&env.path(key)).unwrap();
    pledger_log::note::Note::sign(text, ORIGIN, &key).unwrap().to_text()
}

/// A bundle's lines with its checkpoints signed again by the log key (`dns.key`) over the roots
/// of its entries as they now stand — what an operator could do after changing an entry.
fn recheckpointed(env: &Env, mut lines: Vec<String>) -> Vec<String> {
    let mut tree = pledger_log::merkle::Frontier::default();
    let mut roots = std::collections::BTreeMap::new();
    for (i, l) in lines[1..lines.len() - 1].iter().enumerate() {
        tree.push::<pledger_log::merkle::Blake3>(pledger_log::merkle::leaf_hash(l.as_bytes()));
        roots.insert(i + 1, base64_encode(&tree.root::<pledger_log::merkle::Blake3>()));
    }
    let mut header: Value = serde_json::from_str(&lines[0]).unwrap();
    for cp in header["checkpoints"].as_array_mut().unwrap() {
        let text = cp.as_str().unwrap().to_owned();
        let mut body: Vec<&str> = text.lines().take(3).collect();
        let root = &roots[&body[1].parse::<usize>().unwrap()];
        body[2] = root;
        *cp = Value::String(sign_with(env, "dns.key", &format!("{}\n\n", body.join("\n"))));
    }
    lines[0] = header.to_string();
    lines
}

#[test]
fn proofs_verify_offline_and_mutations_fail() {
    let env = ledger_with_checkpoints();
    let vkey = env.ok(&["checkpoint", "--vkey"]);
    env.write("inc.json", &env.ok(&["prove", "inclusion", "F-000001"]));
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER")
        .args(["verify", "--proof", "inc.json", "--checkpoint", "cp.txt", "--log-key", &vkey]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 11 is in the tree of size 15"));
    env.write("cons.json", &env.ok(&["prove", "consistency", "12"]));
    env.ok(&[
        "verify", "--proof", "cons.json", "--checkpoint", "cp12.txt", "--checkpoint", "cp.txt", "--log-key", &vkey,
    ]);
    // A flipped bit in a hash, a dropped hash, the wrong entry, the wrong checkpoint.
    let inc: Value = serde_json::from_str(&std::fs::read_to_string(env.path("inc.json")).unwrap()).unwrap();
    let mut flipped = inc.clone();
    let h = flipped["inclusion"]["path"][0].as_str().unwrap().to_owned();
    let mut chars: Vec<char> = h.chars().collect();
    chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
    flipped["inclusion"]["path"][0] = Value::String(chars.into_iter().collect());
    env.write("flipped.json", &flipped.to_string());
    fails(
        &env,
        &["verify", "--proof", "flipped.json", "--checkpoint", "cp.txt", "--log-key", &vkey],
        "is not in the tree",
    );
    let mut dropped = inc.clone();
    dropped["inclusion"]["path"].as_array_mut().unwrap().pop();
    env.write("dropped.json", &dropped.to_string());
    fails(
        &env,
        &["verify", "--proof", "dropped.json", "--checkpoint", "cp.txt", "--log-key", &vkey],
        "is not in the tree",
    );
    fails(
        &env,
        &["verify", "--proof", "inc.json", "--checkpoint", "cp12.txt", "--log-key", &vkey],
        "size 15, checkpoint for size 12",
    );
    let cons: Value = serde_json::from_str(&std::fs::read_to_string(env.path("cons.json")).unwrap()).unwrap();
    let mut bad = cons.clone();
    bad["consistency"]["path"].as_array_mut().unwrap().push(Value::String(h));
    env.write("bad-cons.json", &bad.to_string());
    fails(
        &env,
        &[
            "verify", "--proof", "bad-cons.json", "--checkpoint", "cp12.txt", "--checkpoint", "cp.txt", "--log-key",
            &vkey,
        ],
        "history was rewritten or forked",
    );
    env.write("junk.json", "{\"inclusion\": 5}");
    fails(&env, &["verify", "--proof", "junk.json", "--checkpoint", "cp.txt", "--log-key", &vkey], "bad proof");
}

/// The bundle's lines: header, entries, keys.
fn bundle_lines(env: &Env) -> Vec<String> {
    env.ok(&["export", "b.jsonl"]);
    std::fs::read_to_string(env.path("b.jsonl")).unwrap().lines().map(str::to_owned).collect()
}

fn verify_bundle(env: &Env, lines: &[String], needle: &str) {
    let mut text = lines.join("\n");
    text.push('\n');
    env.write("t.jsonl", &text);
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "t.jsonl"]);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{needle}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

#[test]
fn bundles_verify_offline_and_tampering_names_the_entry() {
    let env = ledger_with_checkpoints();
    let lines = bundle_lines(&env);
    assert_eq!(lines.len(), 1 + 15 + 1);
    let header: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(header["bundle"], "pledger-bundle/v1");
    assert_eq!(header["checkpoints"].as_array().unwrap().len(), 2);
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "b.jsonl", "--checkpoint", "cp12.txt"]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Entry k of the log is line k+1 of the bundle.
    let mut dropped = lines.clone();
    dropped.remove(1 + 7);
    verify_bundle(&env, &dropped, "entry 7: malformed entry: it is numbered 8 but stands at position 7");
    let mut swapped = lines.clone();
    swapped.swap(1 + 9, 1 + 10);
    verify_bundle(&env, &swapped, "entry 9:");
    // An altered event: its signature no longer verifies.
    let mut altered = lines.clone();
    let mut e: Value = serde_json::from_str(&altered[1 + 10]).unwrap();
    let payload = e["envelope"]["payload"].as_str().unwrap().to_owned();
    let mut bytes = base64_decode(&payload);
    let pos = bytes.windows(7).position(|w| w == b"1000000").unwrap();
    bytes[pos] = b'9';
    e["envelope"]["payload"] = Value::String(base64_encode(&bytes));
    altered[1 + 10] = e.to_string();
    verify_bundle(&env, &altered, "entry 10: bad signature");
    // A recording time moved back breaks the rule that they never decrease.
    let mut retimed = lines.clone();
    retimed[1 + 11] = retimed[1 + 11].replacen("\"recorded\":\"2", "\"recorded\":\"1", 1);
    verify_bundle(&env, &retimed, "entry 11: recording time 1");
    // Moved within the rules (to the previous entry's time), it is caught by the tree: the
    // recording time is bound by the checkpoint, not by the member's signature.
    let recorded = |l: &str| serde_json::from_str::<Value>(l).unwrap()["recorded"].as_str().unwrap().to_owned();
    let (t9, t10) = (recorded(&lines[1 + 9]), recorded(&lines[1 + 10]));
    assert_ne!(t9, t10, "entries 9 and 10 were recorded at different milliseconds");
    let mut shifted = lines.clone();
    shifted[1 + 10] = shifted[1 + 10].replacen(&t10, &t9, 1);
    verify_bundle(
        &env,
        &shifted,
        "do not hash to the root of the checkpoint of size 12: an entry before it was altered",
    );
    // Cut short, and with an entry too many.
    verify_bundle(
        &env,
        &lines[..1 + 13],
        "cut short: it promises 15 entries and holds 13; entry 13 is the first missing",
    );
    // A header promising far more than it holds, its checkpoint's size edited to match: the
    // audit reserves room for a bounded number of entries only, and names what is missing.
    let mut h = header.clone();
    h["size"] = Value::from(1_000_000_000_000_000u64);
    let cp = h["checkpoints"][1].as_str().unwrap().replacen("\n15\n", "\n1000000000000000\n", 1);
    h["checkpoints"][1] = Value::String(cp);
    let mut promising = lines.clone();
    promising[0] = h.to_string();
    verify_bundle(&env, &promising, "the bundle is cut short: it promises 1000000000000000 entries");
    let mut extra = lines.clone();
    extra.insert(16, lines[15].clone());
    verify_bundle(&env, &extra, "holds more entries than it says");
    // A checkpoint altered, or signed by another key.
    let mut h = header.clone();
    let cp = h["checkpoints"][1].as_str().unwrap().replacen("\n15\n", "\n14\n", 1);
    h["checkpoints"][1] = Value::String(cp);
    let mut bad_cp = lines.clone();
    bad_cp[0] = h.to_string();
    verify_bundle(&env, &bad_cp, "no checkpoint of its size 15");
    let mut h = header.clone();
    h["checkpoints"][1] = Value::String(sign_with(&env, "psi.key", header["checkpoints"][1].as_str().unwrap()));
    let mut foreign = lines.clone();
    foreign[0] = h.to_string();
    verify_bundle(&env, &foreign, "checkpoint of size 15: the checkpoint is not signed by the log key");
    // Checkpoints are listed oldest first, each once.
    let listed = |cps: Vec<Value>| {
        let mut h = header.clone();
        h["checkpoints"] = Value::Array(cps);
        let mut l = lines.clone();
        l[0] = h.to_string();
        l
    };
    let (c12, c15) = (header["checkpoints"][0].clone(), header["checkpoints"][1].clone());
    verify_bundle(&env, &listed(vec![c12.clone(), c12.clone(), c15.clone()]), "out of order: size 12 after size 12");
    verify_bundle(&env, &listed(vec![c15.clone(), c12.clone(), c15.clone()]), "out of order: size 12 after size 15");
    // The key list must be the keys the entries record.
    let mut keys = lines.clone();
    keys[16] = keys[16].replacen("\"added\":0", "\"added\":1", 1);
    verify_bundle(&env, &keys, "key list differs");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn a_fork_is_detected_against_an_auditors_checkpoint_and_a_witness() {
    // Two ledgers with the same origin and log key, the same size, one entry different.
    let env = Env::founded();
    let fork = Env::new();
    for k in crate::common::MEMBERS {
        for ext in ["key", "key.pub"] {
            std::fs::copy(env.path(&format!("{k}.{ext}")), fork.path(&format!("{k}.{ext}"))).unwrap();
        }
    }
    fork.found();
    env.pledge_xof("psi", "1000000");
    fork.pledge_xof("psi", "9000000");
    let cp = env.ok(&["--key", "dns.key", "checkpoint"]) + "\n";
    let fork_cp = fork.ok(&["--key", "dns.key", "checkpoint"]) + "\n";
    assert_eq!(cp.lines().nth(1), fork_cp.lines().nth(1), "same size");
    assert_ne!(cp.lines().nth(2), fork_cp.lines().nth(2), "different roots");
    std::fs::write(fork.path("auditor-cp.txt"), &cp).unwrap();
    fork.ok(&["verify"]);
    let out = fork.run(&["verify", "--checkpoint", "auditor-cp.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("history was rewritten or forked"));

    // A witness cosigns the original, then refuses the fork of the same size and a fork that grew.
    let w = env.keygen("w.key");
    assert_eq!(w.len(), 32);
    std::fs::copy(env.path("w.key"), fork.path("w.key")).unwrap();
    let state = env.path("witness-state");
    env.write("cp.txt", &cp);
    let cosigned = env.ok(&[
        "--key",
        "w.key",
        "witness",
        "cosign",
        "cp.txt",
        "--state",
        state.to_str().unwrap(),
        "--name",
        "w.example",
    ]);
    assert!(cosigned.contains("\u{2014} w.example "));
    let cosign = |file: &str| {
        ["--key", "w.key", "witness", "cosign", file, "--state", state.to_str().unwrap(), "--name", "w.example"]
            .map(str::to_owned)
    };
    fork.write("fork-cp.txt", &fork_cp);
    let out = fork.run(&cosign("fork-cp.txt"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a fork"), "{}", String::from_utf8_lossy(&out.stderr));
    fork.pledge_xof("psi", "7");
    let grown = fork.ok(&["--key", "dns.key", "checkpoint"]) + "\n";
    fork.write("grown.txt", &grown);
    let out = fork.run(&cosign("grown.txt"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not consistent with the one cosigned"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn witness_cosignatures_are_kept_and_required_on_demand() {
    let env = ledger_with_checkpoints();
    env.keygen("w.key");
    let wvkey = env.ok(&["--key", "w.key", "witness", "vkey", "--name", "w.example"]);
    let state = env.path("ws");
    let s = state.to_str().unwrap();
    env.ok(&[
        "--key", "w.key", "witness", "cosign", "cp12.txt", "--state", s, "--name", "w.example", "--log-key",
        "dns.key.pub",
    ]);
    // The next, from the ledger, with a consistency proof from size 12 to 15.
    let cosigned = env.ok(&["--key", "w.key", "witness", "cosign", "cp.txt", "--state", s, "--name", "w.example"]);
    env.write("cosigned.txt", &(cosigned + "\n"));
    fails(&env, &["verify", "--witness", &wvkey], "has no cosignature by witness w.example");
    env.ok(&["checkpoint", "--add", "cosigned.txt"]);
    let out = env.ok(&["verify", "--witness", &wvkey]);
    assert!(out.contains("witness w.example cosigned the checkpoint of size 15"), "{out}");
    // The bundle carries the cosignature too.
    env.ok(&["export", "b.jsonl"]);
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "b.jsonl", "--witness", &wvkey]);
    assert!(c.output().unwrap().status.success());
    // A witness never goes back.
    fails(
        &env,
        &["--key", "w.key", "witness", "cosign", "cp12.txt", "--state", s, "--name", "w.example"],
        "older than the one last cosigned",
    );
    // From a bundle instead of the ledger.
    env.pledge_xof("psi", "3");
    env.write("cp16.txt", &(env.ok(&["--key", "dns.key", "checkpoint"]) + "\n"));
    env.ok(&["export", "b16.jsonl"]);
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args([
        "--key", "w.key", "witness", "cosign", "cp16.txt", "--state", s, "--name", "w.example", "--bundle", "b16.jsonl",
    ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn export_needs_a_checkpoint_of_the_head() {
    let env = Env::founded();
    fails(&env, &["export", "b.jsonl"], "no checkpoint of the ledger's head");
    assert!(!env.path("b.jsonl").exists());
}

/// A change made to the store directly.
type Alteration<'a> = Box<dyn Fn(&sled::Db) + 'a>;

#[test]
fn stored_records_and_tree_nodes_altered_behind_pledgers_back_are_named_and_rebuilt() {
    use pledger_core::state::{FulfillmentRecord, PledgeRecord};
    let env = crate::common::demo();
    env.ok(&["verify"]);
    let key = |prefix: u8, n: u64| [&[prefix][..], &n.to_be_bytes()].concat();
    let cases: [(&str, Alteration<'_>); 12] = [
        (
            "the stored pledge P-000003 differs from the entries",
            Box::new(|db: &sled::Db| {
                let mut p: PledgeRecord = postcard::from_bytes(&db.get(key(b'p', 3)).unwrap().unwrap()).unwrap();
                p.confirmed += 1;
                db.insert(key(b'p', 3), postcard::to_allocvec(&p).unwrap()).unwrap();
            }),
        ),
        (
            // Reads back as the same record, but is not what pledger writes: verify compares
            // bytes, as rebuild does, so the two agree on what differs.
            "the stored pledge P-000004 differs from the entries",
            Box::new(|db: &sled::Db| {
                let stored = db.get(key(b'p', 4)).unwrap().unwrap().to_vec();
                let p: PledgeRecord = postcard::from_bytes(&stored).unwrap();
                let padded = [stored, vec![0]].concat();
                assert_eq!(
                    postcard::from_bytes::<PledgeRecord>(&padded).unwrap(),
                    p,
                    "postcard ignores the extra byte"
                );
                db.insert(key(b'p', 4), padded).unwrap();
            }),
        ),
        (
            "the stored fulfillment F-000002 differs from the entries",
            Box::new(|db: &sled::Db| {
                let mut f: FulfillmentRecord = postcard::from_bytes(&db.get(key(b'f', 2)).unwrap().unwrap()).unwrap();
                f.verdicts.clear();
                db.insert(key(b'f', 2), postcard::to_allocvec(&f).unwrap()).unwrap();
            }),
        ),
        (
            "the stored tree node (4, 1) differs",
            Box::new(|db: &sled::Db| {
                let node = [&[b'n', 4][..], &1u64.to_be_bytes()].concat();
                assert!(db.get(&node).unwrap().is_some(), "the demo has more than 32 entries");
                db.insert(node, [0u8; 32].as_slice()).unwrap();
            }),
        ),
        (
            "the stored scorecard tally of ",
            Box::new(|db: &sled::Db| {
                let (k, v) = db.scan_prefix(b"t").next().unwrap().unwrap();
                let mut bytes = v.to_vec();
                // The first field, the member's count of pledges, is a varint: one more.
                bytes[0] += 1;
                db.insert(k, bytes).unwrap();
            }),
        ),
        (
            "the store lacks the timeline tally of 2014-04 the entries call for",
            Box::new(|db: &sled::Db| {
                assert!(db.remove(b"M2014-04").unwrap().is_some(), "the demo did something in April 2014");
            }),
        ),
        (
            // A record no entry made: `show` would print it, `status` would count it.
            "the store holds pledge P-000999, which the entries do not call for",
            Box::new(|db: &sled::Db| {
                let mut p: PledgeRecord = postcard::from_bytes(&db.get(key(b'p', 3)).unwrap().unwrap()).unwrap();
                p.id = pledger_core::PledgeId(999);
                db.insert(key(b'p', 999), postcard::to_allocvec(&p).unwrap()).unwrap();
            }),
        ),
        (
            // The index that refuses an event submitted twice.
            "the store lacks the index of event ",
            Box::new(|db: &sled::Db| {
                let (k, _) = db.scan_prefix(b"i").next().unwrap().unwrap();
                db.remove(k).unwrap();
            }),
        ),
        (
            // What `show A-000001` finds the attestation by.
            "the stored entry number of A-000001 differs from the entries",
            Box::new(|db: &sled::Db| {
                let k = [&b"sA"[..], &1u64.to_be_bytes()].concat();
                let seq: u64 = postcard::from_bytes(&db.get(&k).unwrap().unwrap()).unwrap();
                db.insert(k, postcard::to_allocvec(&(seq + 1)).unwrap()).unwrap();
            }),
        ),
        (
            // What `status --org` reads a member's pledges by.
            "the store holds member index entry of unicef for P-000001, which the entries do not call for",
            Box::new(|db: &sled::Db| {
                let p: PledgeRecord = postcard::from_bytes(&db.get(key(b'p', 1)).unwrap().unwrap()).unwrap();
                assert!(p.pledger.as_str() != "unicef" && p.beneficiary.as_str() != "unicef", "{p:?}");
                db.insert([&b"ounicef\0"[..], &1u64.to_be_bytes()].concat(), b"".as_slice()).unwrap();
            }),
        ),
        (
            // Read as an earlier layout, the tallies would be set aside unseen.
            "the store holds the tallies mark \"x\", a value pledger never writes",
            Box::new(|db: &sled::Db| {
                db.insert(b"T", b"x".as_slice()).unwrap();
            }),
        ),
        (
            // Nothing reads it; nothing pledger writes looks like it.
            "the store holds key 5a6a756e6b, under no prefix pledger writes",
            Box::new(|db: &sled::Db| {
                db.insert(b"Zjunk", b"x".as_slice()).unwrap();
            }),
        ),
    ];
    for (needle, change) in cases {
        let before = env.ok(&["status", "--format", "json"]);
        let card = env.ok(&["scorecard", "--format", "json"]);
        let months = env.ok(&["timeline", "--format", "json"]);
        behind_the_back(&env, change);
        fails(&env, &["verify"], needle);
        env.ok(&["rebuild"]);
        env.ok(&["verify"]);
        assert_eq!(env.ok(&["status", "--format", "json"]), before, "{needle}");
        assert_eq!(env.ok(&["scorecard", "--format", "json"]), card, "{needle}");
        assert_eq!(env.ok(&["timeline", "--format", "json"]), months, "{needle}");
    }
}

#[test]
fn the_scorecard_and_coverage_from_tallies_equal_those_from_every_pledge() {
    let env = crate::common::demo();
    let queries: Vec<Vec<&str>> = ["json", "table", "csv"]
        .into_iter()
        .flat_map(|f| {
            [
                vec!["scorecard", "--format", f],
                vec!["scorecard", "--org", "dns", "--format", f],
                vec!["scorecard", "--org", "usaid", "--format", f],
                vec!["coverage", "--format", f],
                vec!["coverage", "--org", "unicef", "--format", f],
                vec!["coverage", "--area", "ML-3", "--format", f],
                vec!["timeline", "--format", f],
            ]
        })
        .collect();
    let answers = |env: &crate::common::Env| -> Vec<String> { queries.iter().map(|q| env.ok(q)).collect() };
    let tallied = answers(&env);
    assert!(tallied[0].contains("\"follow_through_ppm\""), "{}", tallied[0]);
    // The ledger as pledger made it before it kept tallies: every pledge is read instead.
    behind_the_back(&env, |db| {
        db.remove(b"T").unwrap();
        for prefix in [b't', b'l', b'd', b'w', b'W', b'M', b'F'] {
            for k in db.scan_prefix([prefix]).keys() {
                db.remove(k.unwrap()).unwrap();
            }
        }
    });
    let from_pledges = answers(&env);
    for ((q, a), b) in queries.iter().zip(&tallied).zip(&from_pledges) {
        assert_eq!(a, b, "{q:?}");
    }
    // Sound, and said so: the auditor learns how the queries are answered.
    assert!(env.ok(&["verify"]).contains("this store keeps no tallies"));
    env.ok(&["rebuild"]);
    assert!(!env.ok(&["verify"]).contains("keeps no tallies"));
    assert_eq!(answers(&env), tallied);
}

#[test]
fn tallies_of_an_earlier_layout_are_set_aside_and_rewritten_by_rebuild() {
    let env = crate::common::demo();
    let queries: [&[&str]; 3] =
        [&["coverage", "--format", "json"], &["coverage", "--org", "unicef", "--format", "csv"], &["scorecard"]];
    let answers = |env: &crate::common::Env| -> Vec<String> { queries.iter().map(|q| env.ok(q)).collect() };
    let before = answers(&env);
    // As the first layout left them: mark `1`, each coverage cell two lists of member ids, the
    // members, fulfillments and pledges without their last lists (IATI organisations,
    // reversals, tranches: one zero byte each).
    behind_the_back(&env, |db| {
        db.insert(b"v", b"pledger-ledger-1".as_slice()).unwrap();
        for prefix in [b"m", b"f", b"p"] {
            let records: Vec<_> = db.scan_prefix(prefix).map(|kv| kv.unwrap()).collect();
            for (k, v) in records {
                assert_eq!(v.last(), Some(&0));
                db.insert(k, &v[..v.len() - 1]).unwrap();
            }
        }
        db.insert(b"T", b"1".as_slice()).unwrap();
        let cells: Vec<_> = db.scan_prefix(b"W").keys().map(|k| k.unwrap()).collect();
        for k in cells {
            db.insert(k, postcard::to_allocvec(&(vec!["unicef"], Vec::<&str>::new())).unwrap()).unwrap();
        }
    });
    // Read from every pledge instead, the answers are the same…
    assert_eq!(answers(&env), before);
    // …and the auditor is told why, and how to mend it.
    let report = env.ok(&["verify"]);
    assert!(report.contains("tallies are of an earlier layout"), "{report}");
    env.ok(&["rebuild"]);
    let report = env.ok(&["verify"]);
    assert!(!report.contains("earlier layout") && report.starts_with("verified"), "{report}");
    assert_eq!(answers(&env), before);
    // Rebuilt, it carries this version's mark: an older pledger refuses it as a format it does
    // not know, rather than misreading its coverage cells.
    let db = open_directly(&env);
    assert_eq!(db.get(b"v").unwrap().unwrap().as_ref(), b"pledger-ledger-3");
}

#[test]
fn a_coverage_cell_altered_behind_pledgers_back_is_refused_in_one_line_and_rebuilt() {
    let env = crate::common::demo();
    let before = env.ok(&["coverage", "--format", "json"]);
    let cells: Vec<sled::IVec> = {
        let db = open_directly(&env);
        db.scan_prefix(b"W").keys().map(|k| k.unwrap()).collect()
    };
    assert!(cells.len() > 3, "{} cells", cells.len());
    // Bits naming a member beyond those admitted; a trailing zero byte; not a cell at all; and
    // a member moved from one cell to another (well formed, but not what the entries say).
    let beyond = postcard::to_allocvec(&(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 1], Vec::<u8>::new())).unwrap();
    let trailing = postcard::to_allocvec(&(vec![1u8, 0], Vec::<u8>::new())).unwrap();
    let moved = postcard::to_allocvec(&(vec![0b10u8], Vec::<u8>::new())).unwrap();
    // `coverage` says what is wrong with the cell; `verify`, comparing the bytes pledger would
    // have written, which cell differs.
    for (value, coverage_says) in [
        (beyond, Some("a bit beyond the members admitted")),
        (trailing, Some("a trailing zero byte")),
        (b"\xff\xff".to_vec(), Some("is unreadable")),
        (moved, None),
    ] {
        let k = cells[1].clone();
        // The cell is named: `W` ‖ area ‖ 0 ‖ category.
        let name = String::from_utf8_lossy(&k[1..]).replace('\0', " / ");
        behind_the_back(&env, |db| {
            db.insert(k, value).unwrap();
        });
        match coverage_says {
            Some(needle) => {
                fails(&env, &["coverage", "--format", "json"], needle);
                fails(&env, &["coverage", "--format", "json"], &format!("the stored coverage cell {name} "));
            }
            None => assert_ne!(env.ok(&["coverage", "--format", "json"]), before, "the altered cell was not read"),
        }
        fails(&env, &["verify"], &format!("the stored coverage cell {name} differs from the entries"));
        env.ok(&["rebuild"]);
        assert_eq!(env.ok(&["coverage", "--format", "json"]), before);
        assert!(env.ok(&["verify"]).starts_with("verified"));
    }
}

#[test]
fn tallies_left_without_their_mark_are_named_by_verify() {
    let env = crate::common::demo();
    let before = env.ok(&["scorecard", "--format", "json"]);
    behind_the_back(&env, |db| {
        db.remove(b"T").unwrap();
    });
    // Queries ignore tallies without the mark, so they still answer right…
    assert_eq!(env.ok(&["scorecard", "--format", "json"]), before);
    // …but the store is not as pledger leaves it.
    fails(&env, &["verify"], "the store holds tallies without the mark that they are kept");
    env.ok(&["rebuild"]);
    assert!(env.ok(&["verify"]).starts_with("verified"));
}

#[test]
fn absurd_stored_tallies_are_answered_without_a_panic_and_named_by_verify() {
    use pledger_core::tally::MemberTally;
    let env = crate::common::demo();
    behind_the_back(&env, |db| {
        let (k, v) = db.scan_prefix(b"t").next().unwrap().unwrap();
        let mut t: MemberTally = postcard::from_bytes(&v).unwrap();
        t.fulfilled = u64::MAX;
        t.unsettled = u64::MAX;
        t.pledges = u64::MAX;
        t.follow_through = u128::MAX;
        db.insert(k, postcard::to_allocvec(&t).unwrap()).unwrap();
        let (k, _) = db.scan_prefix(b"M").next().unwrap().unwrap();
        let months: std::collections::BTreeMap<pledger_core::Unit, pledger_core::tally::MonthSums> = [(
            pledger_core::Unit::currency("XOF").unwrap(),
            pledger_core::tally::MonthSums {
                words: u128::MAX,
                confirmed: u128::MAX,
                withdrawn: u128::MAX,
                due: u128::MAX,
            },
        )]
        .into_iter()
        .collect();
        db.insert(k, postcard::to_allocvec(&months).unwrap()).unwrap();
    });
    for q in [["scorecard", "--format", "json"], ["timeline", "--format", "json"], ["scorecard", "--format", "table"]] {
        env.ok(&q);
    }
    fails(&env, &["verify"], "the stored scorecard tally of ");
    env.ok(&["rebuild"]);
    env.ok(&["verify"]);
}

/// A signature by `key` over `msg` whose `R` carries the curve's point of order 2: made by the
/// key's own holder, refused by strict verification (a random batch would pass it one time in
/// two).
fn torsioned_signature(key: &ed25519_dalek::SigningKey, msg: &[u8], nonce: u64) -> Vec<u8> {
    use curve25519_dalek::{constants::ED25519_BASEPOINT_POINT as B, edwards::CompressedEdwardsY, scalar::Scalar};
    use sha2::{Digest, Sha512};
    let h = Sha512::digest(key.as_bytes());
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let public = key.verifying_key();
    assert_eq!((a * B).compress().to_bytes(), public.to_bytes());
    let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(nonce.to_le_bytes()).into());
    // (0, -1): y = p - 1.
    let mut order_two = [0xff; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    let big_r = (r * B + CompressedEdwardsY(order_two).decompress().unwrap()).compress();
    let k = Sha512::new().chain_update(big_r.as_bytes()).chain_update(public.as_bytes()).chain_update(msg).finalize();
    let s = r + Scalar::from_bytes_mod_order_wide(&k.into()) * a;
    let sig = [big_r.to_bytes(), s.to_bytes()].concat();
    let parsed = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    assert!(public.verify_strict(msg, &parsed).is_err(), "strict verification refuses it");
    sig
}

#[test]
fn a_signature_with_a_small_order_component_is_refused_on_every_run() {
    let env = ledger_with_checkpoints();
    env.ok(&["export", "b.jsonl"]);
    let out = env.ok(&["verify", "--strict"]);
    assert!(out.starts_with("verified 15 entries of "), "{out}");
    assert!(
        out.contains("every signature strictly, by ed25519-dalek's verify_strict, every rule, every leaf, every stored key; root"),
        "{out}"
    );
    let out = env.ok(&["verify"]);
    assert!(out.contains("every signature strictly, every rule, every leaf, every stored key; root"), "{out}");
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "b.jsonl", "--strict"]);
    let out = c.output().unwrap();
    // Anchored to nothing the auditor holds, a consistent bundle says so and exits 3.
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // A bundle stores nothing beside its entries, and its report says nothing of stored keys.
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("every rule, every leaf; root"), "{report}");
    assert!(
        report.lines().last().is_some_and(|l| l.starts_with("UNANCHORED: no --log-key, --checkpoint or --witness")),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("anchored to nothing you trust"), "{stderr}");
    let vkey = env.ok(&["--key", "dns.key", "checkpoint", "--vkey"]);
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "b.jsonl", "--log-key", vkey.trim()]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("UNANCHORED"));

    // psi's pledge, entry 10, signed again by psi with an R of mixed order; the log key (dns's)
    // signs both checkpoints again over the new roots, as a log operator could.
    let lines = bundle_lines(&env);
    let psi = pledger_log::keys::read_private(&env.path("psi.key")).unwrap();
    let resigned = |nonce: u64| -> Vec<String> {
        let mut lines = lines.clone();
        let mut entry = pledger_log::Entry::parse(lines[1 + 10].as_bytes()).unwrap();
        entry.envelope.signatures[0].sig = torsioned_signature(&psi, &entry.envelope.signed_bytes(), nonce);
        lines[1 + 10] = String::from_utf8(entry.to_line()).unwrap();
        recheckpointed(&env, lines)
    };
    let verify = |lines: &[String], strict: bool| {
        env.write("t.jsonl", &(lines.join("\n") + "\n"));
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "t.jsonl"]);
        if strict {
            c.arg("--strict");
        }
        c.output().unwrap()
    };
    // A batch's verdict would depend on its random coefficients, and the signer could try again
    // and again; every try here is refused, by default and with --strict, on every run.
    for nonce in 0..16 {
        let forged = resigned(nonce);
        for strict in [false, true] {
            let out = verify(&forged, strict);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "try {nonce}, strict {strict}: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
            assert!(stderr.contains("entry 10: bad signature: does not verify under key"), "{stderr}");
        }
    }
    // The independent verifier (OpenSSL's Ed25519 through Python's cryptography) refuses it too.
    let python =
        Command::new("python3").args(["-c", "import blake3, cryptography"]).output().is_ok_and(|o| o.status.success());
    if !python {
        return crate::common::unavailable("python3 with blake3 and cryptography (pip install blake3 cryptography)");
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/verify_bundle.py");
    let out = Command::new("python3").arg(script).arg(env.path("t.jsonl")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("entry 10: bad signature"));
}

#[test]
fn an_entry_beyond_the_heads_size_is_named_and_never_adopted_quietly() {
    let env = crate::common::demo();
    // A copy of the last line, put where the next entry would go.
    let mut size = 0;
    behind_the_back(&env, |db| {
        size = db.scan_prefix(b"e").count() as u64;
        let last = db.get([&b"e"[..], &(size - 1).to_be_bytes()].concat()).unwrap().unwrap();
        db.insert([&b"e"[..], &size.to_be_bytes()].concat(), last).unwrap();
    });
    fails(&env, &["verify"], &format!("the store holds entry {size}, beyond the {size} entries its head counts"));
    // A rebuild replays every entry there is, and refuses this one rather than drop it —
    // before writing anything: the ledger answers as before.
    let before = env.ok(&["status", "--format", "json"]);
    fails(&env, &["rebuild"], &format!("entry {size} says it is entry {}", size - 1));
    assert_eq!(env.ok(&["status", "--format", "json"]), before);
    fails(&env, &["verify"], &format!("the store holds entry {size}, beyond the {size} entries its head counts"));
}

/// An auditor who pinned the genesis log key follows its rotations, each one checked: a
/// rotation entry signed by the log key it replaces is followed; one signed by another key
/// (another convener's) is not, and says why.
#[test]
fn a_pinned_log_key_follows_the_rotations_it_vouched_for() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000");
    env.ok(&["--key", "dns.key", "checkpoint"]);
    let genesis_vkey = env.ok(&["--key", "dns.key", "checkpoint", "--vkey"]);
    env.keygen("log2.key");
    env.ok(&["--key", "dns.key", "key", "add", "dns", "--pubkey", "log2.key.pub", "--log"]);
    env.pledge_xof("psi", "2000");
    env.ok(&["--key", "log2.key", "checkpoint"]);
    let verify_bundle = |key: &str| {
        env.ok(&["export", "b.jsonl"]);
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "b.jsonl", "--log-key", key]);
        c.output().unwrap()
    };
    for pinned in [genesis_vkey.trim(), "dns.key.pub", "log2.key.pub"] {
        let out = verify_bundle(pinned);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{pinned}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(said.contains("signed by the key it replaced: followed"), pinned != "log2.key.pub", "{said}");
    }
    let out = env.ok(&["verify", "--log-key", "dns.key.pub"]);
    assert!(out.contains("log key rotated at entry"), "{out}");
    // Another convener names a log key, signing with its own key: the rotation is in the rules,
    // but the key pinned before it does not vouch for it.
    env.keygen("conv2.key");
    env.keygen("log3.key");
    env.ok(&[
        "--key", "dns.key", "member", "add", "conv2", "--name", "C2", "--kind", "government", "--pubkey",
        "conv2.key.pub", "--convener",
    ]);
    env.ok(&["--key", "conv2.key", "key", "add", "conv2", "--pubkey", "log3.key.pub", "--log"]);
    env.ok(&["--key", "log3.key", "checkpoint"]);
    for pinned in ["dns.key.pub", "log2.key.pub"] {
        let out = verify_bundle(pinned);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{pinned}: {stderr}");
        assert!(
            stderr.contains("not with the log key it replaced") && stderr.contains("does not vouch for it"),
            "{stderr}"
        );
    }
    assert!(verify_bundle("log3.key.pub").status.success());
    // A key that was never the log key is refused as such.
    let out = verify_bundle("psi.key.pub");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was never its log key"));
}

/// A witness follows a rotation of the log key that the key it remembers vouched for — the
/// rotation entry signed by it, in entries the consistency proof binds to what it cosigned — and
/// keeps its memory; a rotation signed otherwise is refused; from the ledger alone it says to
/// give the log as a bundle.
#[test]
fn a_witness_follows_a_rotation_its_log_key_vouched_for() {
    let env = Env::founded();
    env.keygen("w.key");
    let state = env.path("ws");
    let s = state.to_str().unwrap();
    env.pledge_xof("psi", "1000");
    env.write("cp1.txt", &(env.ok(&["--key", "dns.key", "checkpoint"]) + "\n"));
    env.ok(&["--key", "w.key", "witness", "cosign", "cp1.txt", "--state", s, "--log-key", "dns.key.pub"]);
    env.keygen("log2.key");
    env.ok(&["--key", "dns.key", "key", "add", "dns", "--pubkey", "log2.key.pub", "--log"]);
    env.pledge_xof("psi", "2000");
    env.write("cp2.txt", &(env.ok(&["--key", "log2.key", "checkpoint"]) + "\n"));
    // From the ledger alone the witness cannot see the rotation entry: it says what to do.
    let out = env.run(&["--key", "w.key", "witness", "cosign", "cp2.txt", "--state", s]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("give the log as a bundle"), "{stderr}");
    env.ok(&["export", "b2.jsonl"]);
    let cosign = |cp: &str, bundle: &str| {
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER")
            .args(["--key", "w.key", "witness", "cosign", cp, "--state", s, "--bundle", bundle]);
        c.output().unwrap()
    };
    let out = cosign("cp2.txt", "b2.jsonl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // It remembers the new key: the next checkpoint by it is cosigned from the ledger.
    env.pledge_xof("psi", "3000");
    env.write("cp3.txt", &(env.ok(&["--key", "log2.key", "checkpoint"]) + "\n"));
    env.ok(&["--key", "w.key", "witness", "cosign", "cp3.txt", "--state", s]);
    // Another convener names a log key with its own key: not vouched for.
    env.keygen("conv2.key");
    env.keygen("log3.key");
    env.ok(&[
        "--key", "dns.key", "member", "add", "conv2", "--name", "C2", "--kind", "government", "--pubkey",
        "conv2.key.pub", "--convener",
    ]);
    env.ok(&["--key", "conv2.key", "key", "add", "conv2", "--pubkey", "log3.key.pub", "--log"]);
    env.write("cp4.txt", &(env.ok(&["--key", "log3.key", "checkpoint"]) + "\n"));
    env.ok(&["export", "b4.jsonl"]);
    let out = cosign("cp4.txt", "b4.jsonl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not vouch for it"), "{stderr}");
}

/// Events changed and signed again with their signer's key, the checkpoints signed again over the
/// new roots with the log key — as a member and an operator together could — are still refused,
/// by pledger and by the independent verifier alike: an unknown or repeated event field, a
/// signing time far after the recording, a member admitted by a member with no authority, a weak
/// key admitted.
#[test]
fn events_signed_again_are_refused_by_both_verifiers() {
    let python =
        Command::new("python3").args(["-c", "import blake3, cryptography"]).output().is_ok_and(|o| o.status.success());
    if !python {
        return crate::common::unavailable("python3 with blake3 and cryptography (pip install blake3 cryptography)");
    }
    let env = ledger_with_checkpoints();
    let lines = bundle_lines(&env);
    let vkey = env.ok(&["--key", "dns.key", "checkpoint", "--vkey"]);
    let event_of = |l: &str| -> Value {
        let e = pledger_log::Entry::parse(l.as_bytes()).unwrap();
        serde_json::from_slice(&e.envelope.payload).unwrap()
    };
    let find = |kind: &str, member: &str| {
        (1..lines.len() - 1)
            .find(|&i| {
                let e = event_of(&lines[i]);
                e["kind"] == kind && (member.is_empty() || e["body"]["member"] == member)
            })
            .unwrap()
    };
    // The event of line `at` changed as text by `change`, signed again with `key`.
    let resigned = |at: usize, key: &str, change: &dyn Fn(String) -> String| -> Vec<String> {
        let mut lines = lines.clone();
        let mut entry = pledger_log::Entry::parse(lines[at].as_bytes()).unwrap();
        let text = change(String::from_utf8(entry.envelope.payload.clone()).unwrap());
        let signing = pledger_log::keys::read_private(&env.path(key)).unwrap();
        let keyid = pledger_log::keys::key_id(&signing.verifying_key()).to_string();
        entry.envelope =
            pledger_log::Envelope::sign(pledger_core::event::PAYLOAD_TYPE, text.into_bytes(), &signing, &keyid);
        lines[at] = String::from_utf8(entry.to_line()).unwrap();
        recheckpointed(&env, lines)
    };
    // Every envelope in URL-safe base64, which format.md §5 allows.
    let url_safe = {
        let mut l = lines.clone();
        let n = l.len();
        for line in l[1..n - 1].iter_mut() {
            let e: Value = serde_json::from_str(line).unwrap();
            let safe = |v: &Value| Value::String(v.as_str().unwrap().replace('+', "-").replace('/', "_"));
            let mut env_ = e["envelope"].clone();
            env_["payload"] = safe(&e["envelope"]["payload"]);
            env_["signatures"][0]["sig"] = safe(&e["envelope"]["signatures"][0]["sig"]);
            *line = format!(
                "{{\"seq\":{},\"recorded\":{},\"envelope\":{}}}",
                e["seq"],
                e["recorded"],
                serde_json::to_string(&env_).unwrap()
            );
        }
        recheckpointed(&env, l)
    };
    assert!(url_safe[1..url_safe.len() - 1].iter().any(|l| l.contains('-') || l.contains('_')));
    let pledge = find("pledge", "");
    let measure = find("member-admitted", "measure");
    let psi_key =
        pledger_log::keys::key_id(&pledger_log::keys::read_private(&env.path("psi.key")).unwrap().verifying_key())
            .to_string();
    let dns_key = event_of(&lines[measure])["key"].as_str().unwrap().to_owned();
    let genesis = 1;
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("nothing changed", resigned(pledge, "psi.key", &|t| t)),
        ("an unknown body field", resigned(pledge, "psi.key", &|t| t.replacen("\"title\":", "\"x\":1,\"title\":", 1))),
        (
            "a field twice",
            resigned(pledge, "psi.key", &|t| {
                t.replacen("\"signer\":\"psi\"", "\"signer\":\"psi\",\"signer\":\"psi\"", 1)
            }),
        ),
        (
            "a signing time a year after the recording",
            resigned(pledge, "psi.key", &|t| {
                let e: Value = serde_json::from_str(&t).unwrap();
                let signed = e["signed_at"].as_str().unwrap().to_owned();
                t.replacen(&signed, &format!("{}{}", (signed[..4].parse::<u32>().unwrap() + 1), &signed[4..]), 1)
            }),
        ),
        (
            "a member admitted by a member no convener",
            resigned(measure, "psi.key", &|t| {
                t.replacen("\"signer\":\"dns\"", "\"signer\":\"psi\"", 1).replacen(&dns_key, &psi_key, 1)
            }),
        ),
        (
            "a weak key admitted",
            resigned(measure, "dns.key", &|t| {
                let e: Value = serde_json::from_str(&t).unwrap();
                let pk = e["body"]["public_key"].as_str().unwrap().to_owned();
                t.replacen(&pk, "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1)
            }),
        ),
        (
            "a genesis whose log key is the identity point",
            resigned(genesis, "dns.key", &|t| {
                let e: Value = serde_json::from_str(&t).unwrap();
                let lk = e["body"]["log_key"].as_str().unwrap().to_owned();
                let weak = "\"log_key\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"";
                t.replacen(&format!("\"log_key\":\"{lk}\""), weak, 1)
            }),
        ),
        (
            "a title on two lines",
            resigned(pledge, "psi.key", &|t| t.replacen("\"title\":\"", "\"title\":\"two\\nlines ", 1)),
        ),
        (
            "a date that is no date",
            resigned(pledge, "psi.key", &|t| {
                let e: Value = serde_json::from_str(&t).unwrap();
                let due = e["body"]["due"].as_str().unwrap().to_owned();
                t.replacen(&format!("\"due\":\"{due}\""), "\"due\":\"2015-02-30\"", 1)
            }),
        ),
        (
            "an amount of zero",
            resigned(pledge, "psi.key", &|t| {
                let e: Value = serde_json::from_str(&t).unwrap();
                let minor = e["body"]["amount"]["minor"].to_string();
                t.replacen(&format!("\"minor\":{minor}"), "\"minor\":0", 1)
            }),
        ),
    ];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/verify_bundle.py");
    env.write("url.jsonl", &(url_safe.join("\n") + "\n"));
    let py = Command::new("python3").arg(script).arg(env.path("url.jsonl")).args(["--log-key", vkey.trim()]).output();
    let py = py.unwrap();
    assert!(py.status.success(), "URL-safe base64: {}", String::from_utf8_lossy(&py.stderr));
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", "url.jsonl", "--log-key", vkey.trim()]);
    let ours = c.output().unwrap();
    assert!(ours.status.success(), "URL-safe base64: {}", String::from_utf8_lossy(&ours.stderr));
    for (i, (what, lines)) in cases.iter().enumerate() {
        let file = format!("r{i}.jsonl");
        env.write(&file, &(lines.join("\n") + "\n"));
        let py =
            Command::new("python3").arg(script).arg(env.path(&file)).args(["--log-key", vkey.trim()]).output().unwrap();
        let mut c = env.cmd();
        c.env_remove("PLEDGER_LEDGER").args(["verify", "--bundle", &file, "--log-key", vkey.trim()]);
        let ours = c.output().unwrap();
        let (py_err, our_err) = (String::from_utf8_lossy(&py.stderr), String::from_utf8_lossy(&ours.stderr));
        if i == 0 {
            assert!(py.status.success(), "re-signing alone breaks nothing: {py_err}");
            assert!(ours.status.success(), "re-signing alone breaks nothing: {our_err}");
            continue;
        }
        // The independent verifier names the very thing changed.
        let why = match i {
            1 => "has unknown field 'x'",
            2 => "field 'signer' appears twice",
            3 => "signed more than 5 minutes after it was recorded",
            4 => "psi is not a convener and admits a member",
            5 => "public_key is a weak key (of small order)",
            6 => "genesis log_key is a weak key",
            7 => "title holds a control character",
            8 => "is not a calendar date",
            _ => "is not a whole number from 1",
        };
        assert!(py_err.contains(why), "{what}: {py_err}");
        assert_eq!(py.status.code(), Some(1), "{what}: the independent verifier accepted it: {py_err}");
        assert_eq!(ours.status.code(), Some(1), "{what}: pledger accepted it: {our_err}");
        assert_eq!(py_err.trim_end().lines().count(), 1, "{what}: {py_err}");
        assert_eq!(our_err.trim_end().lines().count(), 1, "{what}: {our_err}");
    }
}
