//! `crmlake run JOB --every 5m`: run an incremental job again and again.
//!
//! Each tick runs the job ([`super::run_job`]): a run with no new input
//! file does nothing ([`super::incremental`]), so polling the lake is just
//! running. Runs never overlap: the next tick starts when the previous run
//! has ended (at once if it took longer than the interval), and a run of
//! another process holding the output root's lock makes this tick fail
//! with a message, not wait. A failed run is logged and the loop goes on
//! (its files are read again by the next run).
//!
//! Stopping: the first SIGTERM (or Ctrl-C) lets the current run finish and
//! then exits 0; a second one abandons the current run before its next step
//! (it fails, its appended parts are removed, exit 1). A SIGKILL loses
//! nothing either: the next run redoes the killed one.
//!
//! ```text
//! crmlake run jobs/early_warning.toml --out out --every 5m
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{run_job, JobFile, RunOptions};
use crate::error::{CrmlakeError, Result};

/// `30s`, `5m`, `1h` (a number and a unit); at least one second.
pub fn parse_interval(text: &str) -> Result<Duration> {
    let bad = || {
        CrmlakeError::user(format!(
            "--every '{text}': give a number and a unit: 30s, 5m, 1h (at least 1s)"
        ))
    };
    let t = text.trim();
    let unit_at = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = t[..unit_at].parse().map_err(|_| bad())?;
    let seconds = match &t[unit_at..] {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds))
}

/// Run `job` every `interval` until stopped (see the module doc).
pub async fn run_every(job: &JobFile, opts: &RunOptions, interval: Duration) -> Result<()> {
    if !job.is_incremental() {
        return Err(CrmlakeError::user(format!(
            "job '{}': --every needs an incremental input ([inputs.<table>] incremental = true), so that a run knows what is new; schedule a whole-day job with cron instead",
            job.name
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let abandon = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    listen_for_stop(Arc::clone(&stop), Arc::clone(&abandon), Arc::clone(&wake))?;
    let opts = RunOptions {
        abandon: Some(Arc::clone(&abandon)),
        ..opts.clone()
    };
    eprintln!(
        "job '{}': running every {}s; SIGTERM or Ctrl-C stops after the current run, a second one abandons it",
        job.name,
        interval.as_secs()
    );
    loop {
        let started = Instant::now();
        match run_job(job, &opts).await {
            Ok(report) if report.skipped.is_some() => {
                log::info!("{}", report.summary().trim_end());
            }
            Ok(report) => {
                print!("{}", report.summary());
                if let Some(e) = report.failed_checks() {
                    eprintln!("{e}");
                }
            }
            Err(e) if abandon.load(Ordering::SeqCst) => return Err(e),
            Err(e) => eprintln!("error: {e}"),
        }
        if stop.load(Ordering::SeqCst) {
            eprintln!("job '{}': stopped", job.name);
            return Ok(());
        }
        let next = started + interval;
        let now = Instant::now();
        if next > now {
            tokio::select! {
                _ = tokio::time::sleep(next - now) => {}
                _ = wake.notified() => {}
            }
        }
        if stop.load(Ordering::SeqCst) {
            eprintln!("job '{}': stopped", job.name);
            return Ok(());
        }
    }
}

/// SIGTERM and Ctrl-C: the first sets `stop` (and wakes a sleeping loop),
/// the next ones set `abandon`.
fn listen_for_stop(
    stop: Arc<AtomicBool>,
    abandon: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CrmlakeError::Internal(format!("listening for SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| CrmlakeError::Internal(format!("listening for SIGINT: {e}")))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if stop.swap(true, Ordering::SeqCst) {
                abandon.store(true, Ordering::SeqCst);
                eprintln!("stop signal again: abandoning the current run before its next step");
            } else {
                eprintln!("stop signal: finishing the current run, then stopping (send it again to abandon the run)");
            }
            wake.notify_one();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_need_a_number_and_a_unit() {
        assert_eq!(parse_interval("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_interval("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_interval("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "5", "m", "0s", "5 min", "-1m", "1.5m"] {
            let e = parse_interval(bad).unwrap_err().to_string();
            assert!(e.contains("--every"), "{bad}: {e}");
        }
    }
}
