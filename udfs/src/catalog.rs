//! The list of every crmlake SQL function with its documentation.
//!
//! One entry per function: name, kind, signature, a one-line description and a
//! runnable SQL example. `register_all` registers from this list, and `crmlake
//! functions` / the shell's `\df` print it, so the docs cannot drift from what is
//! registered.

pub use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::{
    basket, calibration, campaign, churn, feedback, kpi, loyalty, ltv, recommender, segment,
};

/// Every crmlake function, sorted by name.
pub fn catalog() -> Vec<FunctionEntry> {
    let mut entries = vec![
        basket::itemsets_sql::entry(),
        basket::itemsets_sql::agg_entry(),
        basket::rules_sql::entry(),
        basket::rules_sql::agg_entry(),
        basket::fit_sql::entry(),
        basket::recommend_sql::entry(),
        segment::rfm_sql::entry(),
        churn::features_sql::entry(),
        churn::train_sql::entry(),
        churn::score_sql::score_entry(),
        churn::score_sql::explain_entry(),
        segment::kmeans_sql::fit_entry(),
        segment::kmeans_sql::scan_entry(),
        segment::kmeans_sql::assign_entry(),
        segment::kmeans_sql::distance_entry(),
        kpi::cohort_sql::entry(),
        kpi::series_sql::entry(),
        kpi::repurchase_rate::entry(),
        kpi::churn_rate::entry(),
        kpi::complaint_rate::entry(),
        kpi::nps::entry(),
        kpi::csat::entry(),
        kpi::intervals::nps_entry(),
        kpi::intervals::csat_entry(),
        kpi::quantiles::entry(),
        kpi::loyalty_tier::entry(),
        ltv::fit_sql::bgnbd_entry(),
        ltv::fit_sql::gamma_gamma_entry(),
        ltv::fit_sql::paretonbd_entry(),
        ltv::fit_sql::mbgnbd_entry(),
        ltv::score_sql::prob_purchases_entry(),
        ltv::clv_sql::entry(),
        ltv::ltv_sql::entry(),
        ltv::score_sql::p_alive_entry(),
        ltv::score_sql::expected_purchases_entry(),
        ltv::score_sql::expected_spend_entry(),
        ltv::summary_sql::summary_entry(),
        ltv::summary_sql::holdout_entry(),
        crate::model_info::entry(),
        crate::rows_agg::entry(),
        feedback::sentiment_sql::entry(),
        feedback::features_sql::entry(),
        feedback::topics_sql::entry(),
        feedback::summary_sql::entry(),
        feedback::terms_sql::entry(),
        feedback::keywords_sql::entry(),
        feedback::learned_sql::train_entry(),
        feedback::learned_sql::score_entry(),
        recommender::fit_sql::entry(),
        recommender::content_sql::entry(),
        recommender::hybrid_sql::entry(),
        recommender::recommend_sql::recommend_entry(),
        recommender::recommend_sql::similar_entry(),
        recommender::recommendations_sql::entry(),
        recommender::metrics_sql::entry(),
        recommender::eval_sql::entry(),
    ];
    entries.extend(churn::metrics_sql::entries());
    entries.extend(calibration::entries());
    entries.extend(campaign::entries());
    entries.extend(loyalty::entries());
    entries.sort_by_key(|e| e.name);
    entries
}
