//! The `feedback` table of a generated lake: what customers say, with a
//! planted link to whether they stop buying.
//!
//! Per customer, with a random stream of its own (the transactions do not
//! change with it):
//! - messages: Poisson(`mean_messages`) of them at uniform times over the
//!   customer's active span (first purchase to end of observation, or to its
//!   last purchase for a customer who dropped out);
//! - the planted effect: a customer who dropped out (BG/NBD) writes one more
//!   message `U(0, last_message_days)` days after its last purchase, negative
//!   with probability `negative_after_dropout`; every other message is
//!   negative with probability `negative_base`;
//! - text: a real review sentence of the shipped UCI Sentiment Labelled
//!   Sentences (data/feedback/sentences.tsv) of that label;
//! - kind: negative messages are complaints with probability 0.6, else
//!   reviews or surveys; positive ones reviews, surveys or questions;
//! - scores consistent with the label: surveys carry an NPS answer
//!   (positive: 9–10 with probability 0.75, else 7–8; negative: 0–6) and
//!   half of surveys and complaints a CSAT answer (positive 4–5, negative
//!   1–3); other messages NULL;
//! - channel: web, app, email, phone, social (0.30, 0.25, 0.20, 0.15, 0.10);
//!   language 'en';
//! - complaints and questions get a first response after Exp(mean 8 h);
//!   complaints are resolved Exp(mean 48 h) after it, or never (NULL) with
//!   probability 0.1; times past the end of observation are NULL.
//!
//! The rates are written to `_truth.json` (`feedback`).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::{Distribution, Exp, Poisson};
use serde::{Deserialize, Serialize};

use crate::error::{CrmlakeError, Result};

/// The shipped review sentences: `label <TAB> source <TAB> text`, one header.
const SENTENCES: &str = include_str!("../../data/feedback/sentences.tsv");

/// The default topic taxonomy, `topic <TAB> keyword <TAB> language`, one
/// header (also the sample lake's `feedback_taxonomy`, scripts/build_taxonomy.py).
const TAXONOMY: &str = include_str!("../../data/feedback/taxonomy.tsv");

/// The default taxonomy as one batch of the `feedback_taxonomy` table
/// (`topic, keyword, language`).
pub fn taxonomy_batch() -> Result<RecordBatch> {
    let rows: Vec<Vec<&str>> = TAXONOMY
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    if let Some(bad) = rows.iter().find(|r| r.len() != 3) {
        return Err(CrmlakeError::Internal(format!(
            "data/feedback/taxonomy.tsv: a line without 3 fields: {bad:?}"
        )));
    }
    let column =
        |i: usize| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[i]))) as ArrayRef;
    let schema = Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("keyword", DataType::Utf8, false),
        Field::new("language", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(schema, vec![column(0), column(1), column(2)])
        .map_err(|e| CrmlakeError::Internal(format!("taxonomy batch: {e}")))
}

const CHANNELS: [(&str, f64); 5] = [
    ("web", 0.30),
    ("app", 0.25),
    ("email", 0.20),
    ("phone", 0.15),
    ("social", 0.10),
];

/// The planted rates of the feedback table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeedbackParams {
    /// Mean number of messages per customer (besides the one after dropout).
    pub mean_messages: f64,
    /// Share of negative messages in general.
    pub negative_base: f64,
    /// Share of negative messages among those written after the last
    /// purchase of a customer who dropped out.
    pub negative_after_dropout: f64,
    /// That message comes U(0, this) days after the last purchase.
    pub last_message_days: f64,
}

pub const DEFAULT_FEEDBACK: FeedbackParams = FeedbackParams {
    mean_messages: 0.5,
    negative_base: 0.25,
    negative_after_dropout: 0.7,
    last_message_days: 30.0,
};

pub fn feedback_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    Arc::new(Schema::new(vec![
        Field::new("feedback_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("ts", ts(), false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("nps_score", DataType::Int64, true),
        Field::new("csat_score", DataType::Int64, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("language", DataType::Utf8, false),
        Field::new("first_response_at", ts(), true),
        Field::new("resolved_at", ts(), true),
    ]))
}

/// The shipped sentences by label: (negative, positive).
pub struct Sentences {
    negative: Vec<&'static str>,
    positive: Vec<&'static str>,
}

impl Sentences {
    pub fn shipped() -> Result<Sentences> {
        let mut s = Sentences {
            negative: Vec::new(),
            positive: Vec::new(),
        };
        for line in SENTENCES.lines().skip(1) {
            let mut parts = line.splitn(3, '\t');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("0"), Some(_), Some(text)) => s.negative.push(text),
                (Some("1"), Some(_), Some(text)) => s.positive.push(text),
                _ => {
                    return Err(CrmlakeError::Internal(format!(
                        "data/feedback/sentences.tsv: bad line '{line}'"
                    )))
                }
            }
        }
        if s.negative.is_empty() || s.positive.is_empty() {
            return Err(CrmlakeError::Internal(
                "data/feedback/sentences.tsv has no sentences".into(),
            ));
        }
        Ok(s)
    }
}

/// One customer's life as the transactions drew it, in days from the start.
pub struct Life {
    pub customer_id: i64,
    pub first_purchase: f64,
    pub last_purchase: f64,
    pub dropped_out: bool,
}

/// The feedback table's columns, filled customer by customer.
pub struct FeedbackBuilders {
    feedback_id: StringBuilder,
    customer_id: Int64Builder,
    ts: TimestampMicrosecondBuilder,
    channel: StringBuilder,
    kind: StringBuilder,
    nps: Int64Builder,
    csat: Int64Builder,
    text: StringBuilder,
    language: StringBuilder,
    first_response: TimestampMicrosecondBuilder,
    resolved: TimestampMicrosecondBuilder,
    pub rows: usize,
}

impl Default for FeedbackBuilders {
    fn default() -> Self {
        Self::new()
    }
}

impl FeedbackBuilders {
    pub fn new() -> Self {
        FeedbackBuilders {
            feedback_id: StringBuilder::new(),
            customer_id: Int64Builder::new(),
            ts: TimestampMicrosecondBuilder::new(),
            channel: StringBuilder::new(),
            kind: StringBuilder::new(),
            nps: Int64Builder::new(),
            csat: Int64Builder::new(),
            text: StringBuilder::new(),
            language: StringBuilder::new(),
            first_response: TimestampMicrosecondBuilder::new(),
            resolved: TimestampMicrosecondBuilder::new(),
            rows: 0,
        }
    }

    pub fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        vec![
            Arc::new(self.feedback_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.nps.finish()),
            Arc::new(self.csat.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.language.finish()),
            Arc::new(self.first_response.finish()),
            Arc::new(self.resolved.finish()),
        ]
    }
}

/// Draws the messages of each customer.
pub struct FeedbackSampler {
    params: FeedbackParams,
    sentences: Sentences,
    messages: Poisson<f64>,
    response_hours: Exp<f64>,
    resolution_hours: Exp<f64>,
}

impl FeedbackSampler {
    pub fn new(params: FeedbackParams) -> Result<Self> {
        let bad = |e: &dyn std::fmt::Display| CrmlakeError::Internal(format!("feedback: {e}"));
        Ok(FeedbackSampler {
            params,
            sentences: Sentences::shipped()?,
            messages: Poisson::new(params.mean_messages).map_err(|e| bad(&e))?,
            response_hours: Exp::new(1.0 / 8.0).map_err(|e| bad(&e))?,
            resolution_hours: Exp::new(1.0 / 48.0).map_err(|e| bad(&e))?,
        })
    }

    /// Append the messages of `life` (times in days from `start_us`, the
    /// observation ending at `horizon` days).
    pub fn customer(
        &self,
        rng: &mut StdRng,
        life: &Life,
        start_us: i64,
        horizon: f64,
        out: &mut FeedbackBuilders,
    ) {
        let active_end = if life.dropped_out {
            life.last_purchase
        } else {
            horizon
        };
        let n = self.messages.sample(rng) as u64;
        let mut k = 0;
        for _ in 0..n {
            let t = life.first_purchase + rng.random::<f64>() * (active_end - life.first_purchase);
            let negative = rng.random::<f64>() < self.params.negative_base;
            self.message(
                rng,
                life.customer_id,
                k,
                t,
                negative,
                start_us,
                horizon,
                out,
            );
            k += 1;
        }
        if life.dropped_out {
            let t = life.last_purchase + rng.random::<f64>() * self.params.last_message_days;
            if t < horizon {
                let negative = rng.random::<f64>() < self.params.negative_after_dropout;
                self.message(
                    rng,
                    life.customer_id,
                    k,
                    t,
                    negative,
                    start_us,
                    horizon,
                    out,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &self,
        rng: &mut StdRng,
        customer_id: i64,
        k: u64,
        t: f64,
        negative: bool,
        start_us: i64,
        horizon: f64,
        out: &mut FeedbackBuilders,
    ) {
        const DAY_US: f64 = 86_400_000_000.0;
        const HOUR_DAYS: f64 = 1.0 / 24.0;
        let u: f64 = rng.random();
        let kind = match (negative, u) {
            (true, u) if u < 0.6 => "complaint",
            (true, u) if u < 0.8 => "review",
            (true, _) => "survey",
            (false, u) if u < 0.5 => "review",
            (false, u) if u < 0.9 => "survey",
            (false, _) => "question",
        };
        let nps = (kind == "survey").then(|| match negative {
            true => rng.random_range(0..=6),
            false if rng.random::<f64>() < 0.75 => rng.random_range(9..=10),
            false => rng.random_range(7..=8),
        });
        let asks_csat = matches!(kind, "survey" | "complaint") && rng.random::<f64>() < 0.5;
        let csat = asks_csat.then(|| match negative {
            true => rng.random_range(1..=3),
            false => rng.random_range(4..=5),
        });
        let pool = if negative {
            &self.sentences.negative
        } else {
            &self.sentences.positive
        };
        let text = pool[rng.random_range(0..pool.len())];
        let mut x = rng.random::<f64>();
        let channel = CHANNELS
            .iter()
            .find(|(_, w)| {
                x -= w;
                x < 0.0
            })
            .map_or("social", |(c, _)| c);
        let at = |days: f64| (days < horizon).then(|| start_us + (days * DAY_US) as i64);
        let responded = matches!(kind, "complaint" | "question")
            .then(|| t + self.response_hours.sample(rng) * HOUR_DAYS);
        let resolved = match (kind, responded) {
            ("complaint", Some(r)) if rng.random::<f64>() >= 0.1 => {
                Some(r + self.resolution_hours.sample(rng) * HOUR_DAYS)
            }
            _ => None,
        };
        out.feedback_id.append_value(format!("F{customer_id}-{k}"));
        out.customer_id.append_value(customer_id);
        out.ts.append_value(start_us + (t * DAY_US) as i64);
        out.channel.append_value(channel);
        out.kind.append_value(kind);
        out.nps.append_option(nps);
        out.csat.append_option(csat);
        out.text.append_value(text);
        out.language.append_value("en");
        out.first_response.append_option(responded.and_then(at));
        out.resolved.append_option(resolved.and_then(at));
        out.rows += 1;
    }
}
