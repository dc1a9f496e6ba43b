//! Progress of a run's long stages: a bar (or spinner) on a terminal, plain log lines when not
//! on one (a scheduled run's log). Every stage ends with a log line giving its rows and seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// One stage of a run, from start to finish.
pub struct Stage {
    name: &'static str,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Stage {
    /// Starts `name`; with `total`, a bar of that many steps (e.g. files), else a spinner.
    pub fn start(name: &'static str, total: Option<u64>) -> Stage {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template("{spinner} {msg:<24} [{bar:30}] {pos}/{len} {elapsed}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner()
                    .with_style(ProgressStyle::with_template("{spinner} {msg:<24} {elapsed}").expect("a valid template")),
            };
            bar.set_message(name);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            tracing::info!(stage = name, "stage started");
        }
        Stage { name, bar, started: Instant::now() }
    }

    /// One more step done (a file read).
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// The stage is done: clears the bar and logs its row count and time.
    pub fn finish(self, rows: u64) -> f64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let seconds = self.started.elapsed().as_secs_f64();
        tracing::info!(stage = self.name, rows, seconds = (seconds * 1000.0).round() / 1000.0, "stage finished");
        seconds
    }
}
