//! # crmlake for datafusion-python
//!
//! The Python extension module `crmlake._crmlake`: every crmlake SQL function
//! as an object datafusion-python 55 accepts.
//!
//! - Scalar functions cross as `__datafusion_scalar_udf__` capsules, wrapped so
//!   that string arguments (models) travel as dictionaries ([`model_args`]).
//! - Aggregates cross as `__datafusion_aggregate_udf__` capsules as they are;
//!   their constant arguments arrive as FFI-wrapped expressions, which
//!   `crmlake_udfs::constant_args` evaluates.
//! - Table functions are SQL generated in Rust and planned by the caller's
//!   session ([`table_sql`]); `crmlake/__init__.py` registers them.
//!
//! ```python
//! import datafusion, crmlake
//! ctx = datafusion.SessionContext()
//! crmlake.register(ctx)
//! ctx.sql("SELECT nps(score) FROM (VALUES (10), (9), (3)) AS t(score)").show()
//! ```

mod model_args;
mod table_sql;

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ffi::FFI_ArrowSchema;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyCapsule, PyDict};

use crmlake_udfs::catalog::Registration;

/// The datafusion-ffi line this module is built against; datafusion-python
/// must be of the same major version (checked in `crmlake/__init__.py`).
const DATAFUSION_FFI_MAJOR: u32 = 55;

/// A crmlake scalar function, exportable to datafusion-python.
#[pyclass(frozen, name = "ScalarFunction", module = "crmlake._crmlake")]
struct ScalarFunction {
    udf: Arc<ScalarUDF>,
}

#[pymethods]
impl ScalarFunction {
    #[getter]
    fn name(&self) -> String {
        self.udf.name().to_string()
    }

    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let wrapped = model_args::DictionaryStringArgs::new(Arc::clone(&self.udf));
        let udf = Arc::new(ScalarUDF::new_from_impl(wrapped));
        PyCapsule::new_with_value(py, FFI_ScalarUDF::from(udf), c"datafusion_scalar_udf")
    }

    fn __repr__(&self) -> String {
        format!("crmlake scalar function {}", self.udf.name())
    }
}

/// A crmlake aggregate function, exportable to datafusion-python.
#[pyclass(frozen, name = "AggregateFunction", module = "crmlake._crmlake")]
struct AggregateFunction {
    udaf: Arc<AggregateUDF>,
}

#[pymethods]
impl AggregateFunction {
    #[getter]
    fn name(&self) -> String {
        self.udaf.name().to_string()
    }

    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let udaf = Arc::clone(&self.udaf);
        PyCapsule::new_with_value(
            py,
            FFI_AggregateUDF::from(udaf),
            c"datafusion_aggregate_udf",
        )
    }

    fn __repr__(&self) -> String {
        format!("crmlake aggregate function {}", self.udaf.name())
    }
}

/// Every crmlake scalar function.
#[pyfunction]
fn scalar_functions() -> Vec<ScalarFunction> {
    crmlake_udfs::catalog()
        .into_iter()
        .filter_map(|e| match e.registration {
            Registration::Scalar(udf) => Some(ScalarFunction { udf }),
            _ => None,
        })
        .collect()
}

/// Every crmlake aggregate function.
#[pyfunction]
fn aggregate_functions() -> Vec<AggregateFunction> {
    crmlake_udfs::catalog()
        .into_iter()
        .filter_map(|e| match e.registration {
            Registration::Aggregate(udaf) => Some(AggregateFunction { udaf }),
            _ => None,
        })
        .collect()
}

/// Every function's documentation: name, kind, signature, description and a
/// runnable SQL example, as `crmlake functions` prints them.
#[pyfunction]
fn function_docs(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    crmlake_udfs::catalog()
        .iter()
        .map(|e| {
            let d = PyDict::new(py);
            d.set_item("name", e.name)?;
            d.set_item("kind", e.kind.as_str())?;
            d.set_item("signature", e.signature)?;
            d.set_item("description", e.description)?;
            d.set_item("example", e.example)?;
            Ok(d)
        })
        .collect()
}

/// The query a table function's `input` text stands for (a table name or a
/// query string), with crmlake's message when it is neither.
#[pyfunction]
#[pyo3(signature = (function, text, argument = "input"))]
fn input_sql(function: &str, text: &str, argument: &str) -> PyResult<String> {
    let name = static_name(function)?;
    crmlake_udfs::table_input::input_sql(name, argument, text)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The arguments of table function `function` beyond the first that are
/// table inputs (a table name or query the caller's session plans), as
/// (index among all arguments, name).
#[pyfunction]
fn other_table_inputs(function: &str) -> Vec<(usize, &'static str)> {
    crmlake_udfs::table_input::OTHER_TABLE_INPUTS
        .iter()
        .filter(|(f, _, _)| *f == function)
        .map(|(_, i, argument)| (*i, *argument))
        .collect()
}

/// Whether `text`, given for argument `argument`, names a table or query
/// (rules given as JSON text do not).
#[pyfunction]
fn is_table_input(argument: &str, text: &str) -> bool {
    crmlake_udfs::table_input::is_table_input(argument, text)
}

/// The SQL of table function `name` over `input_view` (a view of `schema`,
/// a pyarrow schema) with the other literal arguments `args`; `views` are
/// the other inputs the caller registered, (view name, pyarrow schema).
#[pyfunction]
#[pyo3(signature = (name, input_view, schema, args, views = Vec::new()))]
fn table_function_sql(
    name: &str,
    input_view: &str,
    schema: &Bound<'_, PyAny>,
    args: Vec<Bound<'_, PyAny>>,
    views: Vec<(String, Bound<'_, PyAny>)>,
) -> PyResult<String> {
    let schema = arrow_schema(schema)?;
    let values = args
        .iter()
        .enumerate()
        .map(|(i, v)| scalar(name, i + 1, v))
        .collect::<PyResult<Vec<_>>>()?;
    let views = views
        .iter()
        .map(|(view, s)| Ok((view.clone(), Arc::new(arrow_schema(s)?))))
        .collect::<PyResult<Vec<_>>>()?;
    table_sql::table_function_sql(name, input_view, Arc::new(schema), values, views)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// crmlake's catalog names are `&'static str`; look the caller's up.
fn static_name(function: &str) -> PyResult<&'static str> {
    crmlake_udfs::catalog()
        .iter()
        .map(|e| e.name)
        .find(|n| *n == function)
        .ok_or_else(|| PyValueError::new_err(format!("{function} is not a crmlake function")))
}

/// A pyarrow schema (anything with `__arrow_c_schema__`) as an Arrow schema.
fn arrow_schema(obj: &Bound<'_, PyAny>) -> PyResult<Schema> {
    let capsule = obj.call_method0("__arrow_c_schema__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(c"arrow_schema"))?;
    // The capsule owns the FFI schema and releases it; we only read it while
    // the capsule is alive.
    let ffi = unsafe { pointer.cast::<FFI_ArrowSchema>().as_ref() };
    Schema::try_from(ffi).map_err(|e| PyValueError::new_err(format!("input schema: {e}")))
}

/// A literal argument from Python (`None`, bool, int, float or str; dates
/// arrive as 'YYYY-MM-DD' text) as a SQL value.
fn scalar(function: &str, position: usize, v: &Bound<'_, PyAny>) -> PyResult<ScalarValue> {
    if v.is_none() {
        Ok(ScalarValue::Null)
    } else if let Ok(b) = v.cast::<PyBool>() {
        Ok(ScalarValue::Boolean(Some(b.is_true())))
    } else if let Ok(i) = v.extract::<i64>() {
        Ok(ScalarValue::Int64(Some(i)))
    } else if let Ok(x) = v.extract::<f64>() {
        Ok(ScalarValue::Float64(Some(x)))
    } else if let Ok(s) = v.extract::<String>() {
        Ok(ScalarValue::Utf8(Some(s)))
    } else {
        Err(PyTypeError::new_err(format!(
            "{function}: argument {position} must be a literal (number, string, date or NULL), got {}",
            v.get_type().name()?
        )))
    }
}

#[pymodule]
fn _crmlake(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DATAFUSION_FFI_MAJOR", DATAFUSION_FFI_MAJOR)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ScalarFunction>()?;
    m.add_class::<AggregateFunction>()?;
    m.add_function(wrap_pyfunction!(scalar_functions, m)?)?;
    m.add_function(wrap_pyfunction!(aggregate_functions, m)?)?;
    m.add_function(wrap_pyfunction!(function_docs, m)?)?;
    m.add_function(wrap_pyfunction!(input_sql, m)?)?;
    m.add_function(wrap_pyfunction!(table_function_sql, m)?)?;
    m.add_function(wrap_pyfunction!(other_table_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(is_table_input, m)?)?;
    Ok(())
}
