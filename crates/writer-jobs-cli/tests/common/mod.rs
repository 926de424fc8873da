//! Shared helpers for the end-to-end tests: the binary with a clean
//! environment (no key, no `.env`), example paths, and a standalone
//! simulator the CLI can reach across processes on the same scaled clock.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use writer_sim::{Simulator, SimulatorBuilder};

/// The `writer-jobs` binary with an empty environment (HOME and PATH only)
/// run in `dir`, so no real key or `.env` is ever picked up, and with
/// `--simulator`: tests run without a terminal, where the built-in
/// simulator starts only when asked.
pub fn cli(dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(cli_std(dir))
}

/// The same, as a plain `std::process::Command` (to kill it mid-run).
pub fn cli_std(dir: &Path) -> std::process::Command {
    let mut cmd = bare_std(dir);
    cmd.arg("--simulator");
    cmd
}

/// [`cli`] without `--simulator`: with no key, nothing to run against.
pub fn cli_bare(dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(bare_std(dir))
}

/// The binary with an empty environment (HOME and PATH only), run in `dir`.
fn bare_std(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_writer-jobs"));
    cmd.env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

/// The workspace's `examples/` directory.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Lines of a text file (empty when it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A simulator running in the test process on its own runtime, reachable by
/// CLI processes through `WRITER_BASE_URL`, `WRITER_API_KEY` and the clock
/// variables.
pub struct Sim {
    pub sim: Simulator,
    // Dropped after the simulator (field order).
    _rt: tokio::runtime::Runtime,
}

impl Sim {
    /// Starts a simulator built by `f` from a builder at `scale`.
    pub fn start(scale: f64, f: impl FnOnce(SimulatorBuilder) -> SimulatorBuilder) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(f(Simulator::builder().scale(scale).seed(7)).start())
            .expect("simulator starts");
        Self { sim, _rt: rt }
    }

    /// Environment pointing a CLI process at this simulator.
    pub fn env(&self, cmd: &mut std::process::Command) {
        let anchor = self
            .sim
            .clock()
            .anchor()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("anchor after 1970")
            .as_secs_f64();
        cmd.env("WRITER_API_KEY", self.sim.api_key())
            .env("WRITER_BASE_URL", self.sim.base_url())
            .env(
                "WRITER_JOBS_CLOCK_SCALE",
                self.sim.clock().scale().to_string(),
            )
            .env("WRITER_JOBS_CLOCK_ANCHOR", anchor.to_string());
    }

    /// [`cli`] pointed at this simulator (by its key and base URL, not
    /// `--simulator`).
    pub fn cli(&self, dir: &Path) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.cli_std(dir))
    }

    /// [`cli_std`] pointed at this simulator.
    pub fn cli_std(&self, dir: &Path) -> std::process::Command {
        let mut cmd = bare_std(dir);
        self.env(&mut cmd);
        cmd
    }
}
