//! One file per report section: each reads the tables of its kinds from a
//! [`Source`] and returns the section, or None when the run produced none
//! of them. A section whose query fails (a table without a column it
//! needs) becomes a note saying why, so one odd table never costs the page.

pub mod baskets;
pub mod churn;
pub mod cohorts;
pub mod feedback;
pub mod kpis;
pub mod loyalty;
pub mod ltv;
pub mod run;
pub mod segments;
pub mod uncertainty;
pub mod warning;

use super::format::Unit;
use super::html::{Cell, Figure, Item, Section, Table};
use super::svg::Chart;

/// The section `id` titled `title`, or None when it has nothing to show.
pub fn non_empty(id: &'static str, title: &str, items: Vec<Item>) -> Option<Section> {
    (!items.is_empty()).then(|| Section {
        id,
        title: title.to_string(),
        items,
    })
}

/// A figure from its parts.
pub fn figure(
    title: &str,
    reading: String,
    chart: Chart,
    table: Table,
    note: Option<String>,
) -> Item {
    Item::Figure(Figure {
        title: title.to_string(),
        reading,
        chart,
        table,
        note,
    })
}

/// A table with this header and rows.
pub fn table(header: &[&str], rows: Vec<Vec<Cell>>) -> Table {
    Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// A number cell in `unit`.
pub fn num(v: f64, unit: &Unit) -> Cell {
    Cell::num(unit.fmt(v), v)
}

/// The unit a KPI column's name suggests: rates and shares as %, revenue
/// and values as money, integer columns as counts.
pub fn unit_for(column: &str, integer: bool, money: &Unit) -> Unit {
    let c = column.to_ascii_lowercase();
    if c.contains("rate") || c.contains("share") || c.ends_with("_pct") || c == "breakage" {
        Unit::Percent
    } else if [
        "revenue",
        "value",
        "clv",
        "spend",
        "amount",
        "liability_value",
        "monetary",
    ]
    .iter()
    .any(|w| c.contains(w))
    {
        money.clone()
    } else if integer {
        Unit::Count
    } else {
        Unit::Plain(2)
    }
}

/// `x` as a share of `total`, 0 when the total is 0.
pub fn share(x: f64, total: f64) -> f64 {
    if total > 0.0 {
        x / total + 0.0
    } else {
        0.0
    }
}

/// A section's note for a query that failed.
pub fn failed(what: &str, e: &crate::error::CrmlakeError) -> Item {
    Item::Note(format!("{what} could not be drawn: {e}"))
}

/// Quote `name` as a SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
