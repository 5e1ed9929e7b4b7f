//! `keywords(input, group_column, k [, options])`: per group of messages, the
//! `k` terms most distinctive of it against the other groups, by the weighted
//! log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi &
//! Quinn 2008, "Fightin' Words", section 3.5).
//!
//! `input` is a table name or a query with a text column (`text`, or option
//! `text=<column>`) and the column named by `group_column` (any plain type;
//! rows where it is NULL are left out). Terms are those of
//! `feedback_terms(text, stop_words)` ([`super::text`]).
//!
//! With y_w^g the count of term w in group g, n_g the group's terms, y_w^r
//! and n_r the same in the rest, y_w and n over all groups, and a prior of
//! α_w = a0 · y_w / n pseudo-counts (a0 = option `prior`, 1000 by default):
//!
//! ```text
//! δ_w  = ln((y_w^g + α_w) / (n_g + a0 − y_w^g − α_w))
//!      − ln((y_w^r + α_w) / (n_r + a0 − y_w^r − α_w))
//! σ²_w = 1 / (y_w^g + α_w) + 1 / (y_w^r + α_w)
//! z_w  = δ_w / σ_w
//! ```
//!
//! Terms used fewer than `min_count` times in all (3 by default) are left
//! out. Per group the terms with the highest z (ties by term) come as rows
//! `<group_column>, rank, term, count, count_rest, log_odds, z`. Options:
//! `text`, `prior`, `min_count`, `stop_words` (`|`-separated; `default` is
//! the built-in English and Korean lists, `none` keeps every word).
//! SQL over the input, returned as a view.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::options::Options;
use crate::table_input::{self, check_columns, quote_ident, quote_literal, Args, ColumnKind};

const NAME: &str = "keywords";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "keywords(input, group_column, k [, options]) -> TABLE(<group_column>, rank, term, count, count_rest, log_odds, z)",
        description: "Per group the k terms most distinctive of it against the rest: weighted log-odds with an informative Dirichlet prior (Monroe et al. 2008); options text, prior, min_count, stop_words",
        example: "SELECT kind, rank, term, count, round(z, 3) AS z FROM keywords('SELECT * FROM (VALUES (''complaint'', ''The parcel was late again''), (''complaint'', ''Late delivery and a broken parcel''), (''complaint'', ''Parcel lost, late refund''), (''praise'', ''Lovely shop, lovely staff''), (''praise'', ''Friendly staff and a lovely parcel''), (''praise'', ''Great prices, friendly staff'')) AS t(kind, text)', 'kind', 2, 'min_count=2') ORDER BY kind, rank",
        registration: Registration::Table(Arc::new(Keywords)),
    }
}

#[derive(Debug)]
pub struct Keywords;

impl TableFunctionImpl for Keywords {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "group_column", "k", "options"], 3, &args)?;
        let input = a.input_sql(0)?;
        let group = a.string(1)?;
        let k = a.number(2)?;
        if !(k >= 1.0 && k.fract() == 0.0 && k <= 1e6) {
            return Err(UdfError::argument(
                NAME,
                "k",
                format!("must be a whole number from 1 to 1000000, got {k}"),
            )
            .into());
        }
        let options_text = if a.has(3) {
            a.string(3)?
        } else {
            String::new()
        };
        let options = Options::parse(
            NAME,
            &options_text,
            &["text", "prior", "min_count", "stop_words"],
        )?;
        let prior: f64 = options.parse_or("prior", 1000.0)?;
        let min_count: u64 = options.parse_or("min_count", 3)?;
        if !(prior > 0.0 && prior.is_finite()) {
            return Err(UdfError::Options {
                function: NAME,
                message: format!("prior must be a positive number, got {prior}"),
            }
            .into());
        }
        let text = options.get("text").unwrap_or("text").to_string();
        let stop = match options.get("stop_words") {
            None => "default".to_string(),
            Some(s) if s.trim().eq_ignore_ascii_case("none") => String::new(),
            Some(s) => s.to_string(),
        };
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {input} AS input"))?;
        if !planned.schema().fields().iter().any(|f| f.name() == &group) {
            return Err(UdfError::argument(
                NAME,
                "group_column",
                format!(
                    "the input has no column '{group}'; found: {}",
                    planned
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into());
        }
        check_columns(
            NAME,
            planned.schema(),
            &[
                (group.as_str(), ColumnKind::Key),
                (text.as_str(), ColumnKind::Text),
            ],
        )?;
        let g = quote_ident(&group);
        let t = quote_ident(&text);
        let sql = format!(
            "WITH docs AS ( \
               SELECT {g} AS grp, feedback_terms(CAST({t} AS VARCHAR), {stop}) AS terms \
               FROM {input} AS input WHERE {g} IS NOT NULL), \
             used AS (SELECT grp, unnest(terms) AS term FROM docs), \
             counts AS (SELECT grp, term, COUNT(*) AS y FROM used GROUP BY grp, term), \
             terms AS (SELECT term, SUM(y) AS y_all FROM counts GROUP BY term HAVING SUM(y) >= {min_count}), \
             sizes AS (SELECT grp, SUM(y) AS n_group FROM counts GROUP BY grp), \
             total AS (SELECT SUM(y) AS n_all FROM counts), \
             scored AS ( \
               SELECT c.grp, c.term, c.y AS count, t.y_all - c.y AS count_rest, \
                      CAST(s.n_group AS DOUBLE) AS n_group, \
                      CAST(o.n_all - s.n_group AS DOUBLE) AS n_rest, \
                      {prior} * CAST(t.y_all AS DOUBLE) / CAST(o.n_all AS DOUBLE) AS alpha \
               FROM counts c JOIN terms t ON c.term = t.term JOIN sizes s ON c.grp = s.grp \
               CROSS JOIN total o), \
             odds AS ( \
               SELECT grp, term, count, count_rest, \
                      ln((count + alpha) / (n_group + {prior} - count - alpha)) \
                        - ln((count_rest + alpha) / (n_rest + {prior} - count_rest - alpha)) AS log_odds, \
                      1.0 / (count + alpha) + 1.0 / (count_rest + alpha) AS variance \
               FROM scored), \
             zs AS (SELECT grp, term, count, count_rest, log_odds, log_odds / sqrt(variance) AS z FROM odds), \
             ranked AS ( \
               SELECT *, row_number() OVER (PARTITION BY grp ORDER BY z DESC NULLS LAST, term ASC NULLS LAST) AS rank \
               FROM zs) \
             SELECT grp AS {g}, rank, term, count, count_rest, log_odds, z \
             FROM ranked WHERE rank <= {k}",
            stop = quote_literal(&stop),
            k = k as u64,
        );
        table_input::view(NAME, state, &sql)
    }
}
