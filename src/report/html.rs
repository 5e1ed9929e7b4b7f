//! The page: sections of headline cards, figures and tables, with inline
//! CSS (screen and A4 print) and a few lines of inline script that sort a
//! table by the clicked column. Nothing is fetched from anywhere.

use super::format::esc;
use super::svg::Chart;

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub title: String,
    /// Lines under the title (job, date, run id).
    pub subtitle: Vec<String>,
    /// The run's alerts, shown at the top.
    pub alerts: Vec<Alert>,
    pub sections: Vec<Section>,
}

/// One alert line: severity (`fail`, `warn`, `info`) and message.
#[derive(Debug, Clone)]
pub struct Alert {
    pub severity: String,
    pub message: String,
}

/// A section of the page (`<section id=...>`).
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub items: Vec<Item>,
}

/// What a section holds.
#[derive(Debug, Clone)]
pub enum Item {
    Cards(Vec<Card>),
    Figure(Figure),
    Table { title: String, table: Table },
    Note(String),
}

/// A headline number.
#[derive(Debug, Clone)]
pub struct Card {
    pub label: String,
    pub value: String,
    /// The change against the previous run, as text (`+3.1 %`).
    pub change: Option<String>,
}

/// A chart with its title, one-line reading and the table behind it.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub reading: String,
    pub chart: Chart,
    pub table: Table,
    /// What was sampled, binned or left out.
    pub note: Option<String>,
}

/// A table of formatted cells; a cell may carry a number to sort by.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// One cell: its text and, for numbers, the value the table sorts by.
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub sort: Option<f64>,
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            sort: None,
        }
    }
    pub fn num(text: String, v: f64) -> Cell {
        Cell {
            text,
            sort: v.is_finite().then_some(v),
        }
    }
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK KR",sans-serif;margin:0;color:#1a202c;background:#f7fafc;line-height:1.4}
main{max-width:980px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:1.6em;margin:8px 0 4px} h2{font-size:1.25em;margin:0 0 10px;border-bottom:2px solid #2b6cb0;padding-bottom:4px}
h3{font-size:1.02em;margin:14px 0 2px}
.sub{color:#4a5568;margin:0 0 12px;font-size:.92em}
nav{font-size:.88em;margin:0 0 14px} nav a{margin-right:10px;color:#2b6cb0}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:14px 16px;margin:0 0 16px}
.alerts{border-left:5px solid #c53030;background:#fff5f5}
.alert{margin:4px 0} .sev{font-weight:700;text-transform:uppercase;font-size:.8em;padding:1px 6px;border-radius:3px;margin-right:6px;color:#fff}
.sev-fail{background:#c53030} .sev-warn{background:#dd6b20} .sev-info{background:#4a5568}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px;min-width:150px;flex:1 1 150px}
.card .l{font-size:.8em;color:#4a5568} .card .v{font-size:1.3em;font-weight:600} .card .c{font-size:.8em;color:#4a5568}
figure{margin:8px 0 14px;break-inside:avoid;page-break-inside:avoid}
figure svg{width:100%;height:auto;display:block;max-width:100%}
.reading{margin:0 0 4px;color:#2d3748}
.note{font-size:.82em;color:#718096;margin:2px 0}
svg .tick{font-size:11px;fill:#4a5568} svg .label{font-size:12px;fill:#1a202c} svg .value{font-size:11px;fill:#2d3748}
svg .axis{font-size:12px;fill:#2d3748;font-weight:600} svg .cell{font-size:10px}
details{margin:4px 0 0;font-size:.85em} summary{cursor:pointer;color:#2b6cb0}
.tw{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0;font-size:.85em}
th,td{border-bottom:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7;cursor:pointer;user-select:none} td.n{text-align:right;font-variant-numeric:tabular-nums}
footer{font-size:.8em;color:#718096;text-align:center}
@page{size:A4;margin:12mm}
@media print{body{background:#fff} main{max-width:none;padding:0} nav{display:none}
 section{border:none;padding:0;margin:0 0 10mm} details{display:none} figure svg{max-height:120mm}}
"#;

/// Click a header to sort its table; a second click reverses.
const SCRIPT: &str = r#"
document.querySelectorAll('table.sortable th').forEach(function(th,col){
 th.addEventListener('click',function(){
  var body=th.closest('table').tBodies[0]; var rows=Array.prototype.slice.call(body.rows);
  var dir=th.getAttribute('data-dir')==='asc'?-1:1; th.setAttribute('data-dir',dir===1?'asc':'desc');
  rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];
   var p=x.getAttribute('data-v'),q=y.getAttribute('data-v');
   if(p!==null&&q!==null){return dir*(parseFloat(p)-parseFloat(q));}
   return dir*x.textContent.localeCompare(y.textContent);});
  rows.forEach(function(r){body.appendChild(r);});});});
"#;

/// The page as one HTML document.
pub fn render(page: &Page) -> String {
    let mut s = String::with_capacity(64 * 1024);
    s += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
    s += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
    s += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">";
    s += &format!(
        "<title>{}</title><style>{STYLE}</style></head><body><main>",
        esc(&page.title)
    );
    s += &format!("<h1>{}</h1>", esc(&page.title));
    for line in &page.subtitle {
        s += &format!("<p class=\"sub\">{}</p>", esc(line));
    }
    s += "<nav>";
    for sec in &page.sections {
        s += &format!("<a href=\"#{}\">{}</a>", sec.id, esc(&sec.title));
    }
    s += "</nav>";
    if !page.alerts.is_empty() {
        s += "<section class=\"alerts\" id=\"alerts\"><h2>Alerts of this run</h2>";
        for a in &page.alerts {
            let sev = match a.severity.as_str() {
                "fail" => "fail",
                "warn" => "warn",
                _ => "info",
            };
            s += &format!(
                "<p class=\"alert\"><span class=\"sev sev-{sev}\">{}</span>{}</p>",
                esc(&a.severity),
                esc(&a.message)
            );
        }
        s += "</section>";
    }
    for sec in &page.sections {
        s += &format!("<section id=\"{}\"><h2>{}</h2>", sec.id, esc(&sec.title));
        for item in &sec.items {
            s += &render_item(item);
        }
        s += "</section>";
    }
    s += &format!(
        "<footer>crmlake {} · one self-contained file: no network needed to view or print it</footer>",
        env!("CARGO_PKG_VERSION")
    );
    s += &format!("</main><script>{SCRIPT}</script></body></html>\n");
    s
}

fn render_item(item: &Item) -> String {
    match item {
        Item::Cards(cards) => {
            let mut s = String::from("<div class=\"cards\">");
            for c in cards {
                s += &format!(
                    "<div class=\"card\"><div class=\"l\">{}</div><div class=\"v\">{}</div>",
                    esc(&c.label),
                    esc(&c.value)
                );
                if let Some(ch) = &c.change {
                    s += &format!("<div class=\"c\">{}</div>", esc(ch));
                }
                s += "</div>";
            }
            s + "</div>"
        }
        Item::Figure(f) => {
            let mut s = format!(
                "<figure><h3>{}</h3><p class=\"reading\">{}</p>{}",
                esc(&f.title),
                esc(&f.reading),
                f.chart.svg
            );
            if f.chart.omitted > 0 {
                s += &format!(
                    "<p class=\"note\">{} value(s) were not finite numbers (NaN or infinite) and are left out of the chart.</p>",
                    f.chart.omitted
                );
            }
            if let Some(n) = &f.note {
                s += &format!("<p class=\"note\">{}</p>", esc(n));
            }
            s += &format!(
                "<details><summary>The table behind the chart ({} rows)</summary>{}</details></figure>",
                f.table.rows.len(),
                render_table(&f.table)
            );
            s
        }
        Item::Table { title, table } => {
            format!("<h3>{}</h3>{}", esc(title), render_table(table))
        }
        Item::Note(text) => format!("<p class=\"note\">{}</p>", esc(text)),
    }
}

/// A sortable table.
pub fn render_table(t: &Table) -> String {
    let mut s = String::from("<div class=\"tw\"><table class=\"sortable\"><thead><tr>");
    for h in &t.header {
        s += &format!("<th>{}</th>", esc(h));
    }
    s += "</tr></thead><tbody>";
    for row in &t.rows {
        s += "<tr>";
        for c in row {
            match c.sort {
                Some(v) => s += &format!("<td class=\"n\" data-v=\"{v}\">{}</td>", esc(&c.text)),
                None => s += &format!("<td>{}</td>", esc(&c.text)),
            }
        }
        s += "</tr>";
    }
    s + "</tbody></table></div>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_one_offline_document_with_escaped_text() {
        let page = Page {
            title: "Run <demo>".into(),
            subtitle: vec!["job & date".into()],
            alerts: vec![Alert {
                severity: "warn".into(),
                message: "repurchase_rate < 0.5".into(),
            }],
            sections: vec![Section {
                id: "kpis",
                title: "KPIs".into(),
                items: vec![
                    Item::Cards(vec![Card {
                        label: "revenue".into(),
                        value: "£1,000".into(),
                        change: Some("+3.0 %".into()),
                    }]),
                    Item::Table {
                        title: "rules".into(),
                        table: Table {
                            header: vec!["product".into(), "lift".into()],
                            rows: vec![vec![
                                Cell::text("\"MUG\" <&> 장바구니"),
                                Cell::num("61.9".into(), 61.9),
                            ]],
                        },
                    },
                ],
            }],
        };
        let html = render(&page);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("Run &lt;demo&gt;"));
        assert!(html.contains("&quot;MUG&quot; &lt;&amp;&gt; 장바구니"));
        assert!(html.contains("data-v=\"61.9\""));
        assert!(html.contains("<section id=\"kpis\">"));
        assert!(html.contains("repurchase_rate &lt; 0.5"));
        // Nothing that would fetch: no external src, href or url().
        for needle in ["src=\"http", "href=\"http", "url(", "@import"] {
            assert!(!html.contains(needle), "{needle}");
        }
    }
}
