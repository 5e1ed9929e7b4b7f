//! Matching the fields of a `features` struct to a model's features by name,
//! for every scoring function (`kmeans_assign`, `churn_score`, ...): order
//! does not matter, an extra or a missing field is an error naming it.

use datafusion::arrow::datatypes::Fields;

use crate::error::UdfError;

/// For each of the model's `features`, in order, the index of the struct
/// field of that name.
pub fn match_fields<S: AsRef<str>>(
    function: &'static str,
    features: &[S],
    fields: &Fields,
) -> Result<Vec<usize>, UdfError> {
    let names: Vec<&str> = features.iter().map(AsRef::as_ref).collect();
    if let Some(extra) = fields.iter().find(|f| !names.contains(&f.name().as_str())) {
        return Err(UdfError::argument(
            function,
            "features",
            format!(
                "field '{}' is not a feature of the model (features: {})",
                extra.name(),
                names.join(", ")
            ),
        ));
    }
    names
        .iter()
        .map(|name| {
            fields.iter().position(|f| f.name() == name).ok_or_else(|| {
                UdfError::argument(
                    function,
                    "features",
                    format!("field '{name}' of the model is missing"),
                )
            })
        })
        .collect()
}
