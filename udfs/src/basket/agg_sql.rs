//! The aggregates that mine `(basket_id, item)` rows:
//! `frequent_itemsets_agg(basket_id, item, min_support [, options])` and
//! `association_rules_agg(basket_id, item, min_support, min_confidence [,
//! options])`. Each returns its rows as one list of structs (the
//! `frequent_itemsets` and `association_rules` table functions unnest it), so
//! they also mine per group: `GROUP BY store`.
//!
//! Partial states (runs of rows of one basket id, their items as ids into
//! the distinct items) merge across partitions; the final step mines on
//! every core. The constant arguments
//! are read when the accumulator is created.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use super::accumulate::{coerce_basket_id, coerce_item, KeyType, PairBaskets};
use super::items::prepare;
use super::output_rows::{itemsets, rules};
use super::{check_fraction, mine, rules_of, MiningOptions};
use crate::constant_args::{constant, constant_number, constant_text};
use crate::error::UdfError;
use crate::options::coerce_options;

/// Which rows the aggregate returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Itemsets,
    Rules,
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Output::Itemsets => "frequent_itemsets_agg",
            Output::Rules => "association_rules_agg",
        }
    }

    /// Argument names; all but the options are required.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Output::Itemsets => &["basket_id", "item", "min_support", "options"],
            Output::Rules => &[
                "basket_id",
                "item",
                "min_support",
                "min_confidence",
                "options",
            ],
        }
    }

    /// The struct of one output row, for items of type `item`.
    pub fn row_type(self, item: KeyType) -> DataType {
        match self {
            Output::Itemsets => itemsets::row_type(item),
            Output::Rules => rules::row_type(item),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MiningUdaf {
    output: Output,
    signature: Signature,
}

impl MiningUdaf {
    pub fn new(output: Output) -> Self {
        MiningUdaf {
            output,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for MiningUdaf {
    fn name(&self) -> &str {
        self.output.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.output.name();
        let names = self.output.args();
        if arg_types.len() + 1 < names.len() || arg_types.len() > names.len() {
            let required = names[..names.len() - 1].join(", ");
            return Err(
                UdfError::arity(name, format!("{required} [, options]"), arg_types.len()).into(),
            );
        }
        let mut out = vec![
            coerce_basket_id(name, &arg_types[0])?,
            coerce_item(name, "item", &arg_types[1])?,
        ];
        for (t, arg) in arg_types[2..].iter().zip(&names[2..]) {
            if *arg == "options" {
                out.push(coerce_options(name, t)?);
            } else if t.is_numeric() {
                out.push(t.clone());
            } else {
                return Err(
                    UdfError::argument(name, *arg, format!("must be a number, got {t}")).into(),
                );
            }
        }
        Ok(out)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let row = self.output.row_type(KeyType::of(&arg_types[1]));
        Ok(DataType::List(Arc::new(Field::new_list_field(row, true))))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.output.name();
        let names = self.output.args();
        let min_support = constant_number(
            name,
            "min_support",
            &constant(name, "min_support", args.exprs, 2)?,
        )?;
        let min_support = check_fraction(name, "min_support", min_support, false)?;
        let min_confidence = if self.output == Output::Rules {
            let v = constant_number(
                name,
                "min_confidence",
                &constant(name, "min_confidence", args.exprs, 3)?,
            )?;
            check_fraction(name, "min_confidence", v, true)?
        } else {
            0.0
        };
        let options_at = names.len() - 1;
        let text = constant_text(
            name,
            "options",
            &constant(name, "options", args.exprs, options_at)?,
        )?;
        let options = MiningOptions::parse(name, &text, self.output == Output::Rules, 0)?;
        let id_type = KeyType::of(args.expr_fields[0].data_type());
        let item_type = KeyType::of(args.expr_fields[1].data_type());
        Ok(Box::new(MiningAccumulator {
            output: self.output,
            baskets: PairBaskets::new(name, id_type, item_type),
            item_type,
            min_support,
            min_confidence,
            options,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |n: &str, t: &DataType| -> FieldRef {
            Arc::new(Field::new(
                format_state_name(args.name, n),
                KeyType::of(t).list_type(),
                true,
            ))
        };
        let ids = DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true)));
        Ok(vec![
            field("run_basket_ids", args.input_fields[0].data_type()),
            field("items", args.input_fields[1].data_type()),
            Arc::new(Field::new(
                format_state_name(args.name, "run_lengths"),
                ids,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "run_items"),
                DataType::List(Arc::new(Field::new_list_field(DataType::LargeBinary, true))),
                true,
            )),
        ])
    }
}

#[derive(Debug)]
struct MiningAccumulator {
    output: Output,
    baskets: PairBaskets,
    item_type: KeyType,
    min_support: f64,
    min_confidence: f64,
    options: MiningOptions,
}

impl Accumulator for MiningAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.baskets.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.baskets.merge(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.baskets.state())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let name = self.output.name();
        // Built, not taken: evaluate may be called more than once.
        let prepared = prepare(
            &self.baskets.items,
            self.baskets.baskets(),
            self.options.max_basket_items,
        );
        let mined = mine(name, prepared, self.min_support, &self.options)?;
        let rows = match self.output {
            Output::Itemsets => itemsets::rows(&mined, self.item_type),
            Output::Rules => {
                let (rules, _) = rules_of(name, &mined, self.min_confidence, &self.options);
                rules::rows(&mined, &rules, self.item_type)
            }
        };
        Ok(ScalarValue::List(Arc::new(rows)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.baskets.heap_size()
    }
}
