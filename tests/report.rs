//! `pledger report --html`: the page's parts checked against the projections of the same
//! ledger, its self-containment, and its rendering in headless Chromium (installed by .ci/run;
//! the rendering test says it was skipped where Chromium is absent).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{demo, json_lines, Env};

const AS_OF: &str = "2016-06-30";

fn report(env: &Env, extra: &[&str]) -> String {
    let mut args = vec!["report", "--html", "r.html"];
    args.extend_from_slice(extra);
    env.ok(&args);
    std::fs::read_to_string(env.path("r.html")).unwrap()
}

/// The kept checkpoint of the demo, from its export bundle's header.
fn kept_checkpoint(env: &Env) -> String {
    env.ok(&["export", "b.jsonl"]);
    let bundle = std::fs::read_to_string(env.path("b.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(bundle.lines().next().unwrap()).unwrap();
    let text = header.to_string();
    let start = text.find("hmis.sante.gov.ml/pledges\\n63\\n").expect("a checkpoint of size 63");
    let root_line = &text[start..].split("\\n").nth(2).unwrap().to_owned();
    root_line.clone()
}

#[test]
fn the_demo_report_shows_four_parts_and_its_checkpoint() {
    let env = demo();
    let html = report(&env, &["--as-of", AS_OF]);
    for id in ["checkpoint", "follow-through", "words-vs-deliveries", "coverage", "overdue"] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "section {id}");
    }
    // Self-contained: nothing to fetch, nothing to run.
    for needle in ["<script", "<link", " src=", "url(", "@import", "http://", "https://"] {
        assert!(!html.contains(needle), "the report contains {needle:?}");
    }
    // Follow-through: one bar per member that pledged.
    let card = json_lines(&env.ok(&["scorecard", "--format", "json", "--as-of", AS_OF]));
    let pledgers = card.iter().filter(|m| m["pledges"].as_u64() > Some(0)).count();
    assert_eq!(html.matches("<g class=\"member\"").count(), pledgers);
    assert!(html.contains("data-member=\"psi\""));
    // Words against deliveries: one chart per unit.
    let status = json_lines(&env.ok(&["status", "--format", "json", "--as-of", AS_OF]));
    let mut units: Vec<String> =
        status.iter().map(|s| s["currency"].as_str().or(s["unit"].as_str()).unwrap().to_owned()).collect();
    units.sort();
    units.dedup();
    assert_eq!(html.matches("<figure class=\"timeline\"").count(), units.len());
    // The map: Mali's nine regions, Kidal the gap; the districts as tiles.
    assert_eq!(html.matches("<path class=\"region ").count(), 9);
    assert!(html.contains("<path class=\"region gap\" data-code=\"ML-8\""));
    assert!(html.contains("<path class=\"region covered\" data-code=\"ML-3\""));
    assert!(html.contains("<g class=\"tile covered\" data-code=\"ML-3-KTL\""));
    // Overdue: exactly the pledges `status` calls overdue on that date.
    let overdue: Vec<&str> =
        status.iter().filter(|s| s["state"] == "overdue").map(|s| s["id"].as_str().unwrap()).collect();
    let table = &html[html.find("<section id=\"overdue\">").unwrap()..];
    assert_eq!(table.matches("<tr><td>P-").count(), overdue.len());
    for id in &overdue {
        assert!(table.contains(&format!("<tr><td>{id}</td>")), "{id}");
    }
    // The checkpoint it shows is the one the ledger keeps, and its signature verified.
    let root = kept_checkpoint(&env);
    assert!(html.contains(&format!("<dt>root (base64)</dt><dd><code>{root}</code>")), "{root}");
    assert!(html.contains("signature verified"));
}

#[test]
fn a_report_at_a_log_position_and_bad_input() {
    let env = demo();
    let html = report(&env, &["--at", "20"]);
    assert!(html.contains("<dt>tree size</dt><dd><code>20</code>"));
    assert!(html.contains("No signed checkpoint of this size is kept"));
    assert_eq!(html.matches("<g class=\"member\"").count(), 0, "no pledge among the first 20 entries");
    let out = env.run(&["report", "--html", "r2.html", "--at", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--at 999: the ledger has only 63 entries"));
    let out = env.run(&["report", "--html", "r2.html", "--as-of", "2016-02-30"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["report", "--html", "no/such/dir/r.html"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end().lines().count(), 1);
    assert!(!env.path("r2.html").exists());
}

fn chromium() -> Option<String> {
    let candidates =
        [std::env::var("PLEDGER_CHROMIUM").unwrap_or_default(), "chromium".into(), "chromium-browser".into()];
    candidates.into_iter().filter(|c| !c.is_empty()).find(|c| {
        Command::new(c).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

/// Runs headless Chromium with the flags this machine needs; returns stdout.
fn headless(bin: &str, profile: &Path, args: &[String]) -> Vec<u8> {
    let mut child = Command::new(bin)
        .args([
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().ok();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    out
}

#[test]
fn chromium_renders_the_report() {
    let Some(bin) = chromium() else {
        common::unavailable("chromium (Debian: apt-get install chromium; .ci/run does it)");
        return;
    };
    let env = demo();
    report(&env, &["--as-of", AS_OF]);
    let url = format!("file://{}", env.path("r.html").display());
    let profile = tempfile::tempdir().unwrap();
    let dom = String::from_utf8(headless(&bin, profile.path(), &["--dump-dom".into(), url.clone()])).unwrap();
    for id in ["checkpoint", "follow-through", "words-vs-deliveries", "coverage", "overdue"] {
        assert!(dom.contains(&format!("<section id=\"{id}\">")), "the rendered page lacks section {id}");
    }
    assert_eq!(dom.matches("<path class=\"region ").count(), 9);
    let png = env.path("report.png");
    headless(&bin, profile.path(), &[format!("--screenshot={}", png.display()), "--window-size=1280,3400".into(), url]);
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 3400));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    // The bars are drawn: the confirmed green and the claimed amber are on the page.
    let count = |rgb: [u8; 3]| pixels.iter().filter(|p| p[..3] == rgb).count();
    assert!(count([0x2e, 0x7d, 0x32]) > 5_000, "confirmed green");
    assert!(count([0xf2, 0xb6, 0x32]) > 1_000, "claimed amber");
    // The map is drawn: Kidal, the gap, in red.
    assert!(count([0xc6, 0x28, 0x28]) > 2_000, "the gap's red");
}

#[test]
fn areas_without_a_shape_are_tiles_and_text_is_escaped() {
    let env = Env::new();
    env.keygen("a.key");
    env.keygen("b.key");
    env.write(
        "areas.csv",
        "code,name,level,parent\nSN,Sénégal,country,\nSN-DK,Dakar,region,SN\nSN-TH,Thiès,region,SN\n",
    );
    env.ok(&[
        "--key", "a.key", "--origin", "t.example/l", "init", "--org", "moh", "--name", "MoH", "--areas", "areas.csv",
    ]);
    env.ok(&[
        "--key", "a.key", "member", "add", "don", "--name", "Donor <script>", "--kind", "donor", "--pubkey",
        "b.key.pub",
    ]);
    env.ok(&[
        "--key", "b.key", "pledge", "--to", "moh", "--category", "funding", "--area", "SN-DK", "--amount", "100",
        "--currency", "XOF", "--due", "2020-01-01", "--title", "A & <b>B</b>", "--date", "2019-01-01",
    ]);
    let html = report(&env, &[]);
    assert_eq!(html.matches("<path class=\"region ").count(), 0, "no map for Senegal");
    assert!(html.contains("<g class=\"tile promised\" data-code=\"SN-DK\""));
    assert!(html.contains("<g class=\"tile gap\" data-code=\"SN-TH\""));
    assert!(html.contains("<g class=\"tile promised\" data-code=\"SN\""));
    assert!(html.contains("Donor &lt;script&gt;") && !html.contains("Donor <script>"));
    assert!(html.contains("A &amp; &lt;b&gt;B&lt;/b&gt;"));
    assert!(html.contains("P-000001"), "overdue on today's date");
}

#[test]
fn a_large_ledger_lists_the_hundred_most_late_and_counts_the_rest() {
    let env = Env::new();
    let mut envelopes = Vec::new();
    pledger_bench::generate(7, 3000, &mut envelopes, |_| {}).unwrap();
    let f = env.path("envelopes.jsonl");
    std::fs::write(&f, envelopes).unwrap();
    env.ok(&["submit", "--create", "-q", f.to_str().unwrap()]);
    let as_of = "2026-11-28";
    let status = json_lines(&env.ok(&["status", "--format", "json", "--as-of", as_of]));
    let overdue = status.iter().filter(|s| s["state"] == "overdue").count();
    assert!(overdue > 100, "the generated ledger has {overdue} overdue pledges");
    let html = report(&env, &["--as-of", as_of]);
    let table = &html[html.find("<section id=\"overdue\">").unwrap()..];
    assert_eq!(table.matches("<tr><td>P-").count(), 100);
    assert!(
        table.contains(&format!(
            "{overdue} pledges past their due date — or, pledged in tranches, a tranche's — on {as_of}"
        )),
        "{}",
        &table[..300]
    );
    assert!(table.contains(&format!("And {} more, less late", overdue - 100)));
    assert_eq!(html.matches("<g class=\"member\"").count(), {
        let card = json_lines(&env.ok(&["scorecard", "--format", "json", "--as-of", as_of]));
        card.iter().filter(|m| m["pledges"].as_u64() > Some(0)).count()
    });
}
