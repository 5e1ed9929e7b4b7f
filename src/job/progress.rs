//! What a run shows while it works: on a terminal, a spinner per step with the
//! rows written so far and the elapsed time; otherwise (cron, Airflow, a
//! pipe) plain log lines, one when a step starts and one when it ends.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of one step.
pub struct StepProgress {
    bar: Option<ProgressBar>,
}

impl StepProgress {
    /// Start showing `label` (e.g. `step 3/10 ltv`).
    pub fn start(label: &str) -> StepProgress {
        if !std::io::stderr().is_terminal() {
            eprintln!("{label}: started");
            return StepProgress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        let style = ProgressStyle::with_template("{spinner} {msg}: {human_pos} rows [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        StepProgress { bar: Some(bar) }
    }

    /// Rows written so far.
    pub fn rows(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows);
        }
    }

    /// Replace the spinner with the final line.
    pub fn finish(self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }

    /// Remove the spinner without a line (the error says what happened).
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
