//! Batch progress on stderr: an indicatif bar on a terminal, plain lines
//! every two seconds otherwise (logs, CI), nothing with `--quiet`; fed from
//! the engine's progress watch channel.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use writer_jobs::batch::Progress;

/// How often plain progress lines are printed (real time).
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// A running progress display.
#[derive(Debug)]
pub struct ProgressView {
    bar: Option<ProgressBar>,
    task: JoinHandle<()>,
}

impl ProgressView {
    /// Starts showing progress for `total` rows (those this run handles).
    /// With `--quiet`, nothing is shown.
    pub fn start(mut rx: watch::Receiver<Progress>, total: u64) -> Self {
        if crate::ui::quiet() {
            return Self {
                bar: None,
                task: tokio::spawn(async {}),
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} ETA {eta} | {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            let shown = bar.clone();
            let task = tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    let p = rx.borrow_and_update().clone();
                    shown.set_position(p.finished().min(total));
                    shown.set_message(summary_line(&p));
                }
            });
            Self {
                bar: Some(bar),
                task,
            }
        } else {
            let task = tokio::spawn(async move {
                let started = Instant::now();
                let mut last = None;
                loop {
                    tokio::time::sleep(PLAIN_EVERY).await;
                    let p = rx.borrow().clone();
                    if last.as_ref() != Some(&p) {
                        eprintln!(
                            "progress: {}/{total} rows finished, {}, elapsed {:.0} s",
                            p.finished(),
                            summary_line(&p),
                            started.elapsed().as_secs_f64()
                        );
                        last = Some(p);
                    }
                    if rx.has_changed().is_err() {
                        break;
                    }
                }
            });
            Self { bar: None, task }
        }
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar and stops updating.
    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The counters of one progress snapshot, in words.
fn summary_line(p: &Progress) -> String {
    let mut line = format!(
        "{} completed, {} failed, {} in flight | {} req ({:.2}/job)",
        p.completed, p.failed, p.in_flight, p.requests, p.requests_per_job
    );
    if p.ambiguous + p.reconciling > 0 {
        line.push_str(&format!(
            ", {} ambiguous ({} reconciling)",
            p.ambiguous, p.reconciling
        ));
    }
    if p.rejected > 0 {
        line.push_str(&format!(", {} rejected", p.rejected));
    }
    if p.timed_out > 0 {
        line.push_str(&format!(", {} timed out", p.timed_out));
    }
    if p.throttled > 0 {
        line.push_str(&format!(", {} throttled (429)", p.throttled));
    }
    if p.circuit_open {
        line.push_str(", server unavailable: waiting");
    }
    line
}
