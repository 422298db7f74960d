//! The report's drawings, as inline SVG text. Pixel geometry is integer arithmetic on the
//! figures' minor units and parts per million, so the same ledger always draws the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pledger_core::projection::AreaCoverage;
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

/// A value in major units, short: `1.2M`, `450k`, `37`.
fn compact(u: &Unit, v: Total) -> String {
    let major = v / 10u128.pow(u.exponent());
    let short = |n: Total, div: Total, suffix: &str| {
        let tenths = (n * 10 + div / 2) / div;
        if tenths >= 1000 {
            // Three digits or more: whole units, rounded half up.
            format!("{}{suffix}", (n + div / 2) / div)
        } else if tenths.is_multiple_of(10) {
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

/// The colours of the report, by class: one meaning each. Their contrasts are checked by the
/// report's tests (tests/report.rs): the map's three classes, and neighbouring bar segments, are
/// at least 3:1 apart in luminance (WCAG 2.1 non-text contrast), so that they differ for readers
/// who do not tell hues apart; each also has a pattern or a dash of its own.
pub const PALETTE: &[(&str, &str)] = &[
    ("confirmed", "#0b3c6e"),
    ("claimed", "#4f8bd6"),
    ("withdrawn", "#7a7a7a"),
    ("rest", "#f0f0f0"),
    ("covered", "#0b3c6e"),
    ("promised", "#b97a10"),
    ("gap", "#fdf0f0"),
    ("gap-line", "#b2182b"),
    ("pledged", "#1d1d1f"),
];

/// A class's colour.
pub fn color(class: &str) -> &'static str {
    PALETTE.iter().find(|(c, _)| *c == class).map_or("#f0f0f0", |(_, v)| *v)
}

/// How a chart is laid out: for a wide screen, or for a phone.
#[derive(Clone, Copy)]
pub struct Frame {
    pub class: &'static str,
    pub width: i64,
    pub left: i64,
    pub plot_width: i64,
    pub plot_height: i64,
    pub font: i64,
}

/// A desktop's chart: 1,000 units wide, drawn at about its size.
pub const WIDE: Frame = Frame { class: "wide", width: 1000, left: 70, plot_width: 900, plot_height: 170, font: 12 };
/// A phone's chart: 420 units wide, drawn at about 360 pixels.
pub const NARROW: Frame = Frame { class: "narrow", width: 420, left: 54, plot_width: 350, plot_height: 190, font: 14 };

/// One month of the running totals.
#[derive(Clone, Copy, Default)]
pub struct Sums {
    pub pledged: Total,
    pub claimed: Total,
    pub confirmed: Total,
    pub withdrawn: Total,
}

/// Running totals by month (`month index → sums at its end`), as step lines: pledged, claimed,
/// confirmed, withdrawn. The axis runs one month past the last, so that its change is seen.
pub fn timeline(u: &Unit, points: &[(i64, Sums)], f: Frame) -> String {
    const TOP: i64 = 20;
    let (Some(first), Some(last)) = (points.first().map(|p| p.0), points.last().map(|p| p.0)) else {
        return String::new();
    };
    let end = last + 1;
    let max = points
        .iter()
        .map(|(_, r)| r.pledged.max(r.claimed).max(r.confirmed).max(r.withdrawn))
        .max()
        .unwrap_or(1)
        .max(1);
    let (left, pw, ph) = (f.left, f.plot_width, f.plot_height);
    let x = |i: i64| left + (i - first) * pw / (end - first);
    // v ≤ max < 2^117, so v × ph fits.
    let y = |v: Total| TOP + ph - (v * ph as Total / max) as i64;
    let base = TOP + ph;
    type Series = (&'static str, fn(&Sums) -> Total, &'static str, &'static str);
    let series: [Series; 4] = [
        ("pledged", |r| r.pledged, "2", ""),
        ("claimed", |r| r.claimed, "2.5", " stroke-dasharray=\"8 4\""),
        ("confirmed", |r| r.confirmed, "3.5", ""),
        ("withdrawn", |r| r.withdrawn, "2", " stroke-dasharray=\"2 3\""),
    ];
    // The legend: each series with its dash and its value at the end, in as many rows as the
    // width needs.
    let last_sums = points.last().map(|p| p.1).unwrap_or_default();
    let mut legend = String::new();
    let mut ly = base + 2 * f.font + 10;
    let mut lx = left;
    for (k, (class, pick, width, dash)) in series.iter().enumerate() {
        let label = format!("{class} so far: {}", u.format(pick(&last_sums)));
        let room = 34 + (label.chars().count() as i64) * f.font * 55 / 100;
        if k > 0 && lx + room > f.width {
            lx = left;
            ly += f.font + 8;
        }
        let _ = writeln!(
            legend,
            "<line x1=\"{lx}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{width}\"{dash}/><text x=\"{}\" y=\"{}\" font-size=\"{}\">{}</text>",
            lx + 26,
            ly - f.font / 3,
            ly - f.font / 3,
            color(class),
            lx + 32,
            ly,
            f.font,
            esc(&label)
        );
        lx += room + 16;
    }
    let height = ly + f.font;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"chart {}\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" role=\"img\" \
         aria-label=\"Pledged, claimed and confirmed over time, {unit}\">",
        f.class,
        w = f.width,
        unit = esc(u.name()),
    );
    for k in 0..=4 {
        let v = max * k / 4;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"#e3e3e3\"/><text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 6,
            y(v) + 4,
            f.font,
            esc(&compact(u, v)),
            yy = y(v)
        );
    }
    // A tick every month (every quarter over six years). Labels where they fit, without
    // overlapping or leaving the drawing: the years first, then the quarters (spans under two
    // years), then the first month.
    let span = end - first;
    let base = TOP + ph;
    for i in first..=end {
        let month = i.rem_euclid(12);
        if span <= 72 || month % 3 == 0 {
            let _ = writeln!(
                s,
                "<line class=\"tick\" x1=\"{xx}\" x2=\"{xx}\" y1=\"{base}\" y2=\"{}\" stroke=\"#999\"/>",
                base + if month == 0 { 7 } else { 4 },
                xx = x(i)
            );
        }
    }
    let text_of = |i: i64| {
        if i.rem_euclid(12) == 0 && span >= 24 {
            (i / 12).to_string()
        } else {
            format!("{}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1)
        }
    };
    // A label's half width, in the drawing's units (a digit is about 0.6 em).
    let half = |t: &str| (t.len() as i64 * f.font * 6 / 10) / 2 + f.font / 2;
    let mut placed: Vec<(i64, i64)> = Vec::new();
    let candidates = (first..=end)
        .filter(|i| i.rem_euclid(12) == 0)
        .chain((first..=end).filter(|i| span < 24 && i.rem_euclid(12) % 3 == 0 && i.rem_euclid(12) != 0))
        .chain(std::iter::once(first));
    for i in candidates {
        let (t, cx) = (text_of(i), x(i));
        let hw = half(&t);
        let fits = cx - hw >= 0 && cx + hw <= f.width && placed.iter().all(|(px, pw)| (cx - px).abs() >= hw + pw);
        if fits {
            placed.push((cx, hw));
            let _ = writeln!(
                s,
                "<text x=\"{cx}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\">{t}</text>",
                base + 8 + f.font,
                f.font
            );
        }
    }
    for (class, pick, width, dash) in series {
        let mut d = format!("M{},{}", x(first), y(0));
        let mut prev = 0;
        for (i, r) in points {
            let v = pick(r);
            let _ = write!(d, "L{},{}L{},{}", x(*i), y(prev), x(*i), y(v));
            prev = v;
        }
        let _ = write!(d, "L{},{}", x(end), y(prev));
        let _ = writeln!(
            s,
            "<path class=\"series {class}\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"{dash}/>",
            color(class)
        );
    }
    s.push_str(&legend);
    s.push_str("</svg>\n");
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

/// An area as people read it: its name, then its code (`Mali (niveau central) · ML`).
pub fn area_label(a: &AreaCoverage) -> String {
    if a.name.as_str() == a.code.as_str() {
        a.code.to_string()
    } else {
        format!("{} · {}", a.name, a.code)
    }
}

/// The patterns that tell the map's classes apart without colour: promised hatched, a gap
/// cross-hatched in red.
fn patterns() -> String {
    format!(
        "<defs><pattern id=\"pat-promised\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"8\" height=\"8\" fill=\"{p}\"/><rect width=\"2\" height=\"8\" fill=\"#ffffff\" fill-opacity=\"0.55\"/></pattern>\
         <pattern id=\"pat-gap\" width=\"10\" height=\"10\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"10\" height=\"10\" fill=\"{g}\"/><rect width=\"1.6\" height=\"10\" fill=\"{l}\"/><rect width=\"10\" height=\"1.6\" fill=\"{l}\"/></pattern></defs>\n",
        p = color("promised"),
        g = color("gap"),
        l = color("gap-line"),
    )
}

/// A class's paint on the map: its colour, or its pattern.
fn paint(class: &str) -> String {
    match class {
        "promised" | "gap" => format!("url(#pat-{class})"),
        "covered" => color("covered").to_owned(),
        _ => "#e6e6e6".to_owned(),
    }
}

/// The coverage map: the areas the embedded map knows, by status (colour and pattern), each
/// named; the areas it does not know come as tiles ([`tiles`]).
pub fn coverage(cov: &[AreaCoverage]) -> String {
    let (view, shapes) = mali();
    let drawn: Vec<&AreaCoverage> = cov.iter().filter(|a| shapes.contains_key(a.code.as_str())).collect();
    let parents: std::collections::BTreeSet<&str> =
        drawn.iter().filter_map(|a| a.parent.as_ref()).map(|p| p.as_str()).collect();
    let mut s = String::new();
    if !drawn.is_empty() {
        for p in cov.iter().filter(|a| parents.contains(a.code.as_str())) {
            let _ = writeln!(s, "<p>{}, as a whole: <b>{}</b>.</p>", esc(&area_label(p)), p.status.as_str());
        }
        // A margin of 10 around the map, so that the outer borders are not cut.
        let dim = |i: usize, default: i64| view.split(' ').nth(i).and_then(|v| v.parse().ok()).unwrap_or(default) + 20;
        let (w, h) = (dim(0, 600), dim(1, 565));
        let _ = writeln!(
            s,
            "<svg class=\"map\" viewBox=\"-10 -10 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Coverage map\">"
        );
        s.push_str(&patterns());
        for (code, shape) in &shapes {
            let (class, title) = match drawn.iter().find(|a| a.code.as_str() == *code) {
                Some(a) => (a.status.as_str(), format!("{}: {}", area_label(a), a.status.as_str())),
                None => ("unknown", format!("{code} {}: not an area of this ledger", shape.name)),
            };
            let _ = writeln!(
                s,
                "<path class=\"region {class}\" data-code=\"{code}\" d=\"{}\" fill=\"{}\" fill-rule=\"evenodd\" stroke=\"#fff\" stroke-width=\"1.5\"><title>{}</title></path>",
                shape.path,
                paint(class),
                esc(&title)
            );
        }
        for (code, shape) in &shapes {
            let (x, y) = shape.label;
            let area = drawn.iter().find(|a| a.code.as_str() == *code);
            let name = area.map_or(shape.name, |a| a.name.as_str());
            // The status in words under the name: a cue beside colour and pattern.
            let status = area.map_or("", |a| a.status.as_str());
            if shape.width < 25 {
                // Too small to hold its name (Bamako): the label sits beside it.
                let _ = writeln!(
                    s,
                    "<text class=\"label\" x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"end\" font-weight=\"600\" paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">{}<tspan class=\"status\" font-weight=\"400\"> ({status})</tspan> ▸</text>",
                    x - 8,
                    y + 4,
                    esc(name)
                );
            } else {
                let _ = writeln!(
                    s,
                    "<text class=\"label\" x=\"{x}\" y=\"{y}\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"600\" paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">{}<tspan class=\"status\" x=\"{x}\" dy=\"1.15em\" font-weight=\"400\">{status}</tspan></text>",
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
    s.push_str("<div class=\"tiles\">\n");
    for a in tiles {
        let class = a.status.as_str();
        let _ = writeln!(
            s,
            "<div class=\"tile {class}\" data-code=\"{code}\"><b>{name}</b><span>{code}{inside}</span><span class=\"status\">{class}</span></div>",
            code = esc(a.code.as_str()),
            name = esc(a.name.as_str()),
            inside = a.parent.as_ref().map(|p| format!(" · in {}", esc(p.as_str()))).unwrap_or_default(),
        );
    }
    s.push_str("</div>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_figures_round_half_up() {
        let usd = Unit::currency("USD").expect("USD is a currency");
        assert_eq!(compact(&usd, 56_250_000), "563k");
        assert_eq!(compact(&usd, 3_425_000_000), "34.3M");
        assert_eq!(compact(&usd, 13_700_000_000), "137M");
        assert_eq!(compact(&usd, 150_000), "1500");
        let xof = Unit::currency("XOF").expect("XOF is a currency");
        assert_eq!(compact(&xof, 2_000_000_000), "2G");
    }
}
