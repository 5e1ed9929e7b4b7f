//! Every crmlake aggregate tells DataFusion's memory pool the truth: its
//! accumulator's `size()` is within 2x of the heap bytes it really holds
//! (counted by a global allocator), on inputs of 10k to 1M rows fed in
//! 8,192-row batches as DataFusion feeds them. An aggregate that under-reports
//! lets a job grow past its memory limit until the kernel kills it; one that
//! over-reports fails jobs that would fit.
//!
//! Bytes are counted per thread (the accumulator is fed on the test's
//! thread), so other tests running at the same time do not disturb them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListArray, StringArray,
    StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int32Type, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::PhysicalExpr;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    // `try_with`: the counter may be gone while a thread shuts down.
    let _ = LIVE.try_with(|c| c.set(c.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// A reproducible stream of numbers (an LCG; no allocation).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

/// One aggregate's input: rows `start..start + len` of its columns.
type Batch = fn(&mut Lcg, usize, usize) -> Vec<ArrayRef>;

struct Case {
    name: &'static str,
    batch: Batch,
    constants: Vec<ScalarValue>,
}

fn customers(start: usize, len: usize) -> ArrayRef {
    // About 3 rows per customer, in order (as a customer's lines arrive).
    Arc::new(StringArray::from_iter_values(
        (start..start + len).map(|i| format!("C{:08}", i / 3)),
    ))
}

fn scores(r: &mut Lcg, len: usize) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values((0..len).map(|_| r.unit())))
}

fn labels(r: &mut Lcg, len: usize) -> ArrayRef {
    Arc::new(BooleanArray::from_iter(
        (0..len).map(|_| Some(r.below(3) == 0)),
    ))
}

fn summary(r: &mut Lcg, len: usize) -> Vec<ArrayRef> {
    let f: Vec<f64> = (0..len).map(|_| r.below(6) as f64).collect();
    let t: Vec<f64> = (0..len).map(|_| 30.0 + r.below(500) as f64).collect();
    let rec: Vec<f64> = f
        .iter()
        .zip(&t)
        .map(|(&f, &t)| if f > 0.0 { (t * 0.8).floor() } else { 0.0 })
        .collect();
    vec![
        Arc::new(Float64Array::from(f)),
        Arc::new(Float64Array::from(rec)),
        Arc::new(Float64Array::from(t)),
    ]
}

fn features(r: &mut Lcg, len: usize, with_text: bool) -> ArrayRef {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for name in ["recency", "frequency", "monetary"] {
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter_values(
            (0..len).map(|_| r.below(1000) as f64),
        )));
    }
    if with_text {
        fields.push(Field::new("plan", DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from_iter_values(
            (0..len).map(|_| ["basic", "pro", "team"][r.below(3) as usize]),
        )));
    }
    Arc::new(StructArray::new(Fields::from(fields), columns, None))
}

fn items(r: &mut Lcg, start: usize, len: usize) -> Vec<ArrayRef> {
    // Baskets of about 4 lines over 200 products (ids as text).
    let baskets = Int64Array::from_iter_values((start..start + len).map(|i| (i / 4) as i64));
    let products = StringArray::from_iter_values(
        (0..len).map(|_| format!("P{}", r.below(200) % (1 + r.below(200)))),
    );
    vec![Arc::new(baskets), Arc::new(products)]
}

fn cases() -> Vec<Case> {
    let s = |v: &str| ScalarValue::Utf8(Some(v.into()));
    let f = |v: f64| ScalarValue::Float64(Some(v));
    let i = |v: i64| ScalarValue::Int64(Some(v));
    vec![
        Case {
            name: "nps",
            batch: |r, _, n| {
                vec![Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|_| r.below(11) as i64),
                ))]
            },
            constants: vec![],
        },
        Case {
            name: "csat",
            batch: |r, _, n| {
                vec![Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|_| 1 + r.below(5) as i64),
                ))]
            },
            constants: vec![],
        },
        Case {
            name: "repurchase_rate",
            batch: |_, start, n| {
                let orders = StringArray::from_iter_values(
                    (start..start + n).map(|i| format!("O{}", i / 2)),
                );
                vec![customers(start, n), Arc::new(orders)]
            },
            constants: vec![],
        },
        Case {
            name: "complaint_rate",
            batch: |r, start, n| vec![customers(start, n), labels(r, n)],
            constants: vec![],
        },
        Case {
            name: "churn_rate",
            batch: |r, start, n| {
                let days =
                    Date32Array::from_iter_values((0..n).map(|_| 19_700 + r.below(200) as i32));
                vec![customers(start, n), Arc::new(days)]
            },
            constants: vec![s("2024-01-15"), i(90)],
        },
        Case {
            name: "roc_auc",
            batch: |r, _, n| vec![scores(r, n), labels(r, n)],
            constants: vec![],
        },
        Case {
            name: "pr_auc",
            batch: |r, _, n| vec![scores(r, n), labels(r, n)],
            constants: vec![],
        },
        Case {
            name: "log_loss",
            batch: |r, _, n| vec![scores(r, n), labels(r, n)],
            constants: vec![],
        },
        Case {
            name: "lift_at",
            batch: |r, _, n| vec![scores(r, n), labels(r, n)],
            constants: vec![f(0.1)],
        },
        Case {
            name: "bgnbd_fit",
            batch: |r, _, n| summary(r, n),
            constants: vec![],
        },
        Case {
            name: "paretonbd_fit",
            batch: |r, _, n| summary(r, n),
            constants: vec![],
        },
        Case {
            name: "mbgnbd_fit",
            batch: |r, _, n| summary(r, n),
            constants: vec![],
        },
        Case {
            name: "gamma_gamma_fit",
            batch: |r, _, n| {
                let f = Float64Array::from_iter_values((0..n).map(|_| 1.0 + r.below(5) as f64));
                let m = Float64Array::from_iter_values((0..n).map(|_| 5.0 + r.below(100) as f64));
                vec![Arc::new(f), Arc::new(m)]
            },
            constants: vec![],
        },
        Case {
            name: "churn_train",
            batch: |r, _, n| vec![features(r, n, true), labels(r, n)],
            constants: vec![s("algorithm=gbt")],
        },
        Case {
            name: "kmeans_fit",
            batch: |r, _, n| vec![features(r, n, false)],
            constants: vec![i(5)],
        },
        Case {
            name: "kmeans_scan",
            batch: |r, _, n| vec![features(r, n, false)],
            constants: vec![i(2), i(4)],
        },
        Case {
            name: "frequent_itemsets_agg",
            batch: items,
            constants: vec![f(0.01)],
        },
        Case {
            name: "association_rules_agg",
            batch: items,
            constants: vec![f(0.01), f(0.5)],
        },
        Case {
            name: "rows_agg",
            batch: |r, start, n| vec![customers(start, n), scores(r, n)],
            constants: vec![],
        },
        Case {
            name: "basket_fit",
            batch: |r, _, n| {
                // n baskets of 1 to 6 products.
                let lists = (0..n).map(|_| {
                    let k = 1 + r.below(6);
                    Some(
                        (0..k)
                            .map(|_| Some(r.below(300) as i32))
                            .collect::<Vec<_>>(),
                    )
                });
                vec![Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
                    lists,
                ))]
            },
            constants: vec![f(0.01), f(0.5)],
        },
    ]
}

fn udaf(name: &str) -> Arc<AggregateUDF> {
    crmlake_udfs::catalog::catalog()
        .into_iter()
        .find_map(|e| match e.registration {
            crmlake_udfs::catalog::Registration::Aggregate(f) if e.name == name => Some(f),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no aggregate {name}"))
}

/// (rows fed, bytes held, size() reported) after each of `sizes` rows.
fn measure(case: &Case, sizes: &[usize]) -> Vec<(usize, isize, usize)> {
    let f = udaf(case.name);
    let mut r = Lcg(7);
    let sample = (case.batch)(&mut r, 0, 2);
    let mut types: Vec<DataType> = sample.iter().map(|a| a.data_type().clone()).collect();
    types.extend(case.constants.iter().map(ScalarValue::data_type));
    let coerced = f.coerce_types(&types).expect("types accepted");
    let fields: Vec<FieldRef> = coerced
        .iter()
        .enumerate()
        .map(|(i, t)| Arc::new(Field::new(format!("a{i}"), t.clone(), true)))
        .collect();
    let schema = Schema::new(fields.clone());
    let columns = sample.len();
    let exprs: Vec<Arc<dyn PhysicalExpr>> = (0..coerced.len())
        .map(|i| -> Arc<dyn PhysicalExpr> {
            if i < columns {
                Arc::new(Column::new(&format!("a{i}"), i))
            } else {
                let v = case.constants[i - columns]
                    .cast_to(&coerced[i])
                    .expect("constant casts");
                Arc::new(Literal::new(v))
            }
        })
        .collect();
    let return_field = Arc::new(Field::new(
        case.name,
        f.return_type(&coerced).expect("return type"),
        true,
    ));
    let args = AccumulatorArgs {
        return_field,
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: case.name,
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    };
    let mut out = Vec::new();
    let base = live();
    let mut acc = f.accumulator(args).expect("accumulator");
    let mut fed = 0;
    for &target in sizes {
        while fed < target {
            let n = 8192.min(target - fed);
            let mut values: Vec<ArrayRef> = (case.batch)(&mut r, fed, n)
                .into_iter()
                .zip(&coerced)
                .map(|(a, t)| datafusion::arrow::compute::cast(&a, t).expect("casts"))
                .collect();
            for c in &case.constants[..] {
                let t = &coerced[values.len()];
                let v = c.cast_to(t).expect("constant casts");
                values.push(v.to_array_of_size(n).expect("constant column"));
            }
            acc.update_batch(&values).expect("update");
            fed += n;
        }
        out.push((fed, live() - base, acc.size()));
    }
    drop(acc);
    out
}

#[test]
fn every_aggregate_reports_the_memory_it_holds() {
    let mut failures = Vec::new();
    let mut table = String::new();
    for case in cases() {
        for (rows, held, size) in measure(&case, &[10_000, 100_000, 1_000_000]) {
            table += &format!(
                "{:<24} {rows:>9} held {held:>11} size {size:>11}\n",
                case.name
            );
            // Tiny states: the box and a few fields, where fixed overheads of
            // a few hundred bytes dominate.
            let tiny = held.max(size as isize) < 4096;
            let within = size as f64 <= 2.0 * held as f64 && held as f64 <= 2.0 * size as f64;
            if !(tiny || within) {
                failures.push(format!(
                    "{} at {rows} rows: holds {held} bytes, size() says {size}",
                    case.name
                ));
            }
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
