//! `feedback_features(input, as_of)`: per customer, what they said before
//! `as_of`, as churn-model features that join onto `churn_features`.
//!
//! `input` is a table name or a query with the feedback table's columns
//! `customer_id` (any plain type), `ts` (DATE or TIMESTAMP), `kind` (string;
//! `'complaint'` counts as a complaint), `nps_score` (a number, NULL when not
//! asked), `resolved_at` (DATE or TIMESTAMP, NULL while open) and `text`
//! (string). An input with a `sentiment` column (a number, e.g. the
//! `feedback_scored` table of a job) is read as is and needs no `text`;
//! otherwise every message is scored with `sentiment(text)`. Rows with a NULL
//! `customer_id` or `ts` are left out. `as_of` (a date) is midnight at the
//! start of that day; only messages with `ts` strictly before it are read,
//! and windows are calendar days of `ts` (the last 30 days are the 30 days
//! before `as_of`), as in `churn_features`.
//!
//! One row per customer with at least one message before `as_of`; columns:
//! - `messages_30`, `messages_90`, `messages_365`: messages in the window;
//! - `complaints_30`, `complaints_90`, `complaints_365`: complaints in it;
//! - `last_nps`: the NPS answer of the latest message that has one (ties in
//!   `ts` broken by the higher score), NULL if none;
//! - `mean_sentiment_90`: mean sentiment of the last 90 days' messages (NULL
//!   without a scored message there);
//! - `negative_share`: share of the scored messages with sentiment ≤ −0.05
//!   (VADER's threshold for "negative"), all history;
//! - `open_complaints`: complaints not resolved by `as_of` (`resolved_at`
//!   NULL or on/after `as_of`);
//! - `days_since_last_complaint`, `days_since_last_message`: days from the
//!   day of the latest complaint / message to `as_of` (NULL without one);
//! - `median_resolution_hours`: median hours from `ts` to `resolved_at` over
//!   messages resolved before `as_of`.
//!
//! Joining onto `churn_features` (same `as_of`): `LEFT JOIN
//! feedback_features(...) USING (customer_id)`; a customer who never wrote
//! has NULLs there, which the churn models read as missing — or use
//! `COALESCE(messages_90, 0)` for the counts.
//!
//! SQL over the input, returned as a view. Sums of sentiment are exact (see
//! [`crate::table_input::exact_sum`]) and the median and latest answer do
//! not depend on row order, so the features have the same bits however the
//! input is partitioned, and a churn model trained on them is reproducible.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, check_columns, Args, ColumnKind};

const NAME: &str = "feedback_features";

/// The sentiment at or below which a message counts as negative.
pub const NEGATIVE_AT_MOST: f64 = -0.05;

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "feedback_features(input, as_of) -> TABLE(customer_id, messages_30, messages_90, messages_365, complaints_30, complaints_90, complaints_365, last_nps, mean_sentiment_90, negative_share, open_complaints, days_since_last_complaint, days_since_last_message, median_resolution_hours)",
        description: "Per customer, from feedback strictly before as_of: messages and complaints in 30/90/365 days, last NPS, sentiment, open complaints, resolution time; joins onto churn_features by customer_id",
        example: "SELECT customer_id, messages_90, complaints_90, last_nps, round(mean_sentiment_90, 4) AS sentiment_90, open_complaints, days_since_last_complaint FROM feedback_features('SELECT * FROM (VALUES (1, TIMESTAMP ''2024-02-20 10:00:00'', ''complaint'', CAST(NULL AS BIGINT), ''The parcel arrived broken, terrible.'', CAST(NULL AS TIMESTAMP)), (1, TIMESTAMP ''2024-01-05 09:00:00'', ''survey'', 9, ''Great shop!'', CAST(NULL AS TIMESTAMP)), (2, TIMESTAMP ''2024-02-01 12:00:00'', ''survey'', 6, ''It was ok.'', CAST(NULL AS TIMESTAMP))) AS t(customer_id, ts, kind, nps_score, text, resolved_at)', '2024-03-01') ORDER BY customer_id",
        registration: Registration::Table(Arc::new(FeedbackFeatures)),
    }
}

#[derive(Debug)]
pub struct FeedbackFeatures;

impl TableFunctionImpl for FeedbackFeatures {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "as_of"], 2, &args)?;
        let input = a.input_sql(0)?;
        let as_of = a.date(1)?;
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {input} AS input"))?;
        let has_sentiment = planned
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == "sentiment");
        let mut required = vec![
            ("customer_id", ColumnKind::Key),
            ("ts", ColumnKind::Time),
            ("kind", ColumnKind::Text),
            ("nps_score", ColumnKind::Number),
            ("resolved_at", ColumnKind::Time),
        ];
        required.push(if has_sentiment {
            ("sentiment", ColumnKind::Number)
        } else {
            ("text", ColumnKind::Text)
        });
        check_columns(NAME, planned.schema(), &required)?;
        let score = if has_sentiment {
            "sentiment"
        } else {
            "sentiment(text)"
        };
        let messages = |days: i64| format!("COUNT(*) FILTER (WHERE day >= {as_of} - {days})");
        let complaints =
            |days: i64| format!("COUNT(*) FILTER (WHERE complaint AND day >= {as_of} - {days})");
        let recent = format!(" FILTER (WHERE day >= {as_of} - 90)");
        let sql = format!(
            "WITH base AS ( \
               SELECT customer_id, CAST(CAST(ts AS DATE) AS BIGINT) AS day, \
                      date_part('epoch', CAST(ts AS TIMESTAMP)) AS at, \
                      COALESCE(CAST(kind AS VARCHAR) = 'complaint', false) AS complaint, \
                      CAST(nps_score AS BIGINT) AS nps, \
                      CAST({score} AS DOUBLE) AS sentiment, \
                      CAST(CAST(resolved_at AS DATE) AS BIGINT) AS resolved_day, \
                      date_part('epoch', CAST(resolved_at AS TIMESTAMP)) \
                        - date_part('epoch', CAST(ts AS TIMESTAMP)) AS resolution_seconds \
               FROM {input} AS input \
               WHERE customer_id IS NOT NULL AND ts IS NOT NULL \
                 AND CAST(CAST(ts AS DATE) AS BIGINT) < {as_of}) \
             SELECT customer_id, \
                    {m30} AS messages_30, {m90} AS messages_90, {m365} AS messages_365, \
                    {c30} AS complaints_30, {c90} AS complaints_90, {c365} AS complaints_365, \
                    last_value(nps ORDER BY at, nps) FILTER (WHERE nps IS NOT NULL) AS last_nps, \
                    {sum90} / CAST(COUNT(sentiment){recent} AS DOUBLE) AS mean_sentiment_90, \
                    CAST(COUNT(*) FILTER (WHERE sentiment <= {negative}) AS DOUBLE) \
                      / CAST(NULLIF(COUNT(sentiment), 0) AS DOUBLE) AS negative_share, \
                    COUNT(*) FILTER (WHERE complaint AND (resolved_day IS NULL OR resolved_day >= {as_of})) \
                      AS open_complaints, \
                    {as_of} - MAX(day) FILTER (WHERE complaint) AS days_since_last_complaint, \
                    {as_of} - MAX(day) AS days_since_last_message, \
                    MEDIAN(resolution_seconds / 3600.0) \
                      FILTER (WHERE resolved_day < {as_of} AND resolution_seconds >= 0) \
                      AS median_resolution_hours \
             FROM base GROUP BY customer_id",
            m30 = messages(30),
            m90 = messages(90),
            m365 = messages(365),
            c30 = complaints(30),
            c90 = complaints(90),
            c365 = complaints(365),
            sum90 = table_input::exact_sum("sentiment", &recent),
            negative = NEGATIVE_AT_MOST,
        );
        table_input::view(NAME, state, &sql)
    }
}
