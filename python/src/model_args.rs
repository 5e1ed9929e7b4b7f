//! String arguments (models, and text such as `clv`'s period) cross the FFI
//! boundary as dictionaries.
//!
//! datafusion-ffi hands a foreign scalar function every argument as an array
//! of the batch's length, constants included. A model is a JSON string of
//! kilobytes to megabytes; as a plain string array it would be copied once per
//! row and parsed once per row. This wrapper asks DataFusion to coerce every
//! top-level string argument to `Dictionary(Int32, Utf8)`, so a constant
//! crosses as one value plus a key per row, and hands it back to the crmlake
//! function as the constant it was. `Utf8View` arguments (what a model column
//! read from Parquet is, e.g. in a scalar subquery over a models table) stay
//! views: the Arrow C interface passes their buffers without copying, and a
//! batch whose views are all identical (16-byte compares, no hashing of the
//! model text) is handed on as one constant. A string column that varies
//! within a batch is passed on as a plain string array, so nothing changes
//! meaning.
//!
//! One exception: the options argument of the functions whose return type
//! depends on it (`p_alive(..., 'interval=0.9')` returns a struct) keeps its
//! own type. A cast to a dictionary would hide the literal from the planner
//! when it computes the return type; options are a few bytes, so nothing is
//! lost by copying them per row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int32Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature,
};

/// The dictionary type string arguments are coerced to.
fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A crmlake scalar function whose string arguments travel as dictionaries.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DictionaryStringArgs {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl DictionaryStringArgs {
    pub fn new(inner: Arc<ScalarUDF>) -> Self {
        let volatility = inner.signature().volatility;
        DictionaryStringArgs {
            inner,
            signature: Signature::new(TypeSignature::UserDefined, volatility),
        }
    }

    /// The types the crmlake function itself coerces `types` to.
    fn inner_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        match &self.inner.signature().type_signature {
            TypeSignature::UserDefined => self.inner.coerce_types(types),
            _ => datafusion::logical_expr::type_coercion::functions::fields_with_udf(
                &types
                    .iter()
                    .map(|t| Arc::new(Field::new("arg", t.clone(), true)))
                    .collect::<Vec<_>>(),
                self.inner.as_ref(),
            )
            .map(|fields| fields.iter().map(|f| f.data_type().clone()).collect()),
        }
    }

    /// The position of an options argument whose literal decides the return
    /// type, which must stay uncast.
    fn options_position(&self, arity: usize) -> Option<usize> {
        let reads_options =
            crmlake_udfs::ltv::interval_sql::RETURN_TYPE_FROM_LAST_ARGUMENT.contains(&self.name());
        (reads_options && arity > 1).then(|| arity - 1)
    }

    /// The argument types the crmlake function sees, given the dictionary
    /// ones this wrapper receives.
    fn unwrapped_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let plain: Vec<DataType> = types.iter().map(value_type).collect();
        self.inner_types(&plain)
    }

    /// The types and fields the crmlake function sees for the fields this
    /// wrapper receives.
    fn unwrapped_fields(&self, fields: &[FieldRef]) -> Result<(Vec<DataType>, Vec<FieldRef>)> {
        let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
        let plain = self.unwrapped_types(&types)?;
        let unwrapped = fields
            .iter()
            .zip(&plain)
            .map(|(f, t)| Arc::new(f.as_ref().clone().with_data_type(t.clone())))
            .collect();
        Ok((plain, unwrapped))
    }
}

/// The value type of a dictionary, or the type itself.
fn value_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => v.as_ref().clone(),
        other => other.clone(),
    }
}

/// A dictionary scalar's value, or the scalar itself.
fn scalar_value(v: &ScalarValue) -> &ScalarValue {
    match v {
        ScalarValue::Dictionary(_, inner) => inner.as_ref(),
        other => other,
    }
}

/// A dictionary argument as the crmlake function expects it: a constant when
/// every row holds the same value, otherwise a plain array of `target`.
fn unwrap_argument(value: ColumnarValue, target: &DataType) -> Result<ColumnarValue> {
    match value {
        ColumnarValue::Scalar(v) => Ok(ColumnarValue::Scalar(scalar_value(&v).cast_to(target)?)),
        ColumnarValue::Array(a) => {
            if let DataType::Dictionary(key, _) = a.data_type() {
                if key.as_ref() == &DataType::Int32 {
                    if let Some(v) = constant_of(&a)? {
                        return Ok(ColumnarValue::Scalar(v.cast_to(target)?));
                    }
                }
            }
            let plain: ArrayRef = cast(&a, target)?;
            Ok(ColumnarValue::Array(plain))
        }
    }
}

/// The one value a dictionary array holds in every row, if it does (no nulls,
/// all keys equal).
fn constant_of(a: &ArrayRef) -> Result<Option<ScalarValue>> {
    let dict = a.as_dictionary::<Int32Type>();
    if dict.is_empty() || dict.null_count() > 0 {
        return Ok(None);
    }
    let keys = dict.keys().values();
    let first = keys[0];
    if keys.iter().any(|k| *k != first) {
        return Ok(None);
    }
    let index = usize::try_from(first).unwrap_or(usize::MAX);
    if index >= dict.values().len() || dict.values().is_null(index) {
        return Ok(None);
    }
    Ok(Some(ScalarValue::try_from_array(dict.values(), index)?))
}

/// A `Utf8View` array whose rows all share one view (same bytes in the same
/// buffer) as that one constant; anything else unchanged.
fn constant_view(value: ColumnarValue) -> ColumnarValue {
    let ColumnarValue::Array(a) = &value else {
        return value;
    };
    let views = a.as_string_view();
    if views.is_empty() || views.null_count() > 0 {
        return value;
    }
    let first = views.views()[0];
    if views.views().iter().any(|v| *v != first) {
        return value;
    }
    ColumnarValue::Scalar(ScalarValue::Utf8View(Some(views.value(0).to_string())))
}

impl ScalarUDFImpl for DictionaryStringArgs {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // Types may arrive already coerced (planning coerces more than once).
        let inner = self.unwrapped_types(arg_types)?;
        let options = self.options_position(arg_types.len());
        Ok(inner
            .into_iter()
            .zip(arg_types)
            .enumerate()
            .map(|(i, (t, given))| match (t, given) {
                (t, _) if Some(i) == options => t,
                (DataType::Utf8View, DataType::Utf8View) => DataType::Utf8View,
                (t, _) if is_text(&t) => dictionary(),
                (t, _) => t,
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let plain = self.unwrapped_types(arg_types)?;
        self.inner.return_type(&plain)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let (plain, fields) = self.unwrapped_fields(args.arg_fields)?;
        let scalars: Vec<Option<ScalarValue>> = args
            .scalar_arguments
            .iter()
            .zip(&plain)
            .map(|(v, t)| v.and_then(|v| scalar_value(v).cast_to(t).ok()))
            .collect();
        let scalar_refs: Vec<Option<&ScalarValue>> = scalars.iter().map(Option::as_ref).collect();
        self.inner.return_field_from_args(ReturnFieldArgs {
            arg_fields: &fields,
            scalar_arguments: &scalar_refs,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (plain, arg_fields) = self.unwrapped_fields(&args.arg_fields)?;
        let mut values = Vec::with_capacity(args.args.len());
        for (value, (field, target)) in args
            .args
            .into_iter()
            .zip(args.arg_fields.iter().zip(&plain))
        {
            match field.data_type() {
                DataType::Dictionary(..) => values.push(unwrap_argument(value, target)?),
                DataType::Utf8View => values.push(constant_view(value)),
                _ => values.push(value),
            }
        }
        self.inner.invoke_with_args(ScalarFunctionArgs {
            args: values,
            arg_fields,
            number_rows: args.number_rows,
            return_field: args.return_field,
            config_options: args.config_options,
        })
    }
}
