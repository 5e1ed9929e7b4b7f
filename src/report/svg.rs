//! Chart builders: plain numbers in, one inline `<svg>` element out. No
//! DataFusion and no I/O, so they are unit-tested on their own.
//!
//! Every chart is drawn in a fixed coordinate box (`viewBox`) that the page
//! scales to its width, so it fits a laptop screen and an A4 page alike.
//! Values that are NaN or infinite are left out and counted
//! ([`Chart::omitted`]), so the page can say so under the chart. Every
//! label goes through [`esc`].

use super::format::{esc, Unit};

/// Width of every chart's coordinate box.
const W: f64 = 720.0;
/// Colours: a blue for data, a grey for references, a pale blue for bands.
const DATA: &str = "#2b6cb0";
const SECOND: &str = "#dd6b20";
const REFERENCE: &str = "#a0aec0";
const BAND: &str = "#bee3f8";
const GRID: &str = "#e2e8f0";
/// The zero line.
const AXIS: &str = "#4a5568";
/// Width of a 12px label character, near enough to leave room for labels.
const CHAR_W: f64 = 7.2;

/// A drawn chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub svg: String,
    /// Values left out because they were NaN or infinite.
    pub omitted: usize,
}

/// Horizontal bars, one per category, in the order given (long category
/// names fit on the left).
pub fn bar_chart(bars: &[(String, f64)], x_label: &str, unit: &Unit) -> Chart {
    let (kept, omitted) = finite_pairs(bars);
    let row = 22.0;
    // Room on the left for the longest label, up to 46 characters.
    let longest = kept
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let left = (longest.min(46) as f64 * CHAR_W + 12.0).clamp(80.0, 320.0);
    let max_chars = ((left - 12.0) / CHAR_W) as usize;
    let top = 10.0;
    let plot_w = W - left - 70.0;
    let h = top + row * kept.len().max(1) as f64 + 44.0;
    let max = kept.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let min = kept.iter().map(|(_, v)| *v).fold(0.0_f64, f64::min);
    let ticks = nice_ticks(min, max, 5);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let x = |v: f64| left + (v - lo) / (hi - lo) * plot_w;
    let mut s = open(h, &format!("bar chart: {x_label}"));
    s += &x_grid(&ticks, top, h, unit, &x);
    if kept.is_empty() {
        s += &no_data(W / 2.0, top + row / 2.0 + 4.0);
    }
    for (i, (label, v)) in kept.iter().enumerate() {
        let y = top + row * i as f64;
        let (x0, x1) = (x(0.0_f64.max(lo)).min(x(*v)), x(0.0_f64.max(lo)).max(x(*v)));
        s += &format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="label">{}</text><rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{DATA}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" class="value">{}</text>"#,
            left - 6.0,
            y + row * 0.65,
            esc(&shorten(label, max_chars)),
            y + 3.0,
            (x1 - x0).max(0.5),
            row - 6.0,
            esc(label),
            esc(&unit.fmt(*v)),
            x1 + 4.0,
            y + row * 0.65,
            esc(&unit.fmt(*v))
        );
    }
    s += &axis_label_x(x_label, left + plot_w / 2.0, h - 4.0);
    s += "</svg>";
    Chart { svg: s, omitted }
}

/// One line of a [`line_chart`]: a value (or none) per x label, and an
/// optional band (low, high) drawn behind it.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub band: Option<Vec<Option<(f64, f64)>>>,
}

/// Lines over equally spaced x labels (periods, deciles, percentiles). A
/// missing or non-finite value breaks the line.
pub fn line_chart(
    x_labels: &[String],
    series: &[Series],
    x_label: &str,
    y_label: &str,
    unit: &Unit,
) -> Chart {
    let (left, right, top, bottom) = (70.0, 40.0, 14.0, 58.0);
    let h = 300.0;
    let plot_w = W - left - right;
    let plot_h = h - top - bottom;
    let mut omitted = 0;
    let mut all = Vec::new();
    for s in series {
        for v in s.values.iter().flatten() {
            if v.is_finite() {
                all.push(*v);
            } else {
                omitted += 1;
            }
        }
        for (l, h) in s.band.iter().flatten().flatten() {
            if l.is_finite() && h.is_finite() {
                all.push(*l);
                all.push(*h);
            }
        }
    }
    let min = all.iter().copied().fold(f64::INFINITY, f64::min);
    let max = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (min, max) = if all.is_empty() {
        (0.0, 1.0)
    } else {
        (min, max)
    };
    let ticks = nice_ticks(min.min(if min >= 0.0 { 0.0 } else { min }), max, 5);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let n = x_labels.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / (hi - lo));
    let mut s = open(h, &format!("line chart: {y_label} by {x_label}"));
    s += &y_grid(&ticks, left, W - right, unit, &y);
    let every = n.div_ceil(12);
    for (i, l) in x_labels.iter().enumerate() {
        if i % every == 0 || i + 1 == n {
            s += &format!(
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                x(i),
                h - bottom + 16.0,
                esc(&shorten(l, 10))
            );
        }
    }
    if all.is_empty() {
        s += &no_data(left + plot_w / 2.0, top + plot_h / 2.0);
    }
    let colours = [DATA, SECOND, REFERENCE, "#38a169", "#805ad5"];
    for (k, ser) in series.iter().enumerate() {
        let colour = colours[k % colours.len()];
        if let Some(band) = &ser.band {
            for run in runs(
                band.iter()
                    .map(|b| b.filter(|(l, h)| l.is_finite() && h.is_finite())),
            ) {
                let mut pts: Vec<String> = run
                    .iter()
                    .map(|(i, (_, h))| format!("{:.1},{:.1}", x(*i), y(*h)))
                    .collect();
                pts.extend(
                    run.iter()
                        .rev()
                        .map(|(i, (l, _))| format!("{:.1},{:.1}", x(*i), y(*l))),
                );
                s += &format!(
                    r#"<polygon points="{}" fill="{BAND}" opacity="0.8"/>"#,
                    pts.join(" ")
                );
            }
        }
        for run in runs(ser.values.iter().map(|v| v.filter(|v| v.is_finite()))) {
            let pts: Vec<String> = run
                .iter()
                .map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v)))
                .collect();
            s += &format!(
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                pts.join(" ")
            );
            for (i, v) in &run {
                s += &format!(
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}, {}: {}</title></circle>"#,
                    x(*i),
                    y(*v),
                    esc(&ser.name),
                    esc(x_labels.get(*i).map_or("", String::as_str)),
                    esc(&unit.fmt(*v))
                );
            }
        }
    }
    if series.len() > 1 {
        s += &legend(
            series.iter().map(|s| s.name.as_str()),
            &colours,
            left,
            h - 8.0,
        );
    }
    s += &axis_label_x(x_label, left + plot_w / 2.0, h - bottom + 34.0);
    s += &axis_label_y(y_label, 14.0, top + plot_h / 2.0);
    s += "</svg>";
    Chart { svg: s, omitted }
}

/// One bin of a [`histogram`]: its label (e.g. the range) and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Bin {
    pub label: String,
    pub count: f64,
}

/// Vertical bars over ordered bins (a distribution).
pub fn histogram(bins: &[Bin], x_label: &str, y_label: &str) -> Chart {
    let (left, right, top, bottom) = (70.0, 20.0, 14.0, 64.0);
    let h = 280.0;
    let plot_w = W - left - right;
    let plot_h = h - top - bottom;
    let omitted = bins.iter().filter(|b| !b.count.is_finite()).count();
    let max = bins
        .iter()
        .map(|b| b.count)
        .filter(|c| c.is_finite())
        .fold(0.0_f64, f64::max);
    let ticks = nice_ticks(0.0, max, 5);
    let hi = ticks[ticks.len() - 1];
    let y = |v: f64| top + plot_h * (1.0 - v / hi);
    let n = bins.len().max(1);
    let bw = plot_w / n as f64;
    let mut s = open(h, &format!("histogram: {y_label} by {x_label}"));
    s += &y_grid(&ticks, left, W - right, &Unit::Count, &y);
    if bins.is_empty() {
        s += &no_data(left + plot_w / 2.0, top + plot_h / 2.0);
    }
    let every = n.div_ceil(10);
    for (i, b) in bins.iter().enumerate() {
        let x0 = left + bw * i as f64;
        if b.count.is_finite() {
            s += &format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{DATA}"><title>{}: {}</title></rect>"#,
                x0 + 1.0,
                y(b.count),
                (bw - 2.0).max(0.5),
                (y(0.0) - y(b.count)).max(0.0),
                esc(&b.label),
                esc(&Unit::Count.fmt(b.count))
            );
        }
        if i % every == 0 {
            s += &format!(
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" transform="rotate(-30 {0:.1} {1:.1})" class="tick">{}</text>"#,
                x0 + bw / 2.0,
                h - bottom + 14.0,
                esc(&shorten(&b.label, 14))
            );
        }
    }
    s += &axis_label_x(x_label, left + plot_w / 2.0, h - 4.0);
    s += &axis_label_y(y_label, 14.0, top + plot_h / 2.0);
    s += "</svg>";
    Chart { svg: s, omitted }
}

/// A grid of coloured cells: `values[r][c]` for row label `r` and column
/// label `c`, shaded from white (the lowest) to blue (the highest), each
/// cell written in `unit` when the grid is small enough to read.
pub fn heat_map(
    rows: &[String],
    cols: &[String],
    values: &[Vec<Option<f64>>],
    x_label: &str,
    y_label: &str,
    unit: &Unit,
) -> Chart {
    let left = 150.0;
    let top = 30.0;
    let plot_w = W - left - 10.0;
    let cw = plot_w / cols.len().max(1) as f64;
    let rh = if rows.len() > 20 { 14.0 } else { 22.0 };
    let h = top + rh * rows.len().max(1) as f64 + 30.0;
    let given: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    let finite: Vec<f64> = given.iter().copied().filter(|v| v.is_finite()).collect();
    let omitted = given.len() - finite.len();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let show_values = cw >= 34.0 && rh >= 20.0;
    let mut s = open(h, &format!("heat map: {y_label} by {x_label}"));
    let every = cols.len().div_ceil(24).max(1);
    for (c, label) in cols.iter().enumerate() {
        if c % every == 0 {
            s += &format!(
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                left + cw * (c as f64 + 0.5),
                top - 6.0,
                esc(&shorten(
                    label,
                    ((cw * every as f64) / 6.5).max(3.0) as usize
                ))
            );
        }
    }
    if finite.is_empty() {
        s += &no_data(left + plot_w / 2.0, top + 14.0);
    }
    for (r, label) in rows.iter().enumerate() {
        let y = top + rh * r as f64;
        s += &format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="label">{}</text>"#,
            left - 6.0,
            y + rh * 0.7,
            esc(&shorten(label, 18))
        );
        for (c, v) in values
            .get(r)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .take(cols.len())
        {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let t = (v - lo) / span;
            let fill = shade(t);
            let x = left + cw * c as f64;
            s += &format!(
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{} × {}: {}</title></rect>"#,
                cw - 1.0,
                rh - 1.0,
                esc(label),
                esc(&cols[c]),
                esc(&unit.fmt(v))
            );
            if show_values {
                let ink = if t > 0.6 { "#fff" } else { "#1a202c" };
                s += &format!(
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="cell" fill="{ink}">{}</text>"#,
                    x + cw / 2.0,
                    y + rh * 0.68,
                    esc(&unit.cell(v))
                );
            }
        }
    }
    s += &axis_label_x(x_label, left + plot_w / 2.0, h - 8.0);
    s += &axis_label_y(y_label, 12.0, top + rh * rows.len() as f64 / 2.0);
    s += "</svg>";
    Chart { svg: s, omitted }
}

/// Intervals around estimates, one row each (a forest plot): label,
/// estimate, low, high; a vertical line at zero when zero is in range.
pub fn interval_chart(rows: &[(String, f64, f64, f64)], x_label: &str, unit: &Unit) -> Chart {
    let kept: Vec<_> = rows
        .iter()
        .filter(|(_, e, l, h)| e.is_finite() && l.is_finite() && h.is_finite())
        .collect();
    let omitted = rows.len() - kept.len();
    let (left, row, top) = (180.0, 28.0, 10.0);
    let plot_w = W - left - 30.0;
    let h = top + row * kept.len().max(1) as f64 + 44.0;
    let min = kept.iter().map(|r| r.2).fold(0.0_f64, f64::min);
    let max = kept.iter().map(|r| r.3).fold(0.0_f64, f64::max);
    let ticks = nice_ticks(min, max, 5);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let x = |v: f64| left + (v - lo) / (hi - lo) * plot_w;
    let mut s = open(h, &format!("interval chart: {x_label}"));
    s += &x_grid(&ticks, top, h, unit, &x);
    if kept.is_empty() {
        s += &no_data(W / 2.0, top + row / 2.0);
    }
    for (i, (label, e, l, hh)) in kept.iter().enumerate() {
        let y = top + row * i as f64 + row / 2.0;
        s += &format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="label">{}</text><line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{DATA}" stroke-width="3"/><circle cx="{:.1}" cy="{y:.1}" r="5" fill="{SECOND}"><title>{}: {} ({} to {})</title></circle>"#,
            left - 6.0,
            y + 4.0,
            esc(&shorten(label, 28)),
            x(*l),
            x(*hh),
            x(*e),
            esc(label),
            esc(&unit.fmt(*e)),
            esc(&unit.fmt(*l)),
            esc(&unit.fmt(*hh))
        );
    }
    s += &axis_label_x(x_label, left + plot_w / 2.0, h - 4.0);
    s += "</svg>";
    Chart { svg: s, omitted }
}

/// Round tick values covering `[min, max]`, about `n` of them; never empty,
/// never a zero-width range.
pub fn nice_ticks(min: f64, max: f64, n: usize) -> Vec<f64> {
    let (min, max) = if !min.is_finite() || !max.is_finite() {
        (0.0, 1.0)
    } else if max - min < 1e-12 {
        if min == 0.0 {
            (0.0, 1.0)
        } else {
            (min - min.abs() * 0.5, max + max.abs() * 0.5)
        }
    } else {
        (min, max)
    };
    let raw = (max - min) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (min / step).floor() * step;
    let last = (max / step).ceil() * step;
    let count = ((last - first) / step).round() as usize;
    (0..=count)
        .map(|i| clean(first + step * i as f64))
        .collect()
}

/// Rounding noise off a tick value (0.30000000000000004 → 0.3).
fn clean(v: f64) -> f64 {
    let r = (v * 1e9).round() / 1e9;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

fn finite_pairs(pairs: &[(String, f64)]) -> (Vec<(String, f64)>, usize) {
    let kept: Vec<_> = pairs
        .iter()
        .filter(|(_, v)| v.is_finite())
        .cloned()
        .collect();
    let omitted = pairs.len() - kept.len();
    (kept, omitted)
}

/// Consecutive present values, with their positions: the pieces of a line.
fn runs<T: Copy>(values: impl Iterator<Item = Option<T>>) -> Vec<Vec<(usize, T)>> {
    let mut out = vec![Vec::new()];
    for (i, v) in values.enumerate() {
        match v {
            Some(v) => out.last_mut().map(|r| r.push((i, v))).unwrap_or(()),
            None => out.push(Vec::new()),
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

fn open(h: f64, label: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h:.0}" role="img" aria-label="{}" preserveAspectRatio="xMinYMin meet">"#,
        esc(label)
    )
}

/// Vertical grid lines at `ticks` from `top` to the axis 34 units above the
/// bottom of a chart `h` high, labelled below; the zero line darker.
fn x_grid(ticks: &[f64], top: f64, h: f64, unit: &Unit, x: &dyn Fn(f64) -> f64) -> String {
    let mut s = String::new();
    for t in ticks {
        s += &format!(
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="{top}" y2="{1:.1}" stroke="{2}"/><text x="{0:.1}" y="{3:.1}" text-anchor="middle" class="tick">{4}</text>"#,
            x(*t),
            h - 34.0,
            if *t == 0.0 { AXIS } else { GRID },
            h - 20.0,
            esc(&unit.tick(*t))
        );
    }
    s
}

fn y_grid(ticks: &[f64], x0: f64, x1: f64, unit: &Unit, y: &dyn Fn(f64) -> f64) -> String {
    let mut s = String::new();
    for t in ticks {
        s += &format!(
            r#"<line x1="{x0}" x2="{x1}" y1="{0:.1}" y2="{0:.1}" stroke="{1}"/><text x="{2:.1}" y="{3:.1}" text-anchor="end" class="tick">{4}</text>"#,
            y(*t),
            if *t == 0.0 { AXIS } else { GRID },
            x0 - 6.0,
            y(*t) + 4.0,
            esc(&unit.tick(*t))
        );
    }
    s
}

fn legend<'a>(names: impl Iterator<Item = &'a str>, colours: &[&str], x0: f64, y: f64) -> String {
    let mut s = String::new();
    let mut x = x0;
    for (k, name) in names.enumerate() {
        s += &format!(
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="4" fill="{}"/><text x="{:.1}" y="{y:.1}" class="tick">{}</text>"#,
            y - 5.0,
            colours[k % colours.len()],
            x + 16.0,
            esc(name)
        );
        x += 26.0 + 7.0 * name.chars().count() as f64;
    }
    s
}

fn axis_label_x(text: &str, x: f64, y: f64) -> String {
    format!(
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" class="axis">{}</text>"#,
        esc(text)
    )
}

fn axis_label_y(text: &str, x: f64, y: f64) -> String {
    format!(
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" transform="rotate(-90 {x:.1} {y:.1})" class="axis">{}</text>"#,
        esc(text)
    )
}

fn no_data(x: f64, y: f64) -> String {
    format!(r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" class="axis">no data</text>"#)
}

/// White to dark blue for t in [0, 1].
fn shade(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(247.0, 33.0),
        mix(251.0, 81.0),
        mix(255.0, 140.0)
    )
}

/// `text` cut to `max` characters (an ellipsis marks the cut); the whole
/// text stays in the tooltip.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewbox_height(svg: &str) -> f64 {
        let vb = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
        vb.split('"')
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Every x and y coordinate attribute lies inside the view box.
    fn assert_inside(svg: &str) {
        let h = viewbox_height(svg);
        // The elements, without the <svg> tag (whose viewBox ends in x=").
        let svg = svg.split_once('>').unwrap().1;
        for attr in ["x=\"", "x1=\"", "x2=\"", "cx=\""] {
            for piece in svg.split(attr).skip(1) {
                let raw = piece.split('"').next().unwrap();
                let v: f64 = raw.parse().unwrap_or_else(|_| panic!("{attr}{raw}"));
                assert!((0.0..=W).contains(&v), "{attr}{v} outside 0..{W}");
            }
        }
        for attr in [" y=\"", "y1=\"", "y2=\"", "cy=\""] {
            for piece in svg.split(attr).skip(1) {
                let v: f64 = piece.split('"').next().unwrap().parse().unwrap();
                assert!((0.0..=h).contains(&v), "{attr}{v} outside 0..{h}");
            }
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 97.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.0, 0.3, 3), vec![0.0, 0.1, 0.2, 0.3]);
        let t = nice_ticks(-147.0, 523.0, 5);
        assert!(t[0] <= -147.0 && *t.last().unwrap() >= 523.0, "{t:?}");
        // A single value or no range still gives an axis.
        assert_eq!(nice_ticks(0.0, 0.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert!(nice_ticks(5.0, 5.0, 5).len() >= 2);
        assert_eq!(nice_ticks(f64::NAN, f64::INFINITY, 5).first(), Some(&0.0));
    }

    #[test]
    fn bars_scale_to_the_largest_and_stay_inside() {
        let bars = vec![
            ("Champions".to_string(), 1200.0),
            ("Lost".to_string(), 300.0),
        ];
        let c = bar_chart(&bars, "customers", &Unit::Count);
        assert_eq!(c.omitted, 0);
        assert!(c.svg.contains("1,200"));
        assert_inside(&c.svg);
        // The longer bar is four times the shorter one.
        let widths: Vec<f64> = c
            .svg
            .split("<rect ")
            .skip(1)
            .map(|r| {
                r.split("width=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!((widths[0] / widths[1] - 4.0).abs() < 0.01, "{widths:?}");
    }

    #[test]
    fn empty_single_and_non_finite_inputs() {
        let empty = bar_chart(&[], "customers", &Unit::Count);
        assert!(empty.svg.contains("no data"));
        assert_inside(&empty.svg);
        let one = bar_chart(&[("only".to_string(), 5.0)], "customers", &Unit::Count);
        assert_inside(&one.svg);
        assert_eq!(one.svg.matches("<rect ").count(), 1);
        let odd = bar_chart(
            &[
                ("a".to_string(), f64::NAN),
                ("b".to_string(), f64::INFINITY),
                ("c".to_string(), 2.0),
            ],
            "x",
            &Unit::Count,
        );
        assert_eq!(odd.omitted, 2);
        assert_eq!(odd.svg.matches("<rect ").count(), 1);
        assert_inside(&odd.svg);

        let line = line_chart(
            &["Jan".into(), "Feb".into(), "Mar".into()],
            &[Series {
                name: "revenue".into(),
                values: vec![Some(1.0), Some(f64::NAN), Some(3.0)],
                band: None,
            }],
            "month",
            "revenue",
            &Unit::Count,
        );
        assert_eq!(line.omitted, 1);
        // The NaN breaks the line into two one-point pieces.
        assert_eq!(line.svg.matches("<polyline").count(), 2);
        assert_inside(&line.svg);
        let none = line_chart(&[], &[], "month", "revenue", &Unit::Count);
        assert!(none.svg.contains("no data"));
        let single = line_chart(
            &["Jan".into()],
            &[Series {
                name: "r".into(),
                values: vec![Some(4.0)],
                band: None,
            }],
            "m",
            "r",
            &Unit::Count,
        );
        assert_inside(&single.svg);

        let hist = histogram(&[], "CLV", "customers");
        assert!(hist.svg.contains("no data"));
        let hm = heat_map(
            &["a".into()],
            &["x".into()],
            &[vec![Some(f64::NAN)]],
            "x",
            "y",
            &Unit::Percent,
        );
        assert_eq!(hm.omitted, 1);
        assert!(hm.svg.contains("no data"));
        let iv = interval_chart(
            &[
                ("lift".into(), 0.1, f64::NAN, 0.2),
                ("ok".into(), 0.1, -0.1, 0.3),
            ],
            "difference",
            &Unit::Percent,
        );
        assert_eq!(iv.omitted, 1);
        assert_inside(&iv.svg);
    }

    #[test]
    fn labels_are_escaped() {
        let name = r#"<script>alert("x")</script> & 'Tom' 장바구니"#;
        for svg in [
            bar_chart(&[(name.to_string(), 1.0)], name, &Unit::Count).svg,
            line_chart(
                &[name.into()],
                &[Series {
                    name: name.into(),
                    values: vec![Some(1.0)],
                    band: None,
                }],
                name,
                name,
                &Unit::Count,
            )
            .svg,
            histogram(
                &[Bin {
                    label: name.into(),
                    count: 1.0,
                }],
                name,
                name,
            )
            .svg,
            heat_map(
                &[name.into()],
                &[name.into()],
                &[vec![Some(1.0)]],
                name,
                name,
                &Unit::Count,
            )
            .svg,
            interval_chart(&[(name.into(), 1.0, 0.0, 2.0)], name, &Unit::Count).svg,
        ] {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("'Tom'"));
            assert!(svg.contains("&lt;script&gt;"));
            assert!(svg.contains("장바구니") || svg.contains('…'));
        }
    }

    #[test]
    fn heat_map_shades_from_lowest_to_highest() {
        let c = heat_map(
            &["2011-01".into(), "2011-02".into()],
            &["0".into(), "1".into()],
            &[vec![Some(1.0), Some(0.5)], vec![Some(1.0), None]],
            "months since first purchase",
            "cohort",
            &Unit::Percent,
        );
        assert_eq!(c.svg.matches("<rect ").count(), 3);
        assert!(c.svg.contains("#21518c"), "the highest is the darkest");
        assert!(c.svg.contains("#f7fbff"), "the lowest is white");
        assert_inside(&c.svg);
    }

    #[test]
    fn band_is_drawn_behind_the_line() {
        let c = line_chart(
            &["1".into(), "2".into()],
            &[Series {
                name: "NPS".into(),
                values: vec![Some(10.0), Some(20.0)],
                band: Some(vec![Some((5.0, 15.0)), Some((12.0, 28.0))]),
            }],
            "month",
            "NPS",
            &Unit::Plain(0),
        );
        let poly = c.svg.find("<polygon").unwrap();
        let line = c.svg.find("<polyline").unwrap();
        assert!(poly < line);
        assert_inside(&c.svg);
    }
}
