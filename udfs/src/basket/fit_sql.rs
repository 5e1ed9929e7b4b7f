//! `basket_fit(items, min_support, min_confidence [, options])`: an aggregate
//! over baskets (one row per basket, `items` a list such as
//! `array_agg(product_id)`) returning a rules model for `recommend`.
//!
//! The model holds the rules (capped at `max_rules`, default 100,000, the
//! best by lift; a warning says when the cap cut), the items they mention and
//! the 100 most bought items for the popularity fallback, with the
//! thresholds it was fitted with; `model_info` shows those counts and
//! thresholds. Options as for `association_rules`. NULL items are skipped,
//! and a list with no other item (empty, NULL, or only NULLs) is no basket:
//! the same baskets `frequent_itemsets`/`association_rules` count from
//! (basket, item) rows, so supports and lifts agree. The partial state (the
//! baskets) merges across partitions.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::accumulate::{coerce_item_list, KeyType, ListBaskets};
use super::items::prepare;
use super::recommend::{BasketRules, RulesParams, StoredRule, POPULAR_ITEMS};
use super::rules::Rules;
use super::{check_fraction, mine, rules_of, Mined, MiningOptions};
use crate::constant_args::{constant, constant_number, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::options::coerce_options;

const NAME: &str = "basket_fit";
const DEFAULT_MAX_RULES: usize = 100_000;

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "basket_fit(items, min_support, min_confidence [, options]) -> model",
        description: "Fit a rules model for recommend over baskets (one list of items per row); options as association_rules, max_rules default 100000",
        example: "SELECT model_info(basket_fit(items, 0.3, 0.5)) FROM (VALUES (['bread', 'milk']), (['bread', 'milk', 'jam']), (['bread']), (['tea'])) AS b(items)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(BasketFit::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BasketFit {
    signature: Signature,
}

impl BasketFit {
    pub fn new() -> Self {
        BasketFit {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for BasketFit {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for BasketFit {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(3..=4).contains(&arg_types.len()) {
            return Err(UdfError::arity(
                NAME,
                "items, min_support, min_confidence [, options]",
                arg_types.len(),
            )
            .into());
        }
        let mut out = vec![coerce_item_list(NAME, "items", &arg_types[0])?];
        for (t, arg) in arg_types[1..3]
            .iter()
            .zip(["min_support", "min_confidence"])
        {
            if !t.is_numeric() {
                return Err(
                    UdfError::argument(NAME, arg, format!("must be a number, got {t}")).into(),
                );
            }
            out.push(t.clone());
        }
        if let Some(t) = arg_types.get(3) {
            out.push(coerce_options(NAME, t)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let number = |arg: &str, i: usize| -> Result<f64> {
            constant_number(NAME, arg, &constant(NAME, arg, args.exprs, i)?)
        };
        let min_support = check_fraction(NAME, "min_support", number("min_support", 1)?, false)?;
        let min_confidence =
            check_fraction(NAME, "min_confidence", number("min_confidence", 2)?, true)?;
        let text = constant_text(NAME, "options", &constant(NAME, "options", args.exprs, 3)?)?;
        let options = MiningOptions::parse(NAME, &text, true, DEFAULT_MAX_RULES)?;
        let item_type = list_item_type(args.expr_fields[0].data_type());
        Ok(Box::new(FitAccumulator {
            baskets: ListBaskets::new(NAME, item_type),
            min_support,
            min_confidence,
            options,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // Interned items come back as VARCHAR (or BIGINT), whatever the
        // input's string type.
        let list = list_item_type(args.input_fields[0].data_type()).list_type();
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "baskets"),
            DataType::List(Arc::new(Field::new_list_field(list, true))),
            true,
        ))])
    }
}

/// How the items of a (coerced) list argument are interned.
fn list_item_type(list: &DataType) -> KeyType {
    match list {
        DataType::List(f) => KeyType::of(f.data_type()),
        _ => KeyType::Str,
    }
}

#[derive(Debug)]
struct FitAccumulator {
    baskets: ListBaskets,
    min_support: f64,
    min_confidence: f64,
    options: MiningOptions,
}

impl Accumulator for FitAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.baskets.update(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.baskets.merge(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.baskets.state())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let prepared = prepare(
            &self.baskets.items,
            self.baskets.baskets.clone(),
            self.options.max_basket_items,
        );
        if prepared.baskets.is_empty() {
            return Ok(ScalarValue::Utf8(None));
        }
        let counts = prepared.counts.clone();
        let mined = mine(NAME, prepared, self.min_support, &self.options)?;
        let (rules, before) = rules_of(NAME, &mined, self.min_confidence, &self.options);
        let params = RulesParams {
            min_support: self.min_support,
            min_confidence: self.min_confidence,
            max_len: self.options.max_len,
            min_lift: self.options.min_lift,
            max_consequent: self.options.max_consequent,
            max_rules: self.options.max_rules,
            max_basket_items: self.options.max_basket_items,
        };
        let model = Model::BasketRules {
            params,
            rules: build_model(&mined, &rules, before, &counts),
        };
        Ok(ScalarValue::Utf8(Some(model.to_json())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.baskets.heap_size()
    }
}

/// The model: items of the rules plus the most popular ones, renumbered by
/// popularity (most bought first, ties by value), and the rules by those ids.
fn build_model(mined: &Mined, rules: &Rules, before: Option<u64>, counts: &[u64]) -> BasketRules {
    let mut by_popularity: Vec<u32> = (0..counts.len() as u32).collect();
    by_popularity
        .sort_unstable_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    let mut keep = vec![false; counts.len()];
    for &i in by_popularity.iter().take(POPULAR_ITEMS) {
        keep[i as usize] = true;
    }
    for r in rules.iter() {
        for &i in r.antecedent.iter().chain(r.consequent) {
            keep[i as usize] = true;
        }
    }
    let kept: Vec<u32> = by_popularity
        .into_iter()
        .filter(|&i| keep[i as usize])
        .collect();
    let mut new_id = vec![u32::MAX; counts.len()];
    for (n, &old) in kept.iter().enumerate() {
        new_id[old as usize] = n as u32;
    }
    let renumber = |ids: &[u32]| -> Vec<u32> {
        let mut v: Vec<u32> = ids.iter().map(|&i| new_id[i as usize]).collect();
        v.sort_unstable();
        v
    };
    let stored = rules
        .iter()
        .map(|r| {
            let m = r.metrics(mined.n);
            StoredRule {
                antecedent: renumber(r.antecedent),
                consequent: renumber(r.consequent),
                count: r.count,
                confidence: m.confidence,
                lift: m.lift,
            }
        })
        .collect();
    BasketRules {
        baskets: mined.n,
        min_count: mined.min_count,
        itemsets: mined.itemsets.len() as u64,
        rule_count: rules.len() as u64,
        rules_before_cap: before,
        skipped_baskets: mined.skipped_long,
        items: mined.values.select(&kept),
        item_counts: kept.iter().map(|&i| counts[i as usize]).collect(),
        rules: stored,
    }
}
