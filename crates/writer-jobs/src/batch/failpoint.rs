//! Crash-test failpoints (feature `test-util`, which no shipped build
//! enables): where around a journal record the engine stops as `kill -9`
//! would, so the crash tests can check that a resumed run loses and
//! duplicates nothing.

/// Where a crash test stops the engine, as `kill -9` would: around the
/// `index`-th journal record the engine writes in this run (0 is the first
/// after the header). Only with the `test-util` feature, which no shipped
/// build enables.
///
/// With the feature, a batch given no failpoint reads one from the
/// `WRITER_JOBS_FAILPOINT` environment variable (`INDEX:before|torn|after`,
/// see [`Failpoint::parse`]) and then *aborts the process* there, so a crash
/// test can kill a program that runs a batch (the CLI) at an exact record.
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failpoint {
    /// Which record (counting from 0, in this run).
    pub index: u64,
    /// Where around it.
    pub mode: FailMode,
}

/// Where around a journal record a failpoint stops (feature `test-util`).
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailMode {
    /// Before the record is written.
    Before,
    /// Half-way through writing it (a torn line).
    Torn,
    /// After writing only its first `n` bytes (a torn line cut anywhere).
    TornAt(usize),
    /// Right after it is written.
    After,
}

#[cfg(feature = "test-util")]
impl Failpoint {
    /// The environment variable a batch reads a failpoint from when it was
    /// given none (and then aborts the process at it).
    pub const ENV: &'static str = "WRITER_JOBS_FAILPOINT";

    /// A failpoint at the `index`-th record (counting from 0, in this run).
    pub fn new(index: u64, mode: FailMode) -> Self {
        Self { index, mode }
    }

    /// Parses `INDEX:before|torn|after`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("bad failpoint `{text}`: use INDEX:before|torn|after");
        let (index, mode) = text.split_once(':').ok_or_else(bad)?;
        let index = index.parse().map_err(|_| bad())?;
        let mode = match mode {
            "before" => FailMode::Before,
            "torn" => FailMode::Torn,
            "after" => FailMode::After,
            _ => return Err(bad()),
        };
        Ok(Self { index, mode })
    }
}
