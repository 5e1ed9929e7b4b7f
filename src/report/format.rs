//! Text for people: HTML escaping and numbers with thousands separators,
//! percentages and currency. Shared by the charts ([`super::svg`]) and the
//! page ([`super::html`]).

/// How a number is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    /// A count: no decimals, thousands separators (`12,345`).
    Count,
    /// A plain number with this many decimals (`0.81`).
    Plain(usize),
    /// A ratio shown as a percentage with one decimal (`0.123` → `12.3 %`).
    Percent,
    /// Money: the symbol or code in front, no decimals from 1,000 on
    /// (`£12,345`, `£12.50`; `CHF 12,345` for a code).
    Money(String),
}

impl Unit {
    /// Money in the job's `currency` setting: `GBP`, `USD`, `EUR`, `JPY` and
    /// `INR` become their symbols, any other text is put in front as it is
    /// (with a space when it is a code of letters); none gives plain numbers.
    pub fn money(currency: Option<&str>) -> Unit {
        let symbol = match currency.map(str::trim) {
            None | Some("") => return Unit::Plain(2),
            Some("GBP") => "£".to_string(),
            Some("USD") => "$".to_string(),
            Some("EUR") => "€".to_string(),
            Some("JPY") => "¥".to_string(),
            Some("INR") => "₹".to_string(),
            Some(c) if c.chars().all(|ch| ch.is_ascii_alphabetic()) => format!("{c} "),
            Some(c) => c.to_string(),
        };
        Unit::Money(symbol)
    }

    /// `v` in this unit; `–` for NaN or infinite values.
    pub fn fmt(&self, v: f64) -> String {
        if !v.is_finite() {
            return "–".to_string();
        }
        // No "-0": an empty float sum is -0.0.
        let v = v + 0.0;
        match self {
            Unit::Count => group_thousands(v, 0),
            Unit::Plain(d) => {
                if v.abs() >= 1000.0 {
                    group_thousands(v, 0)
                } else {
                    format!("{v:.d$}", d = *d)
                }
            }
            Unit::Percent => format!("{:.1} %", v * 100.0),
            Unit::Money(symbol) => {
                let digits = if v.abs() >= 1000.0 { 0 } else { 2 };
                let sign = if v < 0.0 { "−" } else { "" };
                format!("{sign}{symbol}{}", group_thousands(v.abs(), digits))
            }
        }
    }

    /// A short form for a heat map's cell: ticks, but percentages with one
    /// decimal.
    pub fn cell(&self, v: f64) -> String {
        match self {
            Unit::Percent if v.is_finite() => format!("{:.1} %", v * 100.0 + 0.0),
            _ => self.tick(v),
        }
    }

    /// A short form for axis ticks: `1.2k`, `3.4M`, `45 %`.
    pub fn tick(&self, v: f64) -> String {
        if !v.is_finite() {
            return String::new();
        }
        let v = v + 0.0;
        let short = |x: f64| {
            let a = x.abs();
            if a >= 1e9 {
                format!("{}G", trim(x / 1e9))
            } else if a >= 1e6 {
                format!("{}M", trim(x / 1e6))
            } else if a >= 1e3 {
                format!("{}k", trim(x / 1e3))
            } else {
                trim(x)
            }
        };
        match self {
            Unit::Percent => format!("{} %", trim(v * 100.0)),
            Unit::Money(symbol) => format!("{}{}", symbol.trim_end(), short(v)),
            _ => short(v),
        }
    }
}

/// `x` rounded to two significant digits (bin edges: 1.8, 32, 5,600).
pub fn two_digits(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powf(x.abs().log10().floor() - 1.0);
    (x / mag).round() * mag
}

/// Bytes for people: `512 B`, `3.4 KiB`, `12.0 MiB`, `2.50 GiB`.
pub fn bytes(b: f64) -> String {
    if !b.is_finite() {
        return "–".into();
    }
    let b = b.max(0.0);
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else {
        format!("{:.2} GiB", b / 1073741824.0)
    }
}

/// A period for an axis: a first-of-month date shows as its month.
pub fn period_label(p: &str) -> String {
    let is_date = p.len() == 10 && p.as_bytes()[4] == b'-' && p.as_bytes()[7] == b'-';
    match p.strip_suffix("-01") {
        Some(month) if is_date => month.to_string(),
        _ => p.to_string(),
    }
}

/// `x` with at most two decimals, trailing zeros dropped.
fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `v` with `digits` decimals and a comma every three digits.
pub fn group_thousands(v: f64, digits: usize) -> String {
    let text = format!("{:.digits$}", v.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (text, None),
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if v < 0.0
        && grouped
            .chars()
            .chain(frac.iter().flat_map(|f| f.chars()))
            .any(|c| c != '0' && c != ',')
    {
        "−"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `text` safe inside HTML or SVG text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(Unit::Count.fmt(1234567.0), "1,234,567");
        assert_eq!(Unit::Count.fmt(-1234.0), "−1,234");
        assert_eq!(Unit::Count.fmt(999.0), "999");
        assert_eq!(Unit::Percent.fmt(0.1234), "12.3 %");
        assert_eq!(Unit::money(Some("GBP")).fmt(8887208.89), "£8,887,209");
        assert_eq!(Unit::money(Some("GBP")).fmt(12.5), "£12.50");
        assert_eq!(Unit::money(Some("GBP")).fmt(-318197.5), "−£318,198");
        assert_eq!(Unit::money(Some("CHF")).fmt(1500.0), "CHF 1,500");
        assert_eq!(Unit::money(None).fmt(0.5), "0.50");
        assert_eq!(Unit::Plain(2).fmt(f64::NAN), "–");
        assert_eq!(Unit::Count.tick(2_500_000.0), "2.5M");
        assert_eq!(Unit::Percent.tick(0.25), "25 %");
        assert_eq!(Unit::money(Some("GBP")).tick(1500.0), "£1.5k");
        assert_eq!(Unit::Plain(1).tick(-0.0), "0");
        assert_eq!(group_thousands(-0.001, 2), "0.00");
        assert_eq!(Unit::Percent.fmt(-0.0), "0.0 %");
        assert_eq!(two_digits(177.8279), 180.0);
        assert_eq!(two_digits(3.1623), 3.2);
        assert_eq!(bytes(4_200_000.0), "4.0 MiB");
        assert_eq!(bytes(35_000.0), "34.2 KiB");
        assert_eq!(period_label("2011-03-01"), "2011-03");
        assert_eq!(period_label("2011-03-07"), "2011-03-07");
        assert_eq!(period_label("Q1"), "Q1");
    }

    #[test]
    fn escapes_markup_and_keeps_other_text() {
        assert_eq!(
            esc(r#"<b>"Tom & Jerry's" 장바구니</b>"#),
            "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot; 장바구니&lt;/b&gt;"
        );
    }
}
