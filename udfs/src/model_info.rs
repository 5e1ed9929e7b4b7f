//! `model_info(model)`: any crmlake model rendered as JSON: `kind`, `params`
//! (named as in the literature) and the fit's diagnostics (`log_likelihood`,
//! `n`, `converged`, `iterations`, `std_errors`, `skipped`); for a rules model
//! (`basket_fit`) its thresholds, basket, itemset, rule and item counts instead
//! of the rules themselves. NULL gives NULL; a value that is not a model is an
//! error.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model_arg::{coerce_model, BatchModels, Models};

const NAME: &str = "model_info";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "model_info(model) -> VARCHAR (JSON)",
        description: "A model's kind, parameters and fit diagnostics as JSON",
        example: "SELECT model_info(gamma_gamma_fit(f, m)) FROM (VALUES (2, 30.0), (1, 12.5), (4, 41.0), (3, 22.0), (1, 80.0)) AS s(f, m)",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ModelInfo::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ModelInfo {
    signature: Signature,
}

impl ModelInfo {
    pub fn new() -> Self {
        ModelInfo {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ModelInfo {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ModelInfo {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return Err(UdfError::arity(NAME, "model", arg_types.len()).into());
        }
        Ok(vec![coerce_model(NAME, &arg_types[0])?])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let models = Models::new(NAME, &arrays[0])?;
        let mut cache = BatchModels::new(NAME);
        let mut out = StringBuilder::with_capacity(models.len(), 256 * models.len());
        for i in 0..models.len() {
            if models.is_null(i) {
                out.append_null();
            } else {
                out.append_value(cache.get(models.value(i))?.info_json());
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
