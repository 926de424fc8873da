//! The processes a scenario runs (the `writer-sim` binary and the
//! `writer-jobs` CLI) and a minimal HTTP/1.1 client for the simulator's
//! `/_sim/*` endpoints, on the standard library alone (xtask depends on no
//! crate of the workspace, and on no async runtime).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `writer-sim` process serving on 127.0.0.1; killed when dropped.
pub struct Sim {
    child: Child,
    /// Kept open so the simulator never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// Its address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Its key.
    pub key: String,
    /// Simulated seconds per real second.
    pub scale: f64,
    /// The real moment (Unix seconds) at which simulated and real time agree.
    pub anchor_secs: f64,
}

impl Sim {
    /// Starts `bin --port 0 --config config`, its stderr in `stderr`, and
    /// reads the base URL and key it prints.
    pub fn start(bin: &Path, config: &Path, stderr: &Path) -> Result<Sim, String> {
        let err =
            std::fs::File::create(stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        let mut child = Command::new(bin)
            .args(["--port", "0", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (mut base_url, mut key) = (None, None);
        let mut line = String::new();
        while base_url.is_none() || key.is_none() {
            line.clear();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let _ = child.wait();
                let why = std::fs::read_to_string(stderr).unwrap_or_default();
                return Err(format!("writer-sim exited before serving: {}", why.trim()));
            }
            if let Some(v) = line.trim().strip_prefix("WRITER_BASE_URL=") {
                base_url = Some(v.to_string());
            } else if let Some(v) = line.trim().strip_prefix("WRITER_API_KEY=") {
                key = Some(v.to_string());
            }
        }
        let base_url = base_url.unwrap_or_default();
        let addr: SocketAddr = base_url
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| format!("writer-sim printed an odd base URL {base_url:?}: {e}"))?;
        let mut sim = Sim {
            child,
            _stdout: stdout,
            addr,
            base_url,
            key: key.unwrap_or_default(),
            scale: 1.0,
            anchor_secs: 0.0,
        };
        let clock = sim.get("/_sim/clock")?;
        sim.scale = clock["scale"].as_f64().ok_or("no scale in /_sim/clock")?;
        sim.anchor_secs = clock["anchor_unix_ms"]
            .as_f64()
            .ok_or("no anchor in /_sim/clock")?
            / 1000.0;
        Ok(sim)
    }

    /// `GET path` of the simulator, as JSON.
    pub fn get(&self, path: &str) -> Result<Value, String> {
        let (status, body) = http(self.addr, "GET", path, "")?;
        if status != 200 {
            return Err(format!("GET {path}: {status} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}: {body}"))
    }

    /// `POST path` with a text body.
    pub fn post(&self, path: &str, body: &str) -> Result<(), String> {
        let (status, answer) = http(self.addr, "POST", path, body)?;
        if status != 200 {
            return Err(format!("POST {path}: {status} {answer}"));
        }
        Ok(())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on a fresh connection (`Connection: close`). The simulator
/// may be refusing or dropping connections on purpose (a scenario's
/// `refuse_every`): a refused connect, a dropped connection or no answer is
/// tried again for a few seconds, so the judge never reads a refusal as an
/// answer.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        match exchange(addr, method, path, body, give_up) {
            Err(e) if Instant::now() < give_up => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(2));
            }
            done => return done,
        }
    }
}

/// One attempt of [`http`].
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    give_up: Instant,
) -> Result<(u16, String), String> {
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if Instant::now() < give_up => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(format!("{method} {path}: cannot connect to {addr}: {e}")),
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no HTTP answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line {head:?}"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// One run of the CLI, its output in files.
pub struct CliRun {
    child: Child,
    started: Instant,
    /// The command line, for the repro.
    pub command_line: String,
}

/// How a CLI run ended.
#[derive(Debug, Clone, Copy)]
pub enum Ended {
    /// It exited on its own.
    Exited(ExitStatus),
    /// The scenario killed it (`kill -9`), as planned.
    Killed,
    /// It did not end within its bound and was killed.
    TimedOut,
}

impl Ended {
    /// A short label for the table.
    pub fn label(self) -> String {
        match self {
            Ended::Exited(s) => match s.code() {
                Some(c) => c.to_string(),
                None => "signal".into(),
            },
            Ended::Killed => "kill".into(),
            Ended::TimedOut => "hung".into(),
        }
    }
}

impl CliRun {
    /// Starts `bin GLOBAL... batch ARGS...` in `dir`, output in `dir/NAME.out|err`.
    pub fn start(
        bin: &Path,
        dir: &Path,
        name: &str,
        env: &[(&str, String)],
        args: &[String],
    ) -> Result<CliRun, String> {
        let out =
            std::fs::File::create(dir.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
        let err =
            std::fs::File::create(dir.join(format!("{name}.err"))).map_err(|e| e.to_string())?;
        let mut command = Command::new(bin);
        command
            .current_dir(dir)
            .args(args)
            .env_remove("WRITER_BASE_URL")
            .env_remove("WRITER_APP_ID")
            .env_remove("WRITER_JOBS_FAILPOINT")
            .env_remove("WRITER_JOBS_CLOCK_SCALE")
            .env_remove("WRITER_JOBS_CLOCK_ANCHOR")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            command.env(k, v);
        }
        let command_line = format!(
            "(cd {} && {} {} {})",
            dir.display(),
            env.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            bin.display(),
            args.iter()
                .map(|a| shell_word(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok(CliRun {
            child,
            started: Instant::now(),
            command_line,
        })
    }

    /// Real time since it started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether it has exited, without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `kill -9`, then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CliRun {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill();
        }
    }
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The release binaries, under the target directory cargo builds into.
pub fn release_bin(root: &Path, name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() {
        root.join(target)
    } else {
        target
    };
    target.join("release").join(name)
}
