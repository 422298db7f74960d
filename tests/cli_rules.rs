//! End-to-end: the rules of docs/format.md §3 through the real binary. Every refusal is one line on
//! stderr with a non-zero exit, and leaves the ledger exactly as it was.

use crate::common::{pledge_with, Env};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;

fn envelope(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

/// Changes one byte of an envelope's payload (inside a JSON string, so it still parses).
fn forge(env_json: &str, from: &str, to: &str) -> String {
    let mut env = envelope(env_json);
    let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
    let text = String::from_utf8(payload).unwrap();
    assert!(text.contains(from), "{text}");
    let forged = text.replacen(from, to, 1);
    assert_eq!(forged.len(), text.len());
    env["payload"] = Value::String(B64.encode(forged));
    env.to_string()
}

#[test]
fn the_write_commands_print_short_stable_ids() {
    let env = Env::founded();
    assert_eq!(env.pledge_xof("psi", "1000000"), "P-000001");
    assert_eq!(
        env.ok(&[
            "--key", "measure.key", "pledge", "--to", "dns", "--category", "software", "--area", "ML-1,ML-BKO",
            "--quantity", "40", "--unit", "laptops", "--due", "2015-01-31", "--title", "Laptops", "--date",
            "2014-02-01"
        ]),
        "P-000002"
    );
    assert_eq!(
        env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "400000", "--date", "2014-06-01"]),
        "F-000001"
    );
    assert_eq!(env.ok(&["--key", "dns.key", "attest", "F-000001", "--confirm", "--date", "2014-06-10"]), "A-000001");
    assert_eq!(
        env.ok(&["--key", "psi.key", "amend", "P-000001", "--increase", "500000", "--date", "2014-07-01"]),
        "M-000001"
    );
    assert_eq!(
        env.ok(&[
            "--key", "psi.key", "withdraw", "P-000001", "--amount", "100000", "--reason", "cut", "--date", "2014-08-01"
        ]),
        "W-000001"
    );
    assert_eq!(
        env.ok(&[
            "--key", "dns.key", "area", "add", "ML-3-KTL", "--name", "Koutiala", "--level", "district", "--parent",
            "ML-3"
        ]),
        "ML-3-KTL"
    );
    assert_eq!(env.ok(&["--key", "dns.key", "category", "add", "dhis2", "--name", "DHIS 2"]), "dhis2");
    let shown: Value = serde_json::from_str(&env.ok(&["show", "P-000001", "--format", "json"])).unwrap();
    let show = &shown["pledge"];
    assert_eq!(shown["status"]["state"], "overdue", "due 2015-06-30, judged today");
    assert_eq!(
        shown["history"].as_array().unwrap().len(),
        5,
        "pledge, fulfillment, attestation, amendment, withdrawal"
    );
    assert_eq!(show["pledged"], 1_500_000);
    assert_eq!(show["claimed"], 400_000);
    assert_eq!(show["confirmed"], 400_000);
    assert_eq!(show["withdrawn"], 100_000);
    assert_eq!(show["undelivered"], 1_000_000);
    assert_eq!(show["fulfillments"][0]["status"], "confirmed");
    // USD has cents: 12500.50 is 1250050 minor units.
    env.ok(&[
        "--key", "usaid.key", "pledge", "--to", "dns", "--category", "funding", "--area", "ML", "--amount", "12500.50",
        "--currency", "USD", "--due", "2015-01-01", "--title", "Funds",
    ]);
    let p3: Value = serde_json::from_str(&env.ok(&["show", "P-000003", "--format", "json"])).unwrap();
    assert_eq!(p3["pledge"]["pledged"], 1_250_050);
    assert_eq!(p3["pledge"]["measure"]["currency"], "USD");
}

#[test]
fn authority_rules_refuse_in_one_line_and_change_nothing() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "400000", "--date", "2014-06-01"]);
    env.keygen("newcomer.key");
    // A non-convener admitting a member.
    env.refused(
        &[
            "--key", "psi.key", "member", "add", "newcomer", "--name", "N", "--kind", "other", "--pubkey",
            "newcomer.key.pub",
        ],
        1,
        "psi is not a convener",
    );
    // Defining an area or category without being a convener.
    env.refused(
        &["--key", "psi.key", "area", "add", "ML-2", "--name", "Koulikoro", "--level", "region"],
        1,
        "not a convener",
    );
    env.refused(&["--key", "psi.key", "category", "add", "x", "--name", "X"], 1, "not a convener");
    // The pledger attesting its own delivery.
    env.refused(&["--key", "psi.key", "attest", "F-000001", "--confirm"], 1, "may not attest its own delivery");
    // Someone who is neither beneficiary nor auditor attesting.
    env.refused(
        &["--key", "measure.key", "attest", "F-000001", "--confirm"],
        1,
        "only its beneficiary dns or an auditor attests",
    );
    // Another member fulfilling, amending or withdrawing someone else's pledge.
    env.refused(
        &["--key", "measure.key", "fulfill", "P-000001", "--amount", "1", "--date", "2014-06-02"],
        1,
        "not the pledger of P-000001",
    );
    env.refused(&["--key", "measure.key", "withdraw", "P-000001", "--reason", "x"], 1, "not the pledger");
    env.refused(&["--key", "measure.key", "amend", "P-000001", "--title", "Mine now"], 1, "not the pledger");
    // An auditor may attest.
    assert_eq!(env.ok(&["--key", "bvg.key", "attest", "F-000001", "--dispute", "--note", "No receipt"]), "A-000001");
    // A key that the ledger does not know.
    env.keygen("stranger.key");
    env.refused(&pledge_with("stranger.key", &[]), 1, "not registered");
}

#[test]
fn amount_rules_refuse_and_change_nothing() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "400000", "--date", "2014-06-01"]);
    // A withdrawal larger than the undelivered part (600,000 left).
    env.refused(
        &["--key", "psi.key", "withdraw", "P-000001", "--amount", "600001", "--reason", "cut"],
        1,
        "exceeds what of pledge P-000001 is neither withdrawn nor claimed as delivered: XOF 600,000",
    );
    // A fulfillment beyond what remains.
    env.refused(
        &["--key", "psi.key", "fulfill", "P-000001", "--amount", "600001", "--date", "2014-07-01"],
        1,
        "exceeds what remains",
    );
    // A fulfillment in the wrong unit: refused by the command line (2) ...
    env.refused(
        &["--key", "psi.key", "fulfill", "P-000001", "--quantity", "3", "--date", "2014-07-01"],
        2,
        "give --amount, not --quantity",
    );
    // ... and by the rules when signed elsewhere in another unit (1).
    let env_json = env.ok(&[
        "--key", "psi.key", "fulfill", "P-000001", "--quantity", "3", "--unit", "laptops", "--date", "2014-07-01",
        "--sign-only",
    ]);
    let f = env.write("wrong-unit.json", &env_json);
    env.refused(&["submit", f.to_str().unwrap()], 1, "the fulfillment is in \"laptops\" but pledge P-000001 is in XOF");
    // Bad amounts, currencies and dates on the command line: usage errors.
    for (flag, value, why) in [
        ("--amount", "-5", "bad amount"),
        ("--amount", "1.5", "bad amount"),
        ("--amount", "1e6", "bad amount"),
        ("--amount", "0", "bad amount"),
        ("--amount", "99999999999999999999", "bad amount"),
        ("--currency", "XYZ", "bad currency"),
        ("--due", "2015-02-30", "bad date"),
    ] {
        env.refused(&pledge_with("psi.key", &[(flag, value)]), 2, why);
    }
    env.refused(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "5", "--date", "yesterday"], 2, "bad date");
    // Unknown references.
    for (flag, value, why) in [
        ("--to", "ghost", "unknown member ghost; the ledger's members: bvg, dns, measure, psi, usaid"),
        ("--area", "ML-99", "unknown area ML-99; the ledger's areas: ML, ML-1, ML-3, ML-8, ML-BKO"),
        ("--category", "magic", "unknown category magic; the ledger's categories: connectivity, equipment, funding,"),
    ] {
        env.refused(&pledge_with("psi.key", &[(flag, value)]), 1, why);
    }
    env.refused(
        &["--key", "psi.key", "fulfill", "P-000042", "--amount", "5", "--date", "2014-07-01"],
        1,
        "unknown pledge P-000042",
    );
    env.refused(&["--key", "dns.key", "attest", "F-000042", "--confirm"], 1, "unknown fulfillment F-000042");
    env.refused(&["--key", "psi.key", "fulfill", "Q-1", "--amount", "5", "--date", "2014-07-01"], 2, "bad id \"Q-1\"");
}

#[test]
fn forged_replayed_foreign_and_malformed_envelopes_are_refused() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    let signed =
        env.ok(&["--key", "psi.key", "withdraw", "P-000001", "--amount", "1000", "--reason", "cut", "--sign-only"]);
    // Nothing was appended by --sign-only.
    assert!(!env.ok(&["log", "--format", "json"]).contains("\"withdrawal\""));

    // A forged envelope: one payload byte changed.
    let forged = env.write("forged.json", &forge(&signed, "\"minor\":1000", "\"minor\":9000"));
    env.refused(&["submit", forged.to_str().unwrap()], 1, "bad signature");
    // The genuine one is accepted once, then refused as a replay.
    let good = env.write("good.json", &signed);
    assert_eq!(env.ok(&["submit", good.to_str().unwrap()]), "W-000001");
    env.refused(&["submit", good.to_str().unwrap()], 1, "duplicate event");
    // An envelope made for another ledger.
    let mut c = env.cmd();
    c.env_remove("PLEDGER_LEDGER").args([
        "--key", "psi.key", "--as", "psi", "--origin", "elsewhere.example/ledger", "withdraw", "P-000001", "--amount",
        "1", "--reason", "x", "--currency", "XOF", "--sign-only",
    ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let foreign = env.write("foreign.json", &String::from_utf8(out.stdout).unwrap());
    env.refused(&["submit", foreign.to_str().unwrap()], 1, "is for ledger \"elsewhere.example/ledger\"");
    // Malformed input of every shape.
    let cases = [
        ("garbage.json", "this is not json\n", "malformed envelope"),
        ("array.json", "[1,2,3]\n", "malformed envelope"),
        ("b64.json", "{\"payloadType\":\"application/vnd.pledger.event+json\",\"payload\":\"%%%\",\"signatures\":[{\"keyid\":\"k\",\"sig\":\"AA==\"}]}\n", "not base64"),
        ("type.json", &signed.replace("application/vnd.pledger.event+json", "text/plain"), "payloadType"),
        ("nosig.json", &{ let mut v = envelope(&signed); v["signatures"] = serde_json::json!([]); v.to_string() }, "0 signatures"),
        ("truncated.json", &signed[..signed.len() / 2], "malformed envelope"),
    ];
    for (name, content, needle) in cases {
        let f = env.write(name, content);
        env.refused(&["submit", f.to_str().unwrap()], 1, needle);
    }
    env.refused(&["submit", "missing.json"], 1, "missing.json");
}

#[test]
fn a_revoked_key_signs_nothing_after_its_revocation() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    let first = env
        .ok(&["members", "--format", "json"])
        .lines()
        .find(|l| l.contains("\"psi\""))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["keys"][0]["id"].as_str().unwrap().to_owned()
        })
        .unwrap();
    // Signed before the revocation, submitted after: refused, since it is recorded after.
    let early =
        env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "10", "--date", "2014-05-01", "--sign-only"]);
    let second_id = env.keygen("psi2.key");
    assert_eq!(env.ok(&["--key", "psi.key", "key", "add", "psi", "--pubkey", "psi2.key.pub"]), second_id);
    assert_eq!(env.ok(&["--key", "psi2.key", "key", "revoke", "psi", &first, "--reason", "laptop stolen"]), first);
    env.refused(
        &["--key", "psi.key", "fulfill", "P-000001", "--amount", "10", "--date", "2014-05-01"],
        1,
        "was revoked at entry",
    );
    env.refused(
        &["--key", "psi.key", "--as", "psi", "fulfill", "P-000001", "--amount", "10", "--date", "2014-05-01"],
        1,
        "was revoked at entry",
    );
    let f = env.write("early.json", &early);
    env.refused(&["submit", f.to_str().unwrap()], 1, "was revoked at entry");
    // With the ledger at hand, --sign-only does not sign with a revoked key: what it would make
    // is refused before it is made.
    let state = env.state();
    env.refused(
        &["--key", "psi.key", "fulfill", "P-000001", "--amount", "10", "--date", "2014-05-01", "--sign-only"],
        1,
        "of member psi was revoked at entry",
    );
    assert_eq!(env.state(), state);
    // Events it signed before stay valid, and the new key works.
    assert_eq!(
        env.ok(&["--key", "psi2.key", "fulfill", "P-000001", "--amount", "10", "--date", "2014-05-01"]),
        "F-000001"
    );
    // Members cannot touch other members' keys; a convener can.
    env.refused(
        &["--key", "measure.key", "key", "revoke", "psi", &second_id],
        1,
        "may not add or revoke keys of member psi",
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::founded();
    env.refused(&["pledge", "--to", "dns"], 2, "required arguments were not provided");
    env.refused(&["--key", "psi.key", "attest", "F-000001"], 2, "");
    env.refused(&["--key", "psi.key", "amend", "P-000001"], 2, "");
    let out = env.cmd().env_remove("PLEDGER_LEDGER").args(["log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ledger given"));
    let out = env.cmd().args(["--ledger", env.path("nowhere").to_str().unwrap(), "log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ledger at"));
    assert!(!env.path("nowhere").exists());
    // `pledger` alone lists the commands, with a usage status.
    let out = env.cmd().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Commands:") && said.contains("import") && said.contains("attest"), "{said}");
}

/// A delivery past the words (`fulfill --beyond`), a reversal (`reverse`), and verdicts on
/// many fulfillments at once (`attest A B C`, `attest --file`): through the command line, in one
/// durable group or not at all, and replayed by `verify` like every rule.
#[test]
fn deliveries_beyond_reversals_and_verdicts_in_bulk() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    let fulfill = |amount: &str, date: &str, extra: &[&str]| {
        let mut args = vec!["--key", "psi.key", "fulfill", "P-000001", "--amount", amount, "--date", date];
        args.extend_from_slice(extra);
        env.ok(&args).trim().to_owned()
    };
    assert_eq!(fulfill("600000", "2014-04-01", &[]), "F-000001");
    env.refused(
        &["--key", "psi.key", "fulfill", "P-000001", "--amount", "300000", "--date", "2014-05-01", "--beyond"],
        1,
        "is marked beyond the words, but pledge P-000001 still leaves XOF 400,000 undelivered",
    );
    assert_eq!(fulfill("300000", "2014-05-01", &[]), "F-000002");
    assert_eq!(fulfill("250000", "2014-06-01", &["--beyond"]), "F-000003");
    let status = |id: &str| -> serde_json::Value {
        let shown: serde_json::Value = serde_json::from_str(&env.ok(&["show", id, "--format", "json"])).unwrap();
        shown["status"].clone()
    };
    assert_eq!(
        (status("P-000001")["claimed"].as_u64(), status("P-000001")["beyond"].as_u64()),
        (Some(1_150_000), Some(150_000))
    );
    // A reversal: only the pledger's, never more than the fulfillment counts for.
    env.refused(
        &["--key", "dns.key", "reverse", "F-000003", "--amount", "10", "--reason", "refund"],
        1,
        "only the pledger reverses its fulfillments",
    );
    env.refused(
        &[
            "--key", "psi.key", "reverse", "F-000003", "--amount", "250001", "--reason", "refund", "--date",
            "2014-07-01",
        ],
        1,
        "reversal of XOF 250,001 exceeds what fulfillment F-000003 still counts for: XOF 250,000",
    );
    let id = env.ok(&[
        "--key", "psi.key", "reverse", "F-000003", "--amount", "200000", "--reason", "refund", "--date", "2014-07-01",
    ]);
    assert_eq!(id.trim(), "F-000003");
    assert_eq!((status("P-000001")["claimed"].as_u64(), status("P-000001")["beyond"].as_u64()), (Some(950_000), None));
    let history = env.ok(&["show", "P-000001", "--format", "json"]);
    assert!(history.contains("reverses XOF 200,000 of F-000003: refund"), "{history}");
    // As of before the reversal, the delivery counted in full.
    let before: Vec<serde_json::Value> =
        crate::common::json_lines(&env.ok(&["status", "--as-of", "2014-06-30", "--format", "json"]));
    assert_eq!(before[0]["claimed"].as_u64(), Some(1_150_000));

    // Verdicts in bulk: one refused, none recorded.
    let state = env.state();
    env.refused(
        &["--key", "dns.key", "attest", "F-000001", "F-000009", "--confirm"],
        1,
        "F-000009: refused: unknown fulfillment",
    );
    assert_eq!(env.state(), state, "nothing recorded when one verdict is refused");
    env.refused(&["--key", "dns.key", "attest", "F-000001", "F-000001", "--confirm"], 2, "F-000001 is given twice");
    let ids = env.ok(&["--key", "dns.key", "attest", "F-000001", "F-000002", "--confirm", "--note", "seen"]);
    assert_eq!(ids.lines().collect::<Vec<_>>(), ["A-000001", "A-000002"]);
    env.write("verdicts.csv", "id,verdict,note\nF-000003,dispute,\"only part, we think\"\nF-000002,confirm,\n");
    let ids = env.ok(&["--key", "dns.key", "attest", "--file", "verdicts.csv"]);
    assert_eq!(ids.lines().count(), 2);
    assert_eq!(status("P-000001")["confirmed"].as_u64(), Some(900_000));
    assert_eq!(status("P-000001")["disputed"].as_u64(), Some(50_000));
    env.write("bad.csv", "id,verdict\nF-000001,confirm\nF-000002,perhaps\n");
    env.refused(
        &["--key", "dns.key", "attest", "--file", "bad.csv"],
        1,
        "bad.csv:3: verdict \"perhaps\" is not confirm or dispute",
    );
    env.refused(
        &["--key", "dns.key", "attest", "--file", "/dev/zero"],
        1,
        "a file of verdicts is larger than the 8388608 bytes allowed",
    );
    // Signed elsewhere, all at once: JSON Lines a submit takes.
    let lines = env.ok(&["--key", "dns.key", "attest", "F-000001", "F-000003", "--confirm", "--sign-only"]);
    assert_eq!(lines.lines().count(), 2);
    let verified = env.ok(&["verify"]);
    assert!(verified.starts_with("verified"), "{verified}");
}

/// A pledge in tranches (`pledge --tranche DATE:X`, repeatable): refused unless the schedule is
/// in order and adds up; judged tranche by tranche in `status`, `show`, the scorecard and the
/// report; replayed by `verify`.
#[test]
fn a_pledge_in_tranches_is_judged_tranche_by_tranche() {
    let env = Env::founded();
    let pledge = |tranches: &[&str]| {
        let mut args = crate::common::pledge_with(
            "psi.key",
            &[("--amount", "12000000"), ("--due", "2015-12-31"), ("--date", "2015-01-10")],
        );
        for t in tranches {
            args.extend(["--tranche".to_owned(), t.to_string()]);
        }
        args
    };
    env.refused(
        &pledge(&["2015-03-31:4000000", "2015-09-30:7000000"]),
        1,
        "the tranches add up to XOF 11,000,000, not the pledge's XOF 12,000,000",
    );
    env.refused(
        &pledge(&["2015-09-30:4000000", "2015-03-31:8000000"]),
        1,
        "tranche 2: due 2015-03-31 is not after the tranche before it",
    );
    env.refused(&pledge(&["2015-03-31"]), 2, "--tranche \"2015-03-31\": give DATE:AMOUNT");
    let id = env.ok(&pledge(&["2015-03-31:4000000", "2015-09-30:8000000"]));
    assert_eq!(id.trim(), "P-000001");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "4000000", "--date", "2015-03-20"]);
    env.ok(&["--key", "dns.key", "attest", "F-000001", "--confirm", "--date", "2015-03-25"]);
    let st = crate::common::json_lines(&env.ok(&["status", "--as-of", "2015-10-31", "--format", "json"]));
    assert_eq!(st[0]["state"], "overdue", "past the second tranche with a third delivered");
    assert_eq!(st[0]["days_late"], 31);
    let states: Vec<&str> =
        st[0]["tranches"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["met", "overdue"]);
    let shown = env.ok(&["show", "P-000001", "--format", "table"]);
    assert!(shown.contains("tranche 1") && shown.contains("met 2015-03-20"), "{shown}");
    let card = crate::common::json_lines(&env.ok(&["scorecard", "--as-of", "2015-10-31", "--format", "json"]));
    let psi = card.iter().find(|c| c["member"] == "psi").unwrap();
    assert_eq!((psi["judged"].as_u64(), psi["on_time"].as_u64(), psi["overdue"].as_u64()), (Some(2), Some(1), Some(1)));
    env.ok(&["report", "--html", "r.html", "--as-of", "2015-10-31"]);
    let html = std::fs::read_to_string(env.path("r.html")).unwrap();
    assert!(html.contains("2015-09-30 (tranche 2 of 2)"), "the report names the tranche overdue");
    assert!(env.ok(&["verify"]).starts_with("verified"));
}
