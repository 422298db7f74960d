//! `pledger report --html`: the page's parts checked against the projections of the same
//! ledger, its self-containment, its palette's contrasts, and its rendering in headless Chromium
//! at a phone's width and a desktop's, with no horizontal overflow (installed by .ci/run; the
//! rendering tests say they were skipped where Chromium is absent).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{demo, json_lines, Env};

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

/// The page's sections, in their order: money first, the checkpoint to verify it by last.
const SECTIONS: [&str; 7] = ["money", "follow-through", "over-time", "coverage", "overdue", "pledges", "verify"];

#[test]
fn the_demo_report_leads_with_money_and_ends_with_its_checkpoint() {
    let env = demo();
    let html = report(&env, &["--as-of", AS_OF]);
    let at: Vec<usize> = SECTIONS
        .iter()
        .map(|id| html.find(&format!("<section id=\"{id}\">")).unwrap_or_else(|| panic!("section {id}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "sections out of order: {at:?}");
    // Self-contained: nothing to fetch, nothing to run (url(#…) names a pattern of the page).
    for needle in ["<script", "<link", " src=", "@import", "http://", "https://"] {
        assert!(!html.contains(needle), "the report contains {needle:?}");
    }
    assert!(html.split("url(").skip(1).all(|rest| rest.starts_with('#')), "a url( that is not a fragment");
    // Money: per member and unit, the scorecard's sums; per unit, their totals.
    let card = json_lines(&env.ok(&["scorecard", "--format", "json", "--as-of", AS_OF]));
    let money = &html[at[0]..at[1]];
    let mut rows = 0;
    for m in &card {
        for s in m["sums"].as_array().unwrap() {
            let unit = s["currency"].as_str().or(s["unit"].as_str()).unwrap();
            let row = money
                .split("<tr>")
                .find(|r| {
                    r.contains(&format!("<span class=\"id\">{}</span>", m["member"].as_str().unwrap()))
                        && r.contains(&format!("<span>{unit}</span>"))
                })
                .unwrap_or_else(|| panic!("no row for {} in {unit}", m["member"]));
            let grouped = |v: u64| {
                let u = match s["currency"].as_str() {
                    Some(c) => pledger_core::Unit::currency(c).unwrap(),
                    None => pledger_core::Unit::count(unit).unwrap(),
                };
                let text = u.format(v);
                text.replace(&format!("{unit} "), "").replace(&format!(" {unit}"), "")
            };
            for field in ["pledged", "withdrawn", "claimed", "confirmed"] {
                let v = grouped(s[field].as_u64().unwrap());
                assert!(
                    row.contains(&format!("data-label=\"{field}\" class=\"num\"><span>{v}</span>")),
                    "{field} {v} in {row}"
                );
            }
            rows += 1;
        }
    }
    assert_eq!(
        money.matches("<tr><td data-label=\"member\"><span>").count() - money.matches("all members").count(),
        rows
    );
    assert!(money.contains("<b>XOF 137,000,000</b> pledged"), "the headline per currency");
    // Follow-through per pledge: one bar per member that pledged, labelled as a mean per pledge.
    let pledgers = card.iter().filter(|m| m["pledges"].as_u64() > Some(0)).count();
    assert_eq!(html.matches("<div class=\"member\"").count(), pledgers);
    assert!(html.contains("data-member=\"psi\""));
    assert!(html.contains("each pledge counting once whatever its size"));
    // Over time: one figure per unit, each drawn for a desktop and a phone, with the claimed series.
    let status = json_lines(&env.ok(&["status", "--format", "json", "--as-of", AS_OF]));
    let mut units: Vec<String> =
        status.iter().map(|s| s["currency"].as_str().or(s["unit"].as_str()).unwrap().to_owned()).collect();
    units.sort();
    units.dedup();
    assert_eq!(html.matches("<figure class=\"timeline\"").count(), units.len());
    assert_eq!(html.matches("<svg class=\"chart wide\"").count(), units.len());
    assert_eq!(html.matches("<svg class=\"chart narrow\"").count(), units.len());
    assert_eq!(html.matches("<path class=\"series claimed\"").count(), 2 * units.len());
    assert!(html.contains("claimed so far: XOF 113,000,000"), "the claimed series ends at the status's claimed");
    // The map: Mali's nine regions, Kidal the gap; the districts as tiles; every area in a table.
    assert_eq!(html.matches("<path class=\"region ").count(), 9);
    assert!(html.contains("<path class=\"region gap\" data-code=\"ML-8\""));
    assert!(html.contains("<path class=\"region covered\" data-code=\"ML-3\""));
    assert!(html.contains("<div class=\"tile covered\" data-code=\"ML-3-KTL\""));
    assert!(html.contains("Mali (niveau central) · ML, as a whole"), "no doubled parentheses");
    let cov = json_lines(&env.ok(&["coverage", "--format", "json", "--as-of", AS_OF]));
    let coverage = &html[at[3]..at[4]];
    assert_eq!(coverage.matches("<tr class=\"depth").count(), cov.len());
    // Overdue: exactly the pledges `status` calls overdue on that date, with names.
    let overdue: Vec<&str> =
        status.iter().filter(|s| s["state"] == "overdue").map(|s| s["id"].as_str().unwrap()).collect();
    let table = &html[at[4]..at[5]];
    assert_eq!(table.matches("<tr><td data-label=\"pledge\"><span>P-").count(), overdue.len());
    for id in &overdue {
        assert!(table.contains(&format!("<tr><td data-label=\"pledge\"><span>{id}</span>")), "{id}");
    }
    assert!(table.contains("Organisation mondiale de la Santé, Mali"), "the pledger's name");
    // Every pledge, with its state.
    let pledges = &html[at[5]..at[6]];
    assert_eq!(pledges.matches("<tr><td data-label=\"pledge\">").count(), status.len());
    // The checkpoint it shows is the one the ledger keeps, and its signature verified.
    let root = kept_checkpoint(&env);
    assert!(html.contains(&format!("<dt>root (base64)</dt><dd><code>{root}</code>")), "{root}");
    assert!(html.contains("signature verified"));
}

/// WCAG 2.1's relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap()) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn the_palette_passes_wcag_contrast_and_no_status_is_told_by_colour_alone() {
    let env = demo();
    let html = report(&env, &["--as-of", AS_OF]);
    // The colours, as the page's own style sheet defines them.
    let root = &html[html.find(":root{").unwrap() + 6..];
    let root = &root[..root.find('}').unwrap()];
    let color = |name: &str| -> String {
        let at = root.find(&format!("--{name}:")).unwrap_or_else(|| panic!("no --{name}"));
        root[at + name.len() + 3..].split(';').next().unwrap().to_owned()
    };
    // The map's three statuses, pairwise, and neighbouring bar segments: ≥ 3:1 (WCAG 1.4.11),
    // so that they differ in lightness, which every reader sees. The gap's red hatch stands out
    // from the gap's ground.
    for (a, b) in [
        ("covered", "promised"),
        ("promised", "gap"),
        ("covered", "gap"),
        ("confirmed", "claimed"),
        ("claimed", "rest"),
        ("rest", "withdrawn"),
        ("gap", "gap-line"),
    ] {
        let c = contrast(&color(a), &color(b));
        assert!(c >= 3.0, "{a} {} against {b} {}: {c:.2}:1", color(a), color(b));
    }
    // Text: the ink on the page and white on the covered fill, ≥ 4.5:1 (WCAG 1.4.3).
    assert!(contrast(&color("ink"), "#ffffff") >= 4.5);
    assert!(contrast(&color("covered"), "#ffffff") >= 4.5);
    // A cue beside colour: patterns for promised and gap on the map, each status in words on
    // it, and stripes for the claimed and withdrawn shares of the bars.
    assert!(html.contains("<path class=\"region gap\" data-code=\"ML-8\" d=\""));
    assert!(html.contains("fill=\"url(#pat-gap)\""));
    assert!(html.contains("<tspan class=\"status\" x=\"") && html.contains(">gap</tspan>"));
    for class in ["claimed", "withdrawn", "promised", "gap"] {
        assert!(html.contains(&format!(".{class}{{background:repeating-linear-gradient")), "{class} striped");
    }
}

#[test]
fn a_report_at_a_log_position_and_bad_input() {
    let env = demo();
    let html = report(&env, &["--at", "20"]);
    assert!(html.contains("<dt>tree size</dt><dd><code>20</code>"));
    assert!(html.contains("No signed checkpoint of this size is kept"));
    assert_eq!(html.matches("<div class=\"member\"").count(), 0, "no pledge among the first 20 entries");
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
    // Read while it runs: a page's DOM is larger than a pipe holds.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| out)
    });
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
    reader.join().unwrap().unwrap()
}

/// The script a probe copy of the page runs (the report itself runs none): a marker in the
/// corner, a tenth of the viewport wide, green if the page fits its width, magenta if it
/// overflows sideways; checked again after the headless window takes its size.
const PROBE: &str = "<script>(function(){var m=document.createElement('div');document.body.appendChild(m);\
function check(){var d=document.documentElement;m.style.cssText='position:fixed;top:0;left:0;height:30px;\
z-index:99999;width:'+Math.round(d.clientWidth/10)+'px;background:'+(d.scrollWidth>d.clientWidth?'#ff00ff':'#00ff00');}\
check();window.addEventListener('resize',check);setTimeout(check,100);})();</script>";

/// The screenshot's pixels at `width` × `height`, and its channels per pixel.
/// A page with a script is given two seconds of virtual time to run it.
fn screenshot(bin: &str, profile: &Path, page: &Path, png: &Path, width: u32, height: u32) -> (Vec<u8>, usize) {
    let mut args = vec![format!("--screenshot={}", png.display()), format!("--window-size={width},{height}")];
    if std::fs::read_to_string(page).unwrap().contains("<script>") {
        args.push("--virtual-time-budget=2000".into());
    }
    args.push(format!("file://{}", page.display()));
    headless(bin, profile, &args);
    let decoder = png::Decoder::new(std::fs::File::open(png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (width, height));
    buf.truncate(info.buffer_size());
    (buf, info.color_type.samples())
}

#[test]
fn chromium_renders_the_report_on_a_phone_and_a_desktop_without_overflow() {
    let Some(bin) = chromium() else {
        crate::common::unavailable("chromium (Debian: apt-get install chromium; .ci/run does it)");
        return;
    };
    let env = demo();
    let html = report(&env, &["--as-of", AS_OF]);
    let url = format!("file://{}", env.path("r.html").display());
    let profile = tempfile::tempdir().unwrap();
    let dom = String::from_utf8(headless(&bin, profile.path(), &["--dump-dom".into(), url])).unwrap();
    for id in SECTIONS {
        assert!(dom.contains(&format!("<section id=\"{id}\">")), "the rendered page lacks section {id}");
    }
    assert_eq!(dom.matches("<path class=\"region ").count(), 9);
    // A probe copy: the page and its marker. A copy that overflows on purpose proves the probe.
    let probe = env.path("probe.html");
    std::fs::write(&probe, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let wide = env.path("wide.html");
    std::fs::write(&wide, html.replace("</body>", &format!("<div style=\"width:1500px\">x</div>{PROBE}</body>")))
        .unwrap();
    for width in [390u32, 1280] {
        let marker = |page: &Path| {
            let (px, ch) = screenshot(&bin, profile.path(), page, &env.path(&format!("m{width}.png")), width, 900);
            let row: Vec<&[u8]> = px[10 * width as usize * ch..11 * width as usize * ch].chunks(ch).collect();
            let green = row.iter().filter(|p| p[..3] == [0, 255, 0]).count();
            let magenta = row.iter().filter(|p| p[..3] == [255, 0, 255]).count();
            (green, magenta)
        };
        let tenth = ((width as f64) / 10.0).round() as usize;
        assert_eq!(marker(&probe), (tenth, 0), "at {width} px the page overflows sideways (or the probe did not run)");
        assert_eq!(marker(&wide), (0, tenth), "at {width} px the probe does not see an overflow");
    }
    // What is drawn: at a desktop's width the confirmed navy, the claimed stripes, the gap's
    // red hatch; at a phone's, the same, the bars and the map made for its width.
    for (width, height) in [(1280u32, 6000u32), (390, 12000)] {
        let (px, ch) =
            screenshot(&bin, profile.path(), &env.path("r.html"), &env.path(&format!("r{width}.png")), width, height);
        let pixels: Vec<&[u8]> = px.chunks(ch).collect();
        // Pixels near a colour: patterns' edges are blended.
        let count = |rgb: [u8; 3]| pixels.iter().filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 16)).count();
        assert!(count([0x0b, 0x3c, 0x6e]) > 5_000, "confirmed navy at {width}");
        assert!(count([0x4f, 0x8b, 0xd6]) > 300, "claimed blue at {width}");
        assert!(count([0xb2, 0x18, 0x2b]) > 200, "the gap's red at {width}");
    }
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
    assert!(html.contains("<div class=\"tile promised\" data-code=\"SN-DK\""));
    assert!(html.contains("<div class=\"tile gap\" data-code=\"SN-TH\""));
    assert!(html.contains("<div class=\"tile promised\" data-code=\"SN\""));
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
    let table = &html[html.find("<section id=\"overdue\">").unwrap()..html.find("<section id=\"pledges\">").unwrap()];
    assert_eq!(table.matches("<tr><td data-label=\"pledge\"><span>P-").count(), 100);
    assert!(
        table.contains(&format!(
            "{overdue} pledges past their due date — or, pledged in tranches, a tranche's — on {as_of}"
        )),
        "{}",
        &table[..300]
    );
    assert!(table.contains(&format!("And {} more, less late", overdue - 100)));
    // Every pledge: the first 300, and how many more.
    let pledges = &html[html.find("<section id=\"pledges\">").unwrap()..];
    assert_eq!(pledges.matches("<tr><td data-label=\"pledge\"><span>P-").count(), 300);
    assert!(pledges.contains(&format!("And {} more", status.len() - 300)), "{}", &pledges[..200]);
    assert_eq!(html.matches("<div class=\"member\"").count(), {
        let card = json_lines(&env.ok(&["scorecard", "--format", "json", "--as-of", as_of]));
        card.iter().filter(|m| m["pledges"].as_u64() > Some(0)).count()
    });
}
