//! The report's drawings, as inline SVG text. Pixel geometry is integer arithmetic on the
//! figures' minor units and parts per million, so the same ledger always draws the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pledger_core::projection::{AreaCoverage, Coverage, MemberScore, MonthRow};
use pledger_core::{Total, Unit};

/// Text made safe for HTML and SVG, in element content and quoted attributes alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MILLION: u64 = 1_000_000;

/// Stacked bars: confirmed, claimed only, withdrawn, the rest — one row per member.
pub fn follow_through(rows: &[&MemberScore]) -> String {
    const LABEL: u64 = 310;
    const BAR: u64 = 420;
    const ROW: u64 = 36;
    let height = 40 + ROW * rows.len() as u64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 1000 {height}\" width=\"1000\" height=\"{height}\" role=\"img\" \
         aria-label=\"Follow-through per member\">"
    );
    let legend = [
        ("confirmed", "confirmed"),
        ("claimed", "claimed, not confirmed"),
        ("withdrawn", "withdrawn"),
        ("rest", "not delivered"),
    ];
    let mut x = LABEL;
    for (class, label) in legend {
        let _ = writeln!(
            s,
            "<rect class=\"legend {class}\" x=\"{x}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"17\" font-size=\"13\">{label}</text>",
            fill(class),
            x + 16
        );
        x += 16 + 9 * label.len() as u64;
    }
    for (i, m) in rows.iter().enumerate() {
        let y = 32 + ROW * i as u64;
        let confirmed = m.follow_through_ppm.min(MILLION);
        let claimed = m.claimed_rate_ppm.saturating_sub(confirmed).min(MILLION - confirmed);
        let withdrawn = m.withdrawn_share_ppm.min(MILLION - confirmed - claimed);
        let rest = MILLION - confirmed - claimed - withdrawn;
        let _ = writeln!(
            s,
            "<g class=\"member\" data-member=\"{id}\"><text x=\"{lx}\" y=\"{ty}\" font-size=\"14\" text-anchor=\"end\">{name}</text>\
             <text x=\"{lx}\" y=\"{ty2}\" font-size=\"11\" text-anchor=\"end\" fill=\"#666\">{id} · {n} pledge{pl}</text>",
            id = esc(m.member.as_str()),
            name = esc(&short(m.name.as_str(), 42)),
            lx = LABEL - 10,
            ty = y + 12,
            ty2 = y + 25,
            n = m.pledges,
            pl = if m.pledges == 1 { "" } else { "s" },
        );
        let mut x = LABEL;
        for (class, ppm) in [("confirmed", confirmed), ("claimed", claimed), ("withdrawn", withdrawn), ("rest", rest)] {
            let w = ppm * BAR / MILLION;
            if w > 0 {
                let _ = write!(
                    s,
                    "<rect class=\"bar {class}\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"26\" fill=\"{}\">\
                     <title>{}: {} {class}</title></rect>",
                    fill(class),
                    esc(m.member.as_str()),
                    crate::report::pct_text(ppm)
                );
            }
            x += w;
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"13\"><tspan font-weight=\"600\">{}</tspan> confirmed, {} claimed</text></g>",
            LABEL + BAR + 12,
            y + 18,
            crate::report::pct_text(confirmed),
            crate::report::pct_text(m.claimed_rate_ppm)
        );
    }
    s.push_str("</svg>");
    s
}

/// At most `max` characters, with an ellipsis when cut.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

fn fill(class: &str) -> &'static str {
    match class {
        "confirmed" | "covered" => "#2e7d32",
        "claimed" | "promised" => "#f2b632",
        "withdrawn" => "#8d8d8d",
        "gap" => "#c62828",
        "words" => "#1f4e79",
        _ => "#e8e8e8",
    }
}

fn month_index(m: &str) -> Option<i64> {
    let (y, mo) = m.split_once('-')?;
    Some(y.parse::<i64>().ok()? * 12 + mo.parse::<i64>().ok()? - 1)
}

/// A value in major units, short: `1.2M`, `450k`, `37`.
fn compact(u: &Unit, v: Total) -> String {
    let major = v / 10u128.pow(u.exponent());
    let short = |n: Total, div: Total, suffix: &str| {
        let tenths = (n * 10 + div / 2) / div;
        if tenths.is_multiple_of(10) || tenths >= 1000 {
            format!("{}{suffix}", tenths / 10)
        } else {
            format!("{}.{}{suffix}", tenths / 10, tenths % 10)
        }
    };
    match major {
        n if n >= 1_000_000_000 => short(n, 1_000_000_000, "G"),
        n if n >= 1_000_000 => short(n, 1_000_000, "M"),
        n if n >= 10_000 => short(n, 1_000, "k"),
        n => n.to_string(),
    }
}

/// Running totals by month, as step lines: words, confirmed, withdrawn.
pub fn timeline(u: &Unit, rows: &[&MonthRow]) -> String {
    const LEFT: i64 = 70;
    const TOP: i64 = 20;
    const PW: i64 = 900;
    const PH: i64 = 170;
    let points: Vec<(i64, &MonthRow)> = rows.iter().filter_map(|r| month_index(&r.month).map(|i| (i, *r))).collect();
    let (Some(first), Some(last)) = (points.first().map(|p| p.0), points.last().map(|p| p.0)) else {
        return String::new();
    };
    let last = last.max(first + 1);
    let max = points
        .iter()
        .map(|(_, r)| r.words_total.max(r.confirmed_total).max(r.withdrawn_total))
        .max()
        .unwrap_or(1)
        .max(1);
    let x = |i: i64| LEFT + (i - first) * PW / (last - first);
    // v ≤ max < 2^117, so v × PH fits.
    let y = |v: Total| TOP + PH - (v * PH as Total / max) as i64;
    let (end_words, end_conf, end_wd) =
        points.last().map(|(_, r)| (r.words_total, r.confirmed_total, r.withdrawn_total)).unwrap_or_default();
    let share = pledger_core::projection::ratio_of_totals_ppm(end_conf, end_words);
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"timeline\" data-unit=\"{unit}\"><figcaption><b>{unit}</b> — words {w}, confirmed {c} ({p}), withdrawn {wd}</figcaption>\n\
         <svg class=\"chart\" viewBox=\"0 0 1000 250\" width=\"1000\" height=\"250\" role=\"img\" aria-label=\"Words against confirmed deliveries, {unit}\">\n",
        unit = esc(u.name()),
        w = esc(&u.format(end_words)),
        c = esc(&u.format(end_conf)),
        p = crate::report::pct_text(share),
        wd = esc(&u.format(end_wd)),
    );
    for k in 0..=4 {
        let v = max * k / 4;
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"#e3e3e3\"/><text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            LEFT + PW,
            LEFT - 6,
            y(v) + 4,
            esc(&compact(u, v)),
            yy = y(v)
        );
    }
    let mut labelled = 0;
    for i in first..=last {
        if i.rem_euclid(12) == 0 || (i == first && (last - first) < 12) {
            let _ = writeln!(
                s,
                "<line x1=\"{xx}\" x2=\"{xx}\" y1=\"{}\" y2=\"{}\" stroke=\"#bbb\"/><text x=\"{xx}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
                TOP + PH,
                TOP + PH + 5,
                TOP + PH + 20,
                if i.rem_euclid(12) == 0 { (i / 12).to_string() } else { format!("{}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1) },
                xx = x(i)
            );
            labelled += 1;
        }
    }
    if labelled == 0 {
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\" font-size=\"12\">{}</text>",
            TOP + PH + 20,
            esc(&points[0].1.month)
        );
    }
    type Series = (&'static str, fn(&MonthRow) -> Total, &'static str);
    let series: [Series; 3] = [
        ("words", |r| r.words_total, ""),
        ("confirmed", |r| r.confirmed_total, ""),
        ("withdrawn", |r| r.withdrawn_total, " stroke-dasharray=\"6 4\""),
    ];
    for (class, pick, dash) in series {
        let mut d = format!("M{},{}", x(first), y(0));
        let mut prev = 0;
        for (i, r) in &points {
            let v = pick(r);
            let _ = write!(d, "L{},{}L{},{}", x(*i), y(prev), x(*i), y(v));
            prev = v;
        }
        let _ = write!(d, "L{},{}", x(last), y(prev));
        let _ = writeln!(
            s,
            "<path class=\"series {class}\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"{dash}/>",
            fill(class)
        );
    }
    let mut lx = LEFT + 10;
    for (class, label) in
        [("words", "words so far"), ("confirmed", "confirmed so far"), ("withdrawn", "withdrawn so far")]
    {
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{label}</text>",
            TOP + PH + 32,
            fill(class),
            lx + 18,
            TOP + PH + 37
        );
        lx += 30 + 7 * label.len() as i64;
    }
    s.push_str("</svg></figure>\n");
    s
}

/// One region's outline from the embedded map.
struct Shape {
    name: &'static str,
    path: &'static str,
    /// Where its label goes: the middle of its first ring's bounding box, and that box's width.
    label: (i64, i64),
    width: i64,
}

/// Mali's regions (see mali.txt's source in tools/mali_map.py), by ISO 3166-2 code.
fn mali() -> (&'static str, BTreeMap<&'static str, Shape>) {
    let text = include_str!("mali.txt");
    let mut lines = text.lines();
    let view = lines.next().and_then(|l| l.strip_prefix("viewBox ")).unwrap_or("600 565");
    let mut shapes = BTreeMap::new();
    for line in lines {
        let mut f = line.splitn(3, '\t');
        let (Some(code), Some(name), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let first_ring = path.split('Z').next().unwrap_or("");
        let nums: Vec<i64> = first_ring
            .split(['M', 'L', ','])
            .filter_map(|n| n.split('.').next().and_then(|w| w.parse().ok()))
            .collect();
        let xs: Vec<i64> = nums.iter().step_by(2).copied().collect();
        let ys: Vec<i64> = nums.iter().skip(1).step_by(2).copied().collect();
        let (x0, x1) = (xs.iter().min().copied().unwrap_or(0), xs.iter().max().copied().unwrap_or(0));
        let (y0, y1) = (ys.iter().min().copied().unwrap_or(0), ys.iter().max().copied().unwrap_or(0));
        shapes.insert(code, Shape { name, path, label: ((x0 + x1) / 2, (y0 + y1) / 2), width: x1 - x0 });
    }
    (view, shapes)
}

/// The coverage map: the areas the embedded map knows, coloured by status; every other area as
/// a tile in a grid.
pub fn coverage(cov: &[AreaCoverage]) -> String {
    let (view, shapes) = mali();
    let drawn: Vec<&AreaCoverage> = cov.iter().filter(|a| shapes.contains_key(a.code.as_str())).collect();
    let parents: std::collections::BTreeSet<&str> =
        drawn.iter().filter_map(|a| a.parent.as_ref()).map(|p| p.as_str()).collect();
    let mut s = String::new();
    let tip = |a: &AreaCoverage| {
        let members =
            |v: &pledger_core::projection::Members| v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        esc(&format!(
            "{} {}: {}; pledging: {}; delivered: {}",
            a.code,
            a.name,
            a.status.as_str(),
            if a.pledging.is_empty() { "none".into() } else { members(&a.pledging) },
            if a.delivered.is_empty() { "none".into() } else { members(&a.delivered) }
        ))
    };
    if !drawn.is_empty() {
        for p in cov.iter().filter(|a| parents.contains(a.code.as_str())) {
            let _ = writeln!(
                s,
                "<p>{} ({}) as a whole: <b>{}</b>.</p>",
                esc(p.name.as_str()),
                esc(p.code.as_str()),
                p.status.as_str()
            );
        }
        // A margin of 10 around the map, so that the outer borders are not cut.
        let dim = |i: usize, default: i64| view.split(' ').nth(i).and_then(|v| v.parse().ok()).unwrap_or(default) + 20;
        let (w, h) = (dim(0, 600), dim(1, 565));
        let _ = writeln!(
            s,
            "<svg class=\"map\" viewBox=\"-10 -10 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Coverage map\">"
        );
        for (code, shape) in &shapes {
            let (class, title) = match drawn.iter().find(|a| a.code.as_str() == *code) {
                Some(a) => (a.status.as_str(), tip(a)),
                None => ("unknown", esc(&format!("{code} {}: not an area of this ledger", shape.name))),
            };
            let _ = writeln!(
                s,
                "<path class=\"region {class}\" data-code=\"{code}\" d=\"{}\" fill=\"{}\" fill-rule=\"evenodd\" stroke=\"#fff\" stroke-width=\"1.5\"><title>{title}</title></path>",
                shape.path,
                fill(class)
            );
        }
        for (code, shape) in &shapes {
            let (x, y) = shape.label;
            let name = drawn.iter().find(|a| a.code.as_str() == *code).map_or(shape.name, |a| a.name.as_str());
            if shape.width < 25 {
                // Too small to hold its name (Bamako): the label sits beside it.
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\" font-weight=\"600\">{} ▸</text>",
                    x - 8,
                    y + 4,
                    esc(name)
                );
            } else {
                let _ = writeln!(
                    s,
                    "<text x=\"{x}\" y=\"{y}\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"600\" paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">{}</text>",
                    esc(name)
                );
            }
        }
        s.push_str("</svg>\n");
    }
    let tiles: Vec<&AreaCoverage> =
        cov.iter().filter(|a| !shapes.contains_key(a.code.as_str()) && !parents.contains(a.code.as_str())).collect();
    if tiles.is_empty() {
        return s;
    }
    if !drawn.is_empty() {
        s.push_str("<p>Areas the map does not draw:</p>\n");
    }
    const COLS: usize = 6;
    const W: usize = 160;
    const H: usize = 70;
    let rows = tiles.len().div_ceil(COLS);
    let _ = writeln!(
        s,
        "<svg class=\"tiles\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Coverage of the other areas\">",
        w = COLS * W,
        h = rows * H
    );
    for (i, a) in tiles.iter().enumerate() {
        let (x, y) = ((i % COLS) * W, (i / COLS) * H);
        let class = a.status.as_str();
        let text_fill = if a.status == Coverage::Promised { "#1d1d1f" } else { "#fff" };
        let name: String = a.name.as_str().chars().take(20).collect();
        let _ = writeln!(
            s,
            "<g class=\"tile {class}\" data-code=\"{code}\"><rect x=\"{rx}\" y=\"{ry}\" width=\"{rw}\" height=\"{rh}\" rx=\"4\" fill=\"{f}\"><title>{tip}</title></rect>\
             <text x=\"{tx}\" y=\"{t1}\" font-size=\"13\" font-weight=\"600\" style=\"fill:{text_fill}\">{code}</text>\
             <text x=\"{tx}\" y=\"{t2}\" font-size=\"12\" style=\"fill:{text_fill}\">{name}</text>\
             <text x=\"{tx}\" y=\"{t3}\" font-size=\"11\" style=\"fill:{text_fill}\">{class}{inside}</text></g>",
            code = esc(a.code.as_str()),
            rx = x + 3,
            ry = y + 3,
            rw = W - 6,
            rh = H - 6,
            f = fill(class),
            tip = tip(a),
            tx = x + 10,
            t1 = y + 22,
            t2 = y + 40,
            t3 = y + 57,
            name = esc(&name),
            inside = a.parent.as_ref().map(|p| format!(" · in {}", esc(p.as_str()))).unwrap_or_default(),
        );
    }
    s.push_str("</svg>\n");
    s
}
