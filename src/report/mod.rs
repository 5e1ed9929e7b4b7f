//! The run report: one self-contained HTML page per job run,
//! `OUT/_runs/<run_id>.html`, with `OUT/_runs/run_date=D/report.html`
//! pointing at the latest run of that date.
//!
//! Built from the run's manifest and the tables it committed alone (never
//! from the run's memory), so `crmlake report OUT [--run-id ID]` rebuilds
//! it for any run, one of an older version or one made on a cluster
//! included. The page has inline CSS and inline SVG charts, and a few lines
//! of inline script to sort tables; it fetches nothing, so it looks the
//! same offline and prints on A4.
//!
//! Sections appear when the run committed tables of their kinds
//! ([`source::KINDS`]): a step's `report = "<kind>"`, or the demo job's
//! table names ([`source::DEFAULT_KINDS`]). Large tables are binned or
//! grouped in SQL, so the page stays small (the demo's is under 2 MB) and a
//! 1M-customer run's report takes seconds.
//!
//! Modules: [`source`] (manifest and tables), [`sections`] (one file per
//! section), [`svg`] (chart builders), [`html`] (the page), [`format`]
//! (numbers and escaping).

pub mod format;
pub mod html;
pub mod sections;
pub mod source;
pub mod svg;

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{CrmlakeError, Result};
use crate::out_root::OutRoot;
use format::Unit;
use html::{Alert, Page};
use source::Source;

/// A built report.
#[derive(Debug, Clone)]
pub struct Report {
    pub run_id: String,
    pub run_date: String,
    pub html: String,
    /// Where it was written (shown without credentials), once written.
    pub written: Vec<String>,
}

/// Build the report of run `run_id` (the latest run in `out` when None)
/// in a session of its own on `runtime` (whose object stores reach `out`).
pub async fn build(
    runtime: Arc<RuntimeEnv>,
    out: &OutRoot,
    run_id: Option<&str>,
) -> Result<Report> {
    let run_id = match run_id {
        Some(id) => id.to_string(),
        None => latest_run(out).await?,
    };
    let rel = format!("_runs/{run_id}.json");
    let bytes = out.get(&rel).await?.ok_or_else(|| {
        CrmlakeError::user(format!(
            "{}: no manifest for run '{run_id}' (runs are listed in {})",
            out.show(&rel),
            out.show("_runs/")
        ))
    })?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| CrmlakeError::user(format!("{}: not a run manifest: {e}", out.show(&rel))))?;
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_information_schema(false),
        runtime,
    );
    crmlake_udfs::register_all(&ctx).map_err(|e| CrmlakeError::Internal(e.to_string()))?;
    let src = Source::new(ctx, out, manifest)?;
    let page = page(&src).await?;
    Ok(Report {
        run_id,
        run_date: src.run_date.clone(),
        html: html::render(&page),
        written: Vec::new(),
    })
}

/// Write `report` as `_runs/<run_id>.html` and point
/// `_runs/run_date=D/report.html` at it (each one PUT: whole or not at all).
pub async fn write(out: &OutRoot, report: &mut Report) -> Result<()> {
    let page = format!("_runs/{}.html", report.run_id);
    out.put(&page, report.html.clone().into_bytes()).await?;
    let pointer = format!("_runs/run_date={}/report.html", report.run_date);
    let target = format!("../{}.html", report.run_id);
    let link = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0; url={0}\"><title>Latest run of {1}</title></head><body><p>The latest run of {1}: <a href=\"{0}\">{2}</a></p></body></html>\n",
        format::esc(&target),
        format::esc(&report.run_date),
        format::esc(&report.run_id)
    );
    out.put(&pointer, link.into_bytes()).await?;
    report.written = vec![out.show(&page), out.show(&pointer)];
    Ok(())
}

/// Open `location` and rebuild the report of `run_id` (latest when None):
/// `crmlake report`.
pub async fn rebuild(location: &str, run_id: Option<&str>) -> Result<Report> {
    let runtime = crate::object_stores::runtime_builder()
        .build_arc()
        .map_err(|e| CrmlakeError::Internal(format!("cannot build runtime: {e}")))?;
    if !location.contains("://") && !std::path::Path::new(location).is_dir() {
        return Err(CrmlakeError::user(format!(
            "output root '{location}': no such folder"
        )));
    }
    let probe = SessionContext::new_with_config_rt(SessionConfig::new(), Arc::clone(&runtime));
    let out = OutRoot::open(&probe, location).await?;
    let mut report = build(runtime, &out, run_id).await?;
    write(&out, &mut report).await?;
    Ok(report)
}

/// The newest run's id: manifests are named by their start time.
async fn latest_run(out: &OutRoot) -> Result<String> {
    let names = out.list_dir("_runs").await.map_err(|e| {
        CrmlakeError::user(format!("{}: cannot list runs: {e}", out.show("_runs/")))
    })?;
    names
        .iter()
        .filter_map(|n| n.strip_suffix(".json"))
        .max()
        .map(str::to_string)
        .ok_or_else(|| {
            CrmlakeError::user(format!(
                "{}: no run manifests (no job has run here)",
                out.show("_runs/")
            ))
        })
}

async fn page(src: &Source<'_>) -> Result<Page> {
    let m = &src.manifest;
    let money = Unit::money(m["settings"]["currency"].as_str());
    let job = m["job"]["name"].as_str().unwrap_or("?");
    let mut p = Page {
        title: format!("{job}: run of {}", src.run_date),
        subtitle: vec![
            format!(
                "run {} · {} · started {} · crmlake {}",
                m["run_id"].as_str().unwrap_or("?"),
                m["status"].as_str().unwrap_or("?"),
                m["started_at"].as_str().unwrap_or("?"),
                m["crmlake_version"].as_str().unwrap_or("?")
            ),
            format!(
                "lake {} · output {} · previous run {}",
                m["lake"].as_str().unwrap_or("?"),
                m["out"].as_str().unwrap_or("?"),
                src.previous_run_date.as_deref().unwrap_or("none")
            ),
        ],
        alerts: m["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| Alert {
                severity: a["severity"].as_str().unwrap_or("info").to_string(),
                message: format!(
                    "{}: {}",
                    a["check"].as_str().unwrap_or("?"),
                    a["message"].as_str().unwrap_or("")
                ),
            })
            .collect(),
        sections: vec![sections::run::section(m)],
    };
    if let Some(e) = m["error"].as_str() {
        p.alerts.insert(
            0,
            Alert {
                severity: "fail".into(),
                message: format!("the run failed: {e}"),
            },
        );
    }
    let more = [
        ("kpis", "KPIs", sections::kpis::section(src, &money).await),
        (
            "warning",
            "Early warning",
            sections::warning::section(src, &money).await,
        ),
        (
            "segments",
            "Segments",
            sections::segments::section(src, &money).await,
        ),
        ("cohorts", "Cohorts", sections::cohorts::section(src).await),
        (
            "ltv",
            "Lifetime value",
            sections::ltv::section(src, &money).await,
        ),
        ("churn", "Churn", sections::churn::section(src).await),
        (
            "baskets",
            "Baskets and recommendations",
            sections::baskets::section(src).await,
        ),
        (
            "feedback",
            "Feedback",
            sections::feedback::section(src).await,
        ),
        (
            "loyalty",
            "Loyalty",
            sections::loyalty::section(src, &money).await,
        ),
        (
            "uncertainty",
            "Uncertainty and campaigns",
            sections::uncertainty::section(src, &money).await,
        ),
    ];
    for (id, title, result) in more {
        match result {
            Ok(Some(s)) => p.sections.push(s),
            Ok(None) => {}
            // A table that cannot be read costs its section, not the page.
            Err(e) => p.sections.push(html::Section {
                id,
                title: title.into(),
                items: vec![html::Item::Note(format!(
                    "This section could not be built: {e}"
                ))],
            }),
        }
    }
    Ok(p)
}
