//! `crmlake generate`: a synthetic lake drawn from known parameters.
//!
//! The strongest test of a fitter is to recover parameters it did not see; this
//! writes a lake with the sample lake's schema whose behaviour follows stated
//! models, and records those true parameters in `DIR/_truth.json`:
//!
//! * purchases: BG/NBD (Fader, Hardie & Lee 2005). Each customer makes a first
//!   purchase at a uniform time in the acquisition window; while alive, repeat
//!   purchases arrive as a Poisson process with rate λ ~ Gamma(shape r, rate
//!   alpha) per day; after each repeat purchase the customer drops out with
//!   probability p ~ Beta(a, b). Observation ends at `end`.
//! * order value: Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"): each
//!   order's value z ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate gamma) per
//!   customer. Line amounts split the order value and add up to it.
//! * baskets: `1 + Poisson(mean_extra_lines)` distinct items per order drawn from
//!   a Zipf(s) popularity over `items` products, plus planted co-purchase pairs:
//!   when an order holds the antecedent, the consequent is added with the stated
//!   probability.
//! * feedback: messages with real review sentences, negative more often from
//!   customers who stop buying ([`feedback`]), and the default topic taxonomy
//!   `feedback_taxonomy` (data/feedback/taxonomy.tsv, as in the sample lake).
//!
//! Deterministic for a seed (each output file has its own random stream, so the
//! result does not depend on the number of threads), streaming (memory is one
//! batch per thread, flat in N) and parallel over files.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma, Poisson};
use serde::{Deserialize, Serialize};

use crate::error::{CrmlakeError, Result};

pub mod feedback;

use feedback::{FeedbackBuilders, FeedbackParams, FeedbackSampler, Life, DEFAULT_FEEDBACK};

/// BG/NBD parameters, time unit one day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Gamma-Gamma spend parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// A planted co-purchase: `consequent` joins an order holding `antecedent` with
/// `probability`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoPurchase {
    pub antecedent: String,
    pub consequent: String,
    pub probability: f64,
}

/// Basket parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasketParams {
    pub items: usize,
    pub zipf_exponent: f64,
    pub mean_extra_lines: f64,
    pub pairs: Vec<CoPurchase>,
}

/// Everything a generated lake was drawn from: the content of `_truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub customers: u64,
    pub time_unit: String,
    /// First day of the acquisition window (first purchases).
    pub start: NaiveDate,
    /// Acquisition window length in days.
    pub acquisition_days: u32,
    /// End of observation (exclusive): the natural `as_of` for fitting.
    pub end: NaiveDate,
    pub bgnbd: BgNbdParams,
    pub gamma_gamma: GammaGammaParams,
    pub basket: BasketParams,
    /// The feedback table's planted rates (lakes generated before it existed
    /// have none: the defaults are read).
    #[serde(default = "default_feedback")]
    pub feedback: FeedbackParams,
    pub counts: Counts,
}

fn default_feedback() -> FeedbackParams {
    DEFAULT_FEEDBACK
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub transaction_rows: u64,
    pub orders: u64,
    pub files: u64,
    #[serde(default)]
    pub feedback_rows: u64,
}

/// Settings of one `crmlake generate` run.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub customers: u64,
    pub seed: u64,
    pub out: PathBuf,
    pub items: usize,
    pub bgnbd: BgNbdParams,
    pub gamma_gamma: GammaGammaParams,
    pub customers_per_file: u64,
    pub threads: usize,
}

/// CDNOW's published BG/NBD estimates (weekly alpha 4.414 -> daily 30.898).
pub const DEFAULT_BGNBD: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 30.898,
    a: 0.793,
    b: 2.426,
};

/// CDNOW's published Gamma-Gamma estimates.
pub const DEFAULT_GAMMA_GAMMA: GammaGammaParams = GammaGammaParams {
    p: 6.25,
    q: 3.74,
    gamma: 15.44,
};

const START: (i32, u32, u32) = (2023, 1, 1);
const ACQUISITION_DAYS: u32 = 84;
const OBSERVATION_DAYS: i64 = 546; // 78 weeks, as CDNOW
const BATCH_ROWS: usize = 64 * 1024;
/// Mixed into the seed of the feedback's random streams.
const FEEDBACK_STREAM: u64 = 0xFEED_BAC4_0000_0001;
const COUNTRIES: &[&str] = &[
    "United Kingdom",
    "Germany",
    "France",
    "Spain",
    "Netherlands",
    "Belgium",
];

impl GenerateOptions {
    pub fn new(customers: u64, seed: u64, out: PathBuf) -> Self {
        GenerateOptions {
            customers,
            seed,
            out,
            items: 500,
            bgnbd: DEFAULT_BGNBD,
            gamma_gamma: DEFAULT_GAMMA_GAMMA,
            customers_per_file: 1_000_000,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

/// Parse `"r,alpha,a,b"` for `--bgnbd`.
pub fn parse_bgnbd(text: &str) -> Result<BgNbdParams> {
    let v = parse_positive_list("--bgnbd", text, &["r", "alpha", "a", "b"])?;
    Ok(BgNbdParams {
        r: v[0],
        alpha: v[1],
        a: v[2],
        b: v[3],
    })
}

/// Parse `"p,q,gamma"` for `--gamma-gamma`.
pub fn parse_gamma_gamma(text: &str) -> Result<GammaGammaParams> {
    let v = parse_positive_list("--gamma-gamma", text, &["p", "q", "gamma"])?;
    Ok(GammaGammaParams {
        p: v[0],
        q: v[1],
        gamma: v[2],
    })
}

fn parse_positive_list(arg: &str, text: &str, names: &[&str]) -> Result<Vec<f64>> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != names.len() {
        return Err(CrmlakeError::user(format!(
            "{arg} '{text}': expected {} comma-separated numbers ({})",
            names.len(),
            names.join(",")
        )));
    }
    parts
        .iter()
        .zip(names)
        .map(|(p, n)| match p.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(CrmlakeError::user(format!(
                "{arg}: {n} = '{p}' is not a positive number"
            ))),
        })
        .collect()
}

fn product_id(item: usize) -> String {
    format!("P{item:05}")
}

/// Planted pairs: antecedents among the 40 most popular items, consequents
/// among the next 160, fixed by the seed.
fn planted_pairs(seed: u64, items: usize) -> Vec<CoPurchase> {
    if items < 50 {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_BA5C);
    let mut pairs: Vec<CoPurchase> = Vec::new();
    let top = 40.min(items / 4);
    let rest_end = (top + 160).min(items);
    while pairs.len() < 10 {
        let a = product_id(rng.random_range(0..top));
        let c = product_id(rng.random_range(top..rest_end));
        if pairs
            .iter()
            .any(|p| p.antecedent == a || p.consequent == c || p.consequent == a)
        {
            continue;
        }
        let probability = (rng.random_range(30..=70) as f64) / 100.0;
        pairs.push(CoPurchase {
            antecedent: a,
            consequent: c,
            probability,
        });
    }
    pairs
}

pub fn transactions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("order_id", DataType::Utf8, false),
        Field::new("product_id", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, false),
        Field::new("unit_price", DataType::Float64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("country", DataType::Utf8, true),
    ]))
}

pub fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("country", DataType::Utf8, true),
        Field::new(
            "first_seen",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]))
}

/// Draws one order's items: Zipf popularity plus planted pairs.
struct BasketSampler {
    cdf: Vec<f64>,
    extra_lines: Poisson<f64>,
    /// pair index by antecedent item
    pairs: Vec<(usize, usize, f64)>,
}

impl BasketSampler {
    fn new(b: &BasketParams) -> Result<Self> {
        let mut cdf = Vec::with_capacity(b.items);
        let mut acc = 0.0;
        for k in 1..=b.items {
            acc += 1.0 / (k as f64).powf(b.zipf_exponent);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        let parse = |s: &str| {
            s[1..]
                .parse::<usize>()
                .map_err(|e| CrmlakeError::Internal(e.to_string()))
        };
        let pairs = b
            .pairs
            .iter()
            .map(|p| Ok((parse(&p.antecedent)?, parse(&p.consequent)?, p.probability)))
            .collect::<Result<Vec<_>>>()?;
        let extra_lines = Poisson::new(b.mean_extra_lines)
            .map_err(|e| CrmlakeError::Internal(format!("basket: {e}")))?;
        Ok(BasketSampler {
            cdf,
            extra_lines,
            pairs,
        })
    }

    fn draw(&self, rng: &mut StdRng, out: &mut Vec<usize>) {
        out.clear();
        let lines = 1 + self.extra_lines.sample(rng) as usize;
        let lines = lines.min(self.cdf.len());
        let mut attempts = 0;
        while out.len() < lines && attempts < lines * 20 {
            attempts += 1;
            let u: f64 = rng.random();
            let item = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1);
            if !out.contains(&item) {
                out.push(item);
            }
        }
        let drawn = out.len();
        for i in 0..drawn {
            for &(a, c, prob) in &self.pairs {
                if out[i] == a && !out.contains(&c) && rng.random::<f64>() < prob {
                    out.push(c);
                }
            }
        }
    }
}

struct FileWriter<'a> {
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    path: &'a Path,
}

impl<'a> FileWriter<'a> {
    fn create(path: &'a Path, schema: SchemaRef) -> Result<Self> {
        let file = File::create(path).map_err(|e| CrmlakeError::io(path.display(), e))?;
        let writer = ArrowWriter::try_new(
            file,
            schema.clone(),
            Some(crate::output::writer_properties()),
        )
        .map_err(|e| CrmlakeError::Internal(format!("parquet writer: {e}")))?;
        Ok(FileWriter {
            schema,
            writer,
            path,
        })
    }
    fn write(&mut self, columns: Vec<ArrayRef>) -> Result<()> {
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| CrmlakeError::Internal(format!("generate batch: {e}")))?;
        self.writer
            .write(&batch)
            .map_err(|e| CrmlakeError::user(format!("writing '{}': {e}", self.path.display())))
    }
    fn close(self) -> Result<()> {
        self.writer
            .close()
            .map(|_| ())
            .map_err(|e| CrmlakeError::user(format!("writing '{}': {e}", self.path.display())))
    }
}

struct TxBuilders {
    customer_id: Int64Builder,
    ts: TimestampMicrosecondBuilder,
    order_id: StringBuilder,
    product_id: StringBuilder,
    description: StringBuilder,
    quantity: Int64Builder,
    unit_price: Float64Builder,
    amount: Float64Builder,
    country: StringBuilder,
    rows: usize,
}

impl TxBuilders {
    fn new() -> Self {
        TxBuilders {
            customer_id: Int64Builder::with_capacity(BATCH_ROWS),
            ts: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS),
            order_id: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 12),
            product_id: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 6),
            description: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 12),
            quantity: Int64Builder::with_capacity(BATCH_ROWS),
            unit_price: Float64Builder::with_capacity(BATCH_ROWS),
            amount: Float64Builder::with_capacity(BATCH_ROWS),
            country: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8),
            rows: 0,
        }
    }
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        vec![
            Arc::new(self.customer_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.order_id.finish()),
            Arc::new(self.product_id.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.unit_price.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.country.finish()),
        ]
    }
}

fn stream_seed(seed: u64, file: u64) -> u64 {
    // splitmix64 of (seed, file): independent streams per file.
    let mut z = seed ^ file.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Write customers `[first, first + n)` into `part-{file}.parquet` files.
fn generate_file(
    opts: &GenerateOptions,
    truth: &Truth,
    sampler: &BasketSampler,
    voices: &FeedbackSampler,
    file: u64,
) -> Result<Counts> {
    let first = file * opts.customers_per_file;
    let n = opts.customers_per_file.min(opts.customers - first);
    let mut rng = StdRng::seed_from_u64(stream_seed(opts.seed, file));
    // The feedback's own stream: the transactions are the same with it.
    let mut feedback_rng = StdRng::seed_from_u64(stream_seed(opts.seed ^ FEEDBACK_STREAM, file));
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        CrmlakeError::user(format!("{what} parameters: {e}"))
    };
    let bg = opts.bgnbd;
    let lambda_dist = Gamma::new(bg.r, 1.0 / bg.alpha).map_err(|e| bad("--bgnbd", &e))?;
    let p_dist = Beta::new(bg.a, bg.b).map_err(|e| bad("--bgnbd", &e))?;
    let gg = opts.gamma_gamma;
    let nu_dist = Gamma::new(gg.q, 1.0 / gg.gamma).map_err(|e| bad("--gamma-gamma", &e))?;

    let name = format!("part-{file:05}.parquet");
    let tx_path = opts.out.join("transactions").join(&name);
    let cu_path = opts.out.join("customers").join(&name);
    let fb_path = opts.out.join("feedback").join(&name);
    let mut tx_writer = FileWriter::create(&tx_path, transactions_schema())?;
    let mut cu_writer = FileWriter::create(&cu_path, customers_schema())?;
    let mut fb_writer = FileWriter::create(&fb_path, feedback::feedback_schema())?;
    let mut fb = FeedbackBuilders::new();
    let mut tx = TxBuilders::new();
    let mut cu_id = Int64Builder::with_capacity(BATCH_ROWS);
    let mut cu_country = StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8);
    let mut cu_first = TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS);
    let mut cu_rows = 0usize;

    let start_us = NaiveDateTime::from(truth.start)
        .and_utc()
        .timestamp_micros();
    let day_us = 86_400_000_000f64;
    let horizon = (truth.end - truth.start).num_days() as f64;
    let mut counts = Counts {
        files: 1,
        ..Default::default()
    };
    let mut items = Vec::new();
    let mut weights = Vec::new();
    let mut buf = String::new();
    let product_ids: Vec<String> = (0..truth.basket.items).map(product_id).collect();
    let descriptions: Vec<String> = (0..truth.basket.items)
        .map(|i| format!("Product {i}"))
        .collect();

    for c in first..first + n {
        let customer_id = c as i64 + 1;
        let country = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
        let birth = rng.random::<f64>() * truth.acquisition_days as f64;
        let lambda: f64 = lambda_dist.sample(&mut rng);
        let p: f64 = p_dist.sample(&mut rng);
        let nu: f64 = nu_dist.sample(&mut rng);
        let value_dist = Gamma::new(gg.p, 1.0 / nu).map_err(|e| bad("--gamma-gamma", &e))?;

        cu_id.append_value(customer_id);
        cu_country.append_value(country);
        cu_first.append_value(start_us + (birth * day_us) as i64);
        cu_rows += 1;
        if cu_rows == BATCH_ROWS {
            cu_writer.write(vec![
                Arc::new(cu_id.finish()),
                Arc::new(cu_country.finish()),
                Arc::new(cu_first.finish()),
            ])?;
            cu_rows = 0;
        }

        let mut t = birth;
        let mut k = 0u32;
        let mut last_purchase;
        let mut dropped_out = false;
        loop {
            last_purchase = t;
            let z: f64 = value_dist.sample(&mut rng);
            let ts = start_us + (t * day_us) as i64;
            sampler.draw(&mut rng, &mut items);
            weights.clear();
            weights.extend(items.iter().map(|_| rng.random_range(0.5..1.5f64)));
            let total: f64 = weights.iter().sum();
            buf.clear();
            let _ = write!(buf, "G{customer_id}-{k}");
            for (item, w) in items.iter().zip(&weights) {
                let price = z * w / total;
                tx.customer_id.append_value(customer_id);
                tx.ts.append_value(ts);
                tx.order_id.append_value(&buf);
                tx.product_id.append_value(&product_ids[*item]);
                tx.description.append_value(&descriptions[*item]);
                tx.quantity.append_value(1);
                tx.unit_price.append_value(price);
                tx.amount.append_value(price);
                tx.country.append_value(country);
                tx.rows += 1;
                counts.transaction_rows += 1;
                if tx.rows == BATCH_ROWS {
                    tx_writer.write(tx.finish())?;
                }
            }
            counts.orders += 1;
            k += 1;
            // Repeat purchases: exponential gaps while alive; dropout after each.
            if lambda <= 0.0 {
                break;
            }
            t += Exp::new(lambda)
                .map_err(|e| bad("--bgnbd", &e))?
                .sample(&mut rng);
            if t >= horizon {
                break;
            }
            if k > 1 && rng.random::<f64>() < p {
                dropped_out = true;
                break;
            }
        }
        let life = Life {
            customer_id,
            first_purchase: birth,
            last_purchase,
            dropped_out,
        };
        voices.customer(&mut feedback_rng, &life, start_us, horizon, &mut fb);
        if fb.rows >= BATCH_ROWS {
            counts.feedback_rows += fb.rows as u64;
            fb_writer.write(fb.finish())?;
        }
    }
    if fb.rows > 0 {
        counts.feedback_rows += fb.rows as u64;
        fb_writer.write(fb.finish())?;
    }
    fb_writer.close()?;
    if tx.rows > 0 {
        tx_writer.write(tx.finish())?;
    }
    if cu_rows > 0 {
        cu_writer.write(vec![
            Arc::new(cu_id.finish()),
            Arc::new(cu_country.finish()),
            Arc::new(cu_first.finish()),
        ])?;
    }
    tx_writer.close()?;
    cu_writer.close()?;
    Ok(counts)
}

/// Write the synthetic lake and its `_truth.json`; returns the truth.
pub fn generate(opts: &GenerateOptions) -> Result<Truth> {
    if opts.customers == 0 {
        return Err(CrmlakeError::user("--customers must be at least 1"));
    }
    if opts.items < 2 {
        return Err(CrmlakeError::user("--items must be at least 2"));
    }
    if opts.customers_per_file == 0 {
        return Err(CrmlakeError::user(
            "--customers-per-file must be at least 1",
        ));
    }
    for t in ["transactions", "customers", "feedback", "feedback_taxonomy"] {
        let dir = opts.out.join(t);
        if dir.exists() {
            return Err(CrmlakeError::user(format!(
                "--out '{}' already holds a '{t}' table: remove it or choose another folder",
                opts.out.display()
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|e| CrmlakeError::io(dir.display(), e))?;
    }
    let start = NaiveDate::from_ymd_opt(START.0, START.1, START.2)
        .ok_or_else(|| CrmlakeError::Internal("bad start date".into()))?;
    let mut truth = Truth {
        seed: opts.seed,
        customers: opts.customers,
        time_unit: "day".into(),
        start,
        acquisition_days: ACQUISITION_DAYS,
        end: start + chrono::Duration::days(OBSERVATION_DAYS),
        bgnbd: opts.bgnbd,
        gamma_gamma: opts.gamma_gamma,
        basket: BasketParams {
            items: opts.items,
            zipf_exponent: 1.0,
            mean_extra_lines: 2.0,
            pairs: planted_pairs(opts.seed, opts.items),
        },
        feedback: DEFAULT_FEEDBACK,
        counts: Counts::default(),
    };
    let sampler = BasketSampler::new(&truth.basket)?;
    let voices = FeedbackSampler::new(truth.feedback)?;
    let files = opts.customers.div_ceil(opts.customers_per_file);
    let next = AtomicUsize::new(0);
    let threads = opts.threads.clamp(1, files as usize);
    let results: Vec<Result<Counts>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut total = Counts::default();
                    loop {
                        let f = next.fetch_add(1, Ordering::Relaxed) as u64;
                        if f >= files {
                            return Ok(total);
                        }
                        let c = generate_file(opts, &truth, &sampler, &voices, f)?;
                        total.transaction_rows += c.transaction_rows;
                        total.orders += c.orders;
                        total.files += c.files;
                        total.feedback_rows += c.feedback_rows;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(CrmlakeError::Internal("generator thread panicked".into()))
                })
            })
            .collect()
    });
    for r in results {
        let c = r?;
        truth.counts.transaction_rows += c.transaction_rows;
        truth.counts.orders += c.orders;
        truth.counts.files += c.files;
        truth.counts.feedback_rows += c.feedback_rows;
    }
    let taxonomy = feedback::taxonomy_batch()?;
    let path = opts
        .out
        .join("feedback_taxonomy")
        .join("feedback_taxonomy.parquet");
    let mut writer = FileWriter::create(&path, taxonomy.schema())?;
    writer.write(taxonomy.columns().to_vec())?;
    writer.close()?;
    let path = opts.out.join("_truth.json");
    let json =
        serde_json::to_string_pretty(&truth).map_err(|e| CrmlakeError::Internal(e.to_string()))?;
    std::fs::write(&path, json + "\n").map_err(|e| CrmlakeError::io(path.display(), e))?;
    Ok(truth)
}
