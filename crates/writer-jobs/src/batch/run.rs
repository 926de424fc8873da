//! Starting a batch, and the handle to one that runs: [`BatchRun`], a
//! stream of outcomes as jobs finish, with its progress and a
//! [`StopHandle`]. The engine itself (`engine/`) runs as a tokio task, on
//! the caller's runtime or on a thread of its own.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, watch};

use super::sink::{self, Inbox};
use super::{Batch, BatchError, Outcome, Progress, Row, engine};

impl Batch {
    /// Starts the batch: on the current tokio runtime, or, when that is
    /// the multi-threaded one, on a thread of its own (see
    /// [`Batch::engine_thread`]). Rows are read lazily
    /// (memory stays bounded however many there are); outcomes arrive as
    /// jobs finish, not in input order.
    pub async fn run<S>(self, rows: S) -> Result<BatchRun, BatchError>
    where
        S: Stream<Item = Row> + Send + 'static,
    {
        self.validate()?;
        let mut settings = self.with_env_failpoint()?;
        let (tx, rx) = sink::outcome_channel();
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        // On its own thread the batch sends through connections of its
        // own (see `Client::with_own_connections`): a client over the
        // caller's `reqwest::Client` keeps the batch on the caller's
        // runtime. The runtime is built before the engine starts (it may
        // write the journal's header), so a machine that refuses it
        // changes nothing.
        let own = settings.engine_thread && on_multi_thread();
        let runtime = match own
            .then(|| settings.client.with_own_connections())
            .flatten()
        {
            Some(client) => {
                settings.client = client;
                Some(OwnRuntime::new().map_err(BatchError::Thread)?)
            }
            None => None,
        };
        let (rows, feeder): (Rows, _) = match runtime {
            Some(_) => {
                let (rows, feeder) = feed(rows);
                (Box::pin(rows), Some(feeder))
            }
            None => (Box::pin(rows), None),
        };
        // A batch that does not start stops reading the rows.
        let abort_feeder = |error| {
            if let Some(feeder) = &feeder {
                feeder.abort();
            }
            error
        };
        let engine = engine::Engine::start(settings, rows, tx, progress_tx, stop_rx)
            .map_err(abort_feeder)?;
        let task = match runtime {
            Some(runtime) => on_own_thread(runtime, engine.run())
                .map_err(|e| abort_feeder(BatchError::Thread(e)))?,
            None => tokio::spawn(engine.run()),
        };
        Ok(BatchRun {
            outcomes: rx,
            progress: progress_rx,
            stop: StopHandle(stop_tx),
            task: Some(task),
            feeder,
        })
    }
}

/// The rows stream as the engine takes it.
type Rows = std::pin::Pin<Box<dyn Stream<Item = Row> + Send>>;

/// Rows read ahead of the engine, in chunks of at most this many, when it
/// runs on a thread of its own (see [`feed`]).
const ROWS_CHUNK: usize = 128;

/// Reads `rows` on the caller's runtime, for an engine on a thread of its
/// own: the stream may need what that runtime offers (its workers,
/// `block_in_place`, tasks it waits for), which the batch's
/// current-thread runtime does not. Rows go over in chunks of those ready
/// at once (three chunks ahead at most: one queued, one read, one waiting
/// to be sent; memory stays bounded), so each side is woken once a chunk,
/// not once a row. The task ends when the rows do or the engine is gone
/// (or the run is dropped, or does not start: it is aborted).
fn feed<S>(rows: S) -> (impl Stream<Item = Row> + Send, tokio::task::JoinHandle<()>)
where
    S: Stream<Item = Row> + Send + 'static,
{
    use futures::StreamExt;
    let (tx, mut rx) = mpsc::channel::<Vec<Row>>(1);
    let feeder = tokio::spawn(async move {
        let mut chunks = std::pin::pin!(rows.ready_chunks(ROWS_CHUNK));
        while let Some(chunk) = chunks.next().await {
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let rows = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).flat_map(futures::stream::iter);
    (rows, feeder)
}

/// Whether the caller runs on tokio's multi-threaded runtime.
fn on_multi_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// The current-thread runtime a batch's own thread runs (see
/// [`Batch::engine_thread`]). Dropped, it shuts down without waiting (a
/// name lookup still running on its blocking pool is not waited for), as
/// it must when dropped on the caller's runtime (a batch that did not
/// start).
struct OwnRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl OwnRuntime {
    fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `engine` on `runtime`, on a thread of its own (see
/// [`Batch::engine_thread`] for why). The handle returned aborts it as a
/// task's would; the thread and its runtime (with the connections opened
/// on it) end when the engine does, or is aborted.
fn on_own_thread(
    runtime: OwnRuntime,
    engine: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let task = runtime.handle.spawn(async move {
        engine.await;
        drop(done_tx);
    });
    // The caller's subscriber goes along, should it be set for its thread
    // only (as tests do); with none, the global one (set now or later)
    // serves the batch's thread as any other.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let scoped = !dispatch.is::<tracing::subscriber::NoSubscriber>();
    std::thread::Builder::new()
        .name("writer-jobs-batch".into())
        .spawn(move || {
            let run = || {
                if let Some(rt) = &runtime.runtime {
                    // Returns when the engine ends or is aborted: the
                    // sender is dropped either way.
                    let _ = rt.block_on(done_rx);
                }
            };
            if scoped {
                tracing::dispatcher::with_default(&dispatch, run);
            } else {
                run();
            }
        })?;
    Ok(task)
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
    outcomes: Inbox,
    progress: watch::Receiver<Progress>,
    stop: StopHandle,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The task reading the rows on the caller's runtime, when the engine
    /// runs on a thread of its own (see [`feed`]).
    feeder: Option<tokio::task::JoinHandle<()>>,
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
        self.outcomes.poll_next(cx)
    }
}

impl Drop for BatchRun {
    fn drop(&mut self) {
        // Dropping the run abandons it: the engine stops at its next step
        // (the journal stays consistent; a later run resumes).
        if let Some(feeder) = self.feeder.take() {
            feeder.abort();
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
