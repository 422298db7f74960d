//! `pledger import iati`: a fixture written for the tests with exact expected counts, real files
//! published by donors (from ../shared/iati, skipped with a message where absent), and the
//! malformed files of validators' test suites.

use std::path::PathBuf;

use crate::common::Env;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/iati").join(name)
}

/// The folder of real IATI files beside the clone, or `PLEDGER_IATI_DIR`.
fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("PLEDGER_IATI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/iati"));
    if dir.join("real").is_dir() {
        Some(dir)
    } else {
        crate::common::unavailable(&format!(
            "the IATI files of ../shared/iati at {} (or set PLEDGER_IATI_DIR)",
            dir.display()
        ));
        None
    }
}

/// The founded ledger of the other tests (areas of one country, Mali), with a donor member
/// `donor` holding donor.key and publishing under the fixture's IATI organisation.
fn with_donor() -> Env {
    with_donor_of("XI-EXAMPLE-1")
}

/// [`with_donor`], the donor publishing under `org`.
fn with_donor_of(org: &str) -> Env {
    let env = Env::founded();
    env.keygen("donor.key");
    env.ok(&[
        "--key", "dns.key", "member", "add", "donor", "--name", "Example Donor", "--kind", "donor", "--pubkey",
        "donor.key.pub", "--iati-org", org,
    ]);
    env
}

fn import(env: &Env, key: &str, file: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["--key", key, "import", "iati", file.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&env.ok(&args)).unwrap()
}

fn len(v: &Value, field: &str) -> usize {
    v[field].as_array().map_or(0, |a| a.len())
}

fn reasons(v: &Value) -> Vec<String> {
    v["not_recorded"].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap().to_owned()).collect()
}

fn statuses(env: &Env, org: &str) -> Vec<Value> {
    env.ok(&["status", "--org", org, "--format", "json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The events recorded, as `step` names them.
fn steps(v: &Value, step: &str) -> usize {
    v["recorded"].as_array().unwrap().iter().filter(|c| c["step"] == step).count()
}

/// Checks that the report adds up to the file per currency, and that the ledger's pledged and
/// delivered amounts (net of withdrawals and reversals) for `org` are what it says was recorded.
fn reconciles(env: &Env, r: &Value, org: &str, what: &str) {
    let mut ledger: std::collections::BTreeMap<String, (i128, i128)> = Default::default();
    for s in statuses(env, org) {
        let e = ledger.entry(s["currency"].as_str().unwrap().to_owned()).or_default();
        e.0 += i128::from(s["pledged"].as_u64().unwrap()) - i128::from(s["withdrawn"].as_u64().unwrap());
        e.1 += i128::from(s["claimed"].as_u64().unwrap());
    }
    let n = |v: &Value| v.as_i64().map(i128::from).unwrap();
    for c in r["reconciliation"].as_array().unwrap() {
        let cur = c["currency"].as_str().unwrap();
        for role in ["commitments", "deliveries"] {
            let parts = n(&c["recorded"][role]) + n(&c["already"][role]) + n(&c["not_recorded"][role]);
            assert_eq!(parts, n(&c["file"][role]), "{what}: {cur} {role} do not add up to the file");
            let by_reason: i128 = c["reasons"].as_array().unwrap().iter().map(|x| n(&x["sums"][role])).sum();
            assert_eq!(by_reason, n(&c["not_recorded"][role]), "{what}: {cur} {role}: the reasons add up");
        }
        let (words, claimed) = ledger.get(cur).copied().unwrap_or_default();
        assert_eq!(words, n(&c["recorded"]["commitments"]) + n(&c["already"]["commitments"]), "{what}: {cur} pledged");
        assert_eq!(
            claimed,
            n(&c["recorded"]["deliveries"]) + n(&c["already"]["deliveries"]),
            "{what}: {cur} delivered"
        );
    }
}

#[test]
fn the_fixture_maps_exactly_and_a_second_import_changes_nothing() {
    let env = with_donor();
    let file = fixture("mali-hmis.xml");
    let f = file.to_str().unwrap();
    // A donor cannot define areas or categories: it is told what is missing and who adds it.
    env.refused(
        &["--key", "donor.key", "import", "iati", f, "--all-countries"],
        1,
        "lacks area NE, area ML-G2451184, category dac-12110, category dac-12196; a convener defines them first with `pledger import iati",
    );
    let defs = import(&env, "dns.key", &file, &["--define-only", "--all-countries"]);
    assert_eq!(defs["areas_defined"], serde_json::json!(["NE", "ML-G2451184"]));
    assert_eq!(defs["categories_defined"], serde_json::json!(["dac-12110", "dac-12196"]));
    assert_eq!(len(&defs, "recorded"), 0);

    let before = env.state();
    let dry = import(&env, "donor.key", &file, &["--dry-run", "--all-countries"]);
    assert_eq!(len(&dry, "recorded"), 9);
    assert_eq!(env.state(), before, "--dry-run records nothing");

    let r = import(&env, "donor.key", &file, &["--all-countries"]);
    assert_eq!((r["activities"].as_u64(), r["selected"].as_u64()), (Some(3), Some(3)));
    // 3 commitments (2, 12, C): 2 pledges and an increase. 6 deliveries (3, 3, 4, 3, D, E): 5
    // fulfillments, the last past the words (marked beyond), and a reversal; the expenditure
    // dated before its commitment dates its pledge.
    assert_eq!((r["commitments"].as_u64(), r["deliveries"].as_u64()), (Some(3), Some(6)));
    assert_eq!(
        [
            steps(&r, "pledge"),
            steps(&r, "increase"),
            steps(&r, "fulfillment"),
            steps(&r, "delivery"),
            steps(&r, "reversal")
        ],
        [2, 1, 0, 5, 1]
    );
    assert_eq!(reasons(&r), ["no commitments, disbursements or expenditures"]);
    assert_eq!(r["ignored"], serde_json::json!({"1": 1}));
    reconciles(&env, &r, "donor", "the fixture");
    let usd = r["reconciliation"].as_array().unwrap().iter().find(|c| c["currency"] == "USD").unwrap();
    assert_eq!(usd["file"], serde_json::json!({"commitments": 70_000_000, "deliveries": 74_500_000}));

    let st = statuses(&env, "donor");
    let row = |title: &str| st.iter().find(|s| s["title"].as_str().unwrap().starts_with(title)).unwrap().clone();
    let first = row("DHIS 2 roll-out in Sikasso");
    assert_eq!(
        (first["pledged"].as_u64(), first["claimed"].as_u64(), first["beyond"].as_u64()),
        (Some(70_000_000), Some(74_500_000), Some(4_500_000)),
        "delivered beyond the words, shown as such"
    );
    assert_eq!(first["areas"], serde_json::json!(["ML-G2451184"]));
    assert_eq!(first["category"], "dac-12196");
    // Its planned disbursements are its schedule, capped at the first commitment (USD 500,000):
    // 150,000 by 2014-06-30 and the 350,000 left of the second by 2014-12-31; the increase
    // falls due with the pledge.
    let tranches: Vec<(String, u64, String)> = first["tranches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["due"].as_str().unwrap().to_owned(),
                t["value"].as_u64().unwrap(),
                t["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        tranches,
        [
            ("2014-06-30".to_owned(), 15_000_000, "claimed".to_owned()),
            ("2014-12-31".to_owned(), 35_000_000, "claimed".to_owned()),
            ("2016-12-31".to_owned(), 20_000_000, "claimed".to_owned()),
        ]
    );
    assert_eq!(first["beneficiary"], "dns", "the founding convener by default");
    assert_eq!(first["due"], "2016-12-31");
    let equip = row("Equipment");
    assert_eq!((equip["pledged"].as_u64(), equip["claimed"].as_u64()), (Some(10_000_000), Some(4_100_000)));
    assert_eq!(equip["made"], "2013-12-01", "dated by its earliest transaction, the expenditure");
    assert_eq!(equip["areas"], serde_json::json!(["ML", "NE"]));
    assert_eq!(equip["category"], "dac-12110", "the sector with the largest share");
    let show = env.ok(&["show", "F-000001", "--format", "json"]);
    assert!(
        show.contains("IATI XI-EXAMPLE-1-DHIS2-ML: disbursement 2014-09-01, ref d1: Servers and training"),
        "{show}"
    );
    let history = env.ok(&["show", "P-000001", "--format", "json"]);
    assert!(
        history.contains(r#""kind":"reversal""#) && history.contains("negative disbursement 2015-07-01"),
        "{history}"
    );

    // For a spreadsheet: a row per transaction recorded, found or not recorded, with its line.
    let state = env.state();
    let csv_text =
        env.ok(&["--key", "donor.key", "import", "iati", f, "--dry-run", "--all-countries", "--format", "csv"]);
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["outcome", "as", "id", "activity", "transaction", "line", "currency", "value", "cause", "reason"]
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 10, "nine found, one never recorded");
    assert_eq!(rows.iter().filter(|r| &r[0] == "already").count(), 9);
    assert!(rows.iter().any(|r| &r[1] == "reversal" && &r[4] == "7" && &r[7] == "-500000"), "{csv_text}");
    let again = import(&env, "donor.key", &file, &["--all-countries"]);
    assert_eq!(len(&again, "recorded"), 0);
    assert_eq!(len(&again, "already"), 9, "every transaction found, counted once");
    reconciles(&env, &again, "donor", "the fixture again");
    assert_eq!(env.state(), state, "a second import changes nothing");
    env.ok(&["verify"]);
    // The table says the same, and that it adds up.
    let table =
        env.ok(&["--key", "donor.key", "import", "iati", f, "--dry-run", "--all-countries", "--format", "table"]);
    assert!(
        table.contains("USD: these add up to the file") && table.contains("EUR: these add up to the file"),
        "{table}"
    );
    assert!(table.contains("already in the ledger from an earlier import: 9 transactions"), "{table}");
}

#[test]
fn a_country_takes_its_share() {
    let env = with_donor();
    let file = fixture("mali-hmis.xml");
    import(&env, "dns.key", &file, &["--define-only", "--country", "ML"]);
    // A ledger whose areas are one country, Mali: the import takes Mali's share by default.
    let r = import(&env, "donor.key", &file, &[]);
    assert_eq!(r["country"], "ML");
    assert_eq!(len(&r, "recorded"), 9);
    reconciles(&env, &r, "donor", "Mali's share");
    let equip =
        statuses(&env, "donor").into_iter().find(|s| s["title"].as_str().unwrap().starts_with("Equip")).unwrap();
    assert_eq!((equip["pledged"].as_u64(), equip["claimed"].as_u64()), (Some(7_500_000), Some(3_075_000)), "75%");
    assert_eq!(equip["areas"], serde_json::json!(["ML"]));
    assert!(equip["title"].as_str().unwrap().ends_with("(IATI XI-EXAMPLE-1-EQUIP-ML; 75% of EUR 100000.00)"));
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let env = with_donor();
    env.write("not.xml", "this is not XML");
    env.write("html.xml", "<html><body/></html>");
    env.write("cut.xml", &std::fs::read_to_string(fixture("mali-hmis.xml")).unwrap()[..900]);
    env.refused(&["--key", "donor.key", "import", "iati", "not.xml"], 1, "not well-formed XML");
    env.refused(
        &["--key", "donor.key", "import", "iati", "html.xml"],
        1,
        "not an IATI activity file: its root element is <html>",
    );
    env.refused(&["--key", "donor.key", "import", "iati", "cut.xml"], 1, "cut.xml: not well-formed XML");
    env.refused(&["--key", "donor.key", "import", "iati", "missing.xml"], 1, "missing.xml");
    let f = fixture("mali-hmis.xml");
    let f = f.to_str().unwrap();
    env.refused(&["--key", "donor.key", "import", "iati", f, "--to", "ghost"], 1, "unknown member ghost");
    env.refused(&["--key", "donor.key", "import", "iati", f, "--country", "Mali"], 1, "--country \"Mali\"");
    env.refused(
        &["--key", "donor.key", "import", "iati", f, "--reporting-org", "XM-9"],
        1,
        "--reporting-org XM-9 is not registered to member donor",
    );
}

/// A member imports only the activities of the IATI organisations registered to it; a ledger
/// of one country takes that country's share unless told otherwise.
#[test]
fn a_member_imports_only_what_it_publishes() {
    let env = with_donor_of("XM-OTHER");
    env.keygen("ngo.key");
    env.ok(&[
        "--key", "dns.key", "member", "add", "ngo", "--name", "NGO", "--kind", "implementer", "--pubkey", "ngo.key.pub",
    ]);
    let file = fixture("mali-hmis.xml");
    let f = file.to_str().unwrap();
    import(&env, "dns.key", &file, &["--define-only"]);
    let state = env.state();
    env.refused(&["--key", "ngo.key", "import", "iati", f], 1, "member ngo has no IATI organisation registered");
    env.refused(
        &["--key", "donor.key", "import", "iati", f],
        1,
        "no activity of the file is reported by XM-OTHER (registered to donor)",
    );
    // Only a convener registers an organisation, and one organisation has one member.
    env.refused(
        &["--key", "ngo.key", "member", "iati-org", "ngo", "XI-EXAMPLE-1"],
        1,
        "only a convener registers IATI organisations",
    );
    env.refused(
        &["--key", "dns.key", "member", "iati-org", "ngo", "XM-OTHER"],
        1,
        "IATI organisation XM-OTHER is already registered to member donor",
    );
    assert_eq!(env.state(), state, "nothing recorded");
    env.ok(&["--key", "dns.key", "member", "iati-org", "ngo", "XI-EXAMPLE-1"]);
    let members = crate::common::json_lines(&env.ok(&["members", "--format", "json"]));
    let ngo = members.iter().find(|m| m["id"] == "ngo").unwrap();
    assert_eq!(ngo["iati_orgs"], serde_json::json!(["XI-EXAMPLE-1"]));
    let r = import(&env, "ngo.key", &file, &[]);
    assert_eq!(r["country"], "ML", "the ledger's one country");
    assert_eq!(len(&r, "recorded"), 9);
    reconciles(&env, &r, "ngo", "the registered publisher");
    env.ok(&["verify"]);
}

/// Counts, without the importer, the transactions of the mapped types in the activities an
/// import selects: (commitments, deliveries).
fn count(file: &std::path::Path, org: &str, country: Option<&str>) -> (usize, usize) {
    let text = std::fs::read_to_string(file).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let (mut c, mut d) = (0, 0);
    let code_of = |n: roxmltree::Node, name: &str| {
        n.children().find(|x| x.has_tag_name(name)).and_then(|x| x.attribute("code")).map(|s| s.trim().to_owned())
    };
    for a in doc.root_element().children().filter(|n| n.has_tag_name("iati-activity")) {
        let rep = a.children().find(|n| n.has_tag_name("reporting-org")).and_then(|n| n.attribute("ref"));
        if rep != Some(org) {
            continue;
        }
        let txs: Vec<_> = a.children().filter(|n| n.has_tag_name("transaction")).collect();
        if let Some(cc) = country {
            let at_activity =
                a.children().any(|n| n.has_tag_name("recipient-country") && n.attribute("code") == Some(cc));
            let in_tx = txs.iter().any(|t| code_of(*t, "recipient-country").as_deref() == Some(cc));
            if !at_activity && !in_tx {
                continue;
            }
        }
        for t in txs {
            if let (Some(cc), Some(tc)) = (country, code_of(t, "recipient-country")) {
                if tc != cc {
                    continue;
                }
            }
            match code_of(t, "transaction-type").as_deref() {
                Some("2" | "12" | "C") => c += 1,
                Some("3" | "4" | "D" | "E") => d += 1,
                _ => {}
            }
        }
    }
    (c, d)
}

#[test]
fn real_donor_files_including_mali() {
    let Some(dir) = shared() else { return };
    let cases = [
        // Norad's 85 activities of a d-portal export, three of them in Mali.
        ("real/hdx-scraper-iati-viz__dportal_29.xml", Some("NO-BRC-971277882"), None),
        // Global Affairs Canada's activities in Mali, one a 12-country activity at 8.3%.
        ("real/hdx-scraper-iati-viz__dportal_8.xml", Some("CA-3"), Some("ML")),
        // DFID's 1.01 country file for DR Congo: letter codes C, D, E.
        ("real/iati-datastore__CD.xml", Some("GB-1"), None),
        // AFD's activities in Mali: parents without transactions, children with them.
        ("real/hdx-scraper-iati-viz__dportal_18.xml", Some("FR-3"), Some("ML")),
        // USAID's, a country and a sector on each transaction, disbursements dated before
        // later commitments.
        ("real/hdx-scraper-iati-viz__dportal_61.xml", Some("US-GOV-1"), Some("ML")),
        // Tearfund's 1.0x file: disbursements with no commitment, reported with their amounts.
        ("real/iati-datastore__tearfund-cd.xml", Some("GB-CHC-265464"), None),
    ];
    for (name, org, country) in cases {
        let org = org.expect("each case names its publisher");
        let env = with_donor_of(org);
        let file = dir.join(name);
        let mut sel = vec!["--reporting-org", org];
        match country {
            Some(cc) => sel.extend(["--country", cc]),
            None => sel.push("--all-countries"),
        }
        import(&env, "dns.key", &file, &[&sel[..], &["--define-only"]].concat());
        let r = import(&env, "donor.key", &file, &sel);
        let (c, d) = count(&file, org, country);
        assert!(c + d > 0, "{name}: the selection has transactions");
        assert_eq!((r["commitments"].as_u64(), r["deliveries"].as_u64()), (Some(c as u64), Some(d as u64)), "{name}");
        // Every mapped transaction was recorded or is reported, once: none is dropped.
        let mut seen: std::collections::BTreeSet<(String, u64)> = std::collections::BTreeSet::new();
        for e in r["recorded"].as_array().unwrap() {
            assert!(seen.insert((e["activity"].as_str().unwrap().to_owned(), e["transaction"].as_u64().unwrap())));
        }
        for s in r["not_recorded"].as_array().unwrap().iter().filter(|s| s["transaction"].is_u64()) {
            assert!(seen.insert((s["activity"].as_str().unwrap().to_owned(), s["transaction"].as_u64().unwrap())));
        }
        let mapped = (r["commitments"].as_u64().unwrap() + r["deliveries"].as_u64().unwrap()) as usize;
        assert_eq!(seen.len(), mapped, "{name}: {:?}", reasons(&r));
        reconciles(&env, &r, "donor", name);
        // Nothing real is refused for the order of its dates or for going past its pledge.
        let refused: Vec<String> =
            reasons(&r).into_iter().filter(|x| x.contains("before") || x.contains("more than")).collect();
        assert!(refused.is_empty(), "{name}: {refused:?}");
        assert_eq!(statuses(&env, "donor").len(), steps(&r, "pledge"), "{name}");
        eprintln!(
            "{name}: {} recorded, {} not recorded; {}",
            len(&r, "recorded"),
            len(&r, "not_recorded"),
            r["reconciliation"]
        );
        env.ok(&["verify"]);
        let state = env.state();
        let again = import(&env, "donor.key", &file, &sel);
        assert_eq!(len(&again, "recorded"), 0, "{name}");
        assert_eq!(len(&again, "already"), len(&r, "recorded"), "{name}: the re-import count");
        assert_eq!(env.state(), state, "{name}: a second import changes nothing");
    }
}

#[test]
fn malformed_files_from_validators_are_refused_or_reported() {
    let Some(dir) = shared() else { return };
    let env = with_donor();
    let mut refused = 0;
    for entry in std::fs::read_dir(dir.join("edge")).unwrap() {
        let path = entry.unwrap().path();
        let before = env.state();
        // As a convener defining what a file needs: every activity read, whoever reports it.
        let out = env.run(&["--key", "dns.key", "import", "iati", path.to_str().unwrap(), "--define-only"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => continue,
            Some(1) => {
                refused += 1;
                assert_eq!(stderr.trim_end().lines().count(), 1, "{}: {stderr}", path.display());
                assert!(stderr.starts_with("pledger: "), "{}: {stderr}", path.display());
            }
            other => panic!("{}: exit {other:?}: {stderr}", path.display()),
        }
        assert_eq!(env.state(), before, "{}", path.display());
    }
    assert!(refused >= 5, "the not-XML, broken and non-IATI files are refused ({refused})");
}

/// A failure of the store during an import — here the records of the members, which the rules
/// read for every event, garbled behind pledger's back — stops it: nothing is recorded, not
/// even what came before, and the failure is not reported as a transaction "not recorded".
#[test]
fn a_storage_failure_during_an_import_commits_nothing() {
    let env = with_donor();
    let f = fixture("mali-hmis.xml");
    let f = f.to_str().unwrap();
    env.ok(&["--key", "dns.key", "import", "iati", f, "--define-only"]);
    let log = env.ok(&["log", "--format", "json"]);
    let members: Vec<Vec<u8>> = {
        let db = crate::common::open_directly(&env);
        db.scan_prefix(b"m").keys().map(|k| k.unwrap().to_vec()).collect()
    };
    crate::common::behind_the_back(&env, |db| {
        for k in &members {
            db.insert(k, &b"\xff\xff\xff\xff"[..]).unwrap();
        }
    });
    let out = env.run(&["--key", "donor.key", "import", "iati", f, "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("ledger is damaged"), "{err}");
    assert!(out.stdout.is_empty(), "a report was printed: {}", String::from_utf8_lossy(&out.stdout));
    // Every entry as it was: read straight from the store, since the members are unreadable.
    let db = crate::common::open_directly(&env);
    let entries = db.scan_prefix(b"e").count();
    assert_eq!(entries, log.lines().count(), "the import wrote entries");
}
