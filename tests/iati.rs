//! `pledger import iati`: a fixture written for the tests with exact expected counts, real files
//! published by donors (from ../shared/iati, skipped with a message where absent), and the
//! malformed files of validators' test suites.

mod common;

use std::path::PathBuf;

use common::Env;
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
        common::unavailable(&format!(
            "the IATI files of ../shared/iati at {} (or set PLEDGER_IATI_DIR)",
            dir.display()
        ));
        None
    }
}

/// The founded ledger of the other tests, with a donor member `donor` holding donor.key.
fn with_donor() -> Env {
    let env = Env::founded();
    env.keygen("donor.key");
    env.ok(&[
        "--key", "dns.key", "member", "add", "donor", "--name", "Example Donor", "--kind", "donor", "--pubkey",
        "donor.key.pub",
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

#[test]
fn the_fixture_maps_exactly_and_a_second_import_changes_nothing() {
    let env = with_donor();
    let file = fixture("mali-hmis.xml");
    let f = file.to_str().unwrap();
    // A donor cannot define areas or categories: it is told what is missing and who adds it.
    env.refused(
        &["--key", "donor.key", "import", "iati", f],
        1,
        "lacks area NE, area ML-G2451184, category dac-12110, category dac-12196; a convener defines them first",
    );
    let defs = import(&env, "dns.key", &file, &["--define-only"]);
    assert_eq!(defs["areas_defined"], serde_json::json!(["NE", "ML-G2451184"]));
    assert_eq!(defs["categories_defined"], serde_json::json!(["dac-12110", "dac-12196"]));
    assert_eq!(len(&defs, "pledges"), 0);

    let before = env.state();
    let dry = import(&env, "donor.key", &file, &["--dry-run"]);
    assert_eq!((len(&dry, "pledges"), len(&dry, "fulfillments")), (3, 4));
    assert_eq!(env.state(), before, "--dry-run records nothing");

    let r = import(&env, "donor.key", &file, &[]);
    assert_eq!((r["activities"].as_u64(), r["selected"].as_u64()), (Some(3), Some(3)));
    // 3 commitments (2, 12, C) → 3 pledges; 6 deliveries (3, 3, 4, 3, D, E): d1 whole, d2 spread
    // over both pledges (two events), D whole; e1, the reversal and the early E reported.
    assert_eq!((r["commitments"].as_u64(), r["deliveries"].as_u64()), (Some(3), Some(6)));
    assert_eq!(len(&r, "pledges"), 3);
    assert_eq!(len(&r, "fulfillments"), 4);
    let why = reasons(&r);
    assert_eq!(why.len(), 4, "{why:?}");
    assert!(why[0].starts_with("negative disbursement (-5000)"), "{why:?}");
    assert!(why[1].contains("before the activity's first commitment (2014-03-01)"), "{why:?}");
    assert_eq!(why[2], "no commitments, disbursements or expenditures");
    assert_eq!(
        why[3],
        "USD 100,000.00 delivered is more than the activity's commitments leave undelivered (USD 50,000.00)"
    );
    assert_eq!(r["ignored"], serde_json::json!({"1": 1}));

    let st = statuses(&env, "donor");
    let row = |title: &str| st.iter().find(|s| s["title"].as_str().unwrap().starts_with(title)).unwrap().clone();
    let first = row("DHIS 2 roll-out in Sikasso");
    assert_eq!((first["words"].as_u64(), first["claimed"].as_u64()), (Some(50_000_000), Some(50_000_000)));
    assert_eq!(first["areas"], serde_json::json!(["ML-G2451184"]));
    assert_eq!(first["category"], "dac-12196");
    assert_eq!(first["beneficiary"], "dns", "the founding convener by default");
    assert_eq!(first["due"], "2016-12-31");
    let equip = row("Equipment");
    assert_eq!((equip["words"].as_u64(), equip["claimed"].as_u64()), (Some(10_000_000), Some(4_000_000)));
    assert_eq!(equip["areas"], serde_json::json!(["ML", "NE"]));
    assert_eq!(equip["category"], "dac-12110", "the sector with the largest share");
    let show = env.ok(&["show", "F-000001", "--format", "json"]);
    assert!(
        show.contains("IATI XI-EXAMPLE-1-DHIS2-ML: disbursement 2014-09-01, ref d1: Servers and training"),
        "{show}"
    );

    // For a spreadsheet: a row per event and per transaction not recorded, with its line.
    let state = env.state();
    let csv_text = env.ok(&["--key", "donor.key", "import", "iati", f, "--dry-run", "--format", "csv"]);
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["outcome", "id", "activity", "transaction", "line", "reason"]
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4, "a dry run of an imported file: only what is never recorded");
    assert!(rows.iter().all(|r| &r[0] == "not recorded"));
    assert!(rows.iter().any(|r| r[5].starts_with("negative disbursement") && &r[3] == "7"));
    let again = import(&env, "donor.key", &file, &[]);
    assert_eq!((len(&again, "pledges"), len(&again, "fulfillments")), (0, 0));
    assert_eq!(again["already"].as_u64(), Some(6), "3 pledges and 3 deliveries found");
    assert_eq!(env.state(), state, "a second import changes nothing");
    env.ok(&["verify"]);
}

#[test]
fn a_country_takes_its_share() {
    let env = with_donor();
    let file = fixture("mali-hmis.xml");
    import(&env, "dns.key", &file, &["--define-only", "--country", "ML"]);
    let r = import(&env, "donor.key", &file, &["--country", "ML"]);
    assert_eq!((len(&r, "pledges"), len(&r, "fulfillments")), (3, 4));
    let equip =
        statuses(&env, "donor").into_iter().find(|s| s["title"].as_str().unwrap().starts_with("Equip")).unwrap();
    assert_eq!((equip["words"].as_u64(), equip["claimed"].as_u64()), (Some(7_500_000), Some(3_000_000)), "75%");
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
        "no activity of the file is reported by XM-9",
    );
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
        ("real/hdx-scraper-iati-viz__dportal_29.xml", "NO-BRC-971277882", None),
        // Global Affairs Canada's activities in Mali, one a 12-country activity at 8.3%.
        ("real/hdx-scraper-iati-viz__dportal_8.xml", "CA-3", Some("ML")),
        // DFID's 1.01 country file for DR Congo: letter codes C, D, E.
        ("real/iati-datastore__CD.xml", "GB-1", None),
        // AFD's activities in Mali: parents without transactions, children with them.
        ("real/hdx-scraper-iati-viz__dportal_18.xml", "FR-3", Some("ML")),
    ];
    for (name, org, country) in cases {
        let env = with_donor();
        let file = dir.join(name);
        let mut sel = vec!["--reporting-org", org];
        if let Some(cc) = country {
            sel.extend(["--country", cc]);
        }
        import(&env, "dns.key", &file, &[&sel[..], &["--define-only"]].concat());
        let r = import(&env, "donor.key", &file, &sel);
        let (c, d) = count(&file, org, country);
        assert!(c > 0, "{name}: the selection has commitments");
        assert_eq!((r["commitments"].as_u64(), r["deliveries"].as_u64()), (Some(c as u64), Some(d as u64)), "{name}");
        // Every mapped transaction became events or is reported: none is dropped.
        let mut recorded: std::collections::BTreeSet<(String, u64)> = std::collections::BTreeSet::new();
        for field in ["pledges", "fulfillments"] {
            for e in r[field].as_array().unwrap() {
                recorded.insert((e["activity"].as_str().unwrap().to_owned(), e["transaction"].as_u64().unwrap()));
            }
        }
        let reported = r["not_recorded"].as_array().unwrap().iter().filter(|s| s["transaction"].is_u64()).count();
        assert_eq!(recorded.len() + reported, c + d, "{name}: {:?}", reasons(&r));
        // The ledger holds what the report says.
        assert_eq!(statuses(&env, "donor").len(), len(&r, "pledges"), "{name}");
        let log = env.ok(&["log", "--format", "json"]);
        let kinds: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(kinds.iter().filter(|e| e["kind"] == "fulfillment").count(), len(&r, "fulfillments"), "{name}");
        eprintln!(
            "{name}: {c} commitments → {} pledges, {d} deliveries → {} fulfillments, {} reported",
            len(&r, "pledges"),
            len(&r, "fulfillments"),
            len(&r, "not_recorded")
        );
        let state = env.state();
        let again = import(&env, "donor.key", &file, &sel);
        assert_eq!((len(&again, "pledges"), len(&again, "fulfillments")), (0, 0), "{name}");
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
        let out = env.run(&["--key", "donor.key", "import", "iati", path.to_str().unwrap(), "--dry-run"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
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
        let db = common::open_directly(&env);
        db.scan_prefix(b"m").keys().map(|k| k.unwrap().to_vec()).collect()
    };
    common::behind_the_back(&env, |db| {
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
    let db = common::open_directly(&env);
    let entries = db.scan_prefix(b"e").count();
    assert_eq!(entries, log.lines().count(), "the import wrote entries");
}
