//! Starting a batch, and the handle to one that runs: [`BatchRun`], a
//! stream of outcomes as jobs finish, with its progress and a
//! [`StopHandle`]. The engine itself runs as a tokio task (`engine/`).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, watch};

use super::{Batch, BatchError, Outcome, Progress, Row, engine};

impl Batch {
    /// Starts the batch on the current tokio runtime. Rows are read lazily
    /// (memory stays bounded however many there are); outcomes arrive as
    /// jobs finish, not in input order.
    pub async fn run<S>(self, rows: S) -> Result<BatchRun, BatchError>
    where
        S: Stream<Item = Row> + Send + 'static,
    {
        self.validate()?;
        let settings = self.with_env_failpoint()?;
        let (tx, rx) = mpsc::channel(256);
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let engine = engine::Engine::start(settings, Box::pin(rows), tx, progress_tx, stop_rx)?;
        let task = tokio::spawn(engine.run());
        Ok(BatchRun {
            outcomes: rx,
            progress: progress_rx,
            stop: StopHandle(stop_tx),
            task: Some(task),
        })
    }
}

/// Stops a batch from creating more jobs.
#[derive(Debug, Clone)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    /// Stop creating new jobs; jobs already created are still waited for,
    /// and their outcomes and the journal are written as usual.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// A running batch: a stream of outcomes as jobs finish.
#[derive(Debug)]
pub struct BatchRun {
    outcomes: mpsc::Receiver<Result<Outcome, BatchError>>,
    progress: watch::Receiver<Progress>,
    stop: StopHandle,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl BatchRun {
    /// A receiver of progress snapshots (`changed().await`, `borrow()`).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// A handle that stops the batch from creating more jobs.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }
}

impl Stream for BatchRun {
    type Item = Result<Outcome, BatchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.outcomes.poll_recv(cx)
    }
}

impl Drop for BatchRun {
    fn drop(&mut self) {
        // Dropping the run abandons it: the engine stops at its next step
        // (the journal stays consistent; a later run resumes).
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
