//! Where the client reads `WRITER_API_KEY`, `WRITER_BASE_URL` and
//! `WRITER_ALLOW_HTTP` from.
//!
//! [`EnvSource::process()`] reads the process environment and then a `.env`
//! file in the working directory (as Writer's guide recommends keeping the
//! key there). The `.env` file is read with dotenvy's iterator API, so the
//! process environment is never changed, and a variable set in the real
//! environment wins over the file. Tests use [`EnvSource::from_pairs`] or
//! [`EnvSource::none`], so no test ever picks up a developer's real key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The name of the variable holding the API key.
pub const API_KEY_VAR: &str = "WRITER_API_KEY";
/// The name of the variable holding the base URL.
pub const BASE_URL_VAR: &str = "WRITER_BASE_URL";
/// The name of the variable that, set to `1` or `true`, allows a plain
/// `http://` base URL to a host that is not loopback (see
/// [`ClientBuilder::allow_insecure_http`](crate::ClientBuilder::allow_insecure_http)).
pub const ALLOW_HTTP_VAR: &str = "WRITER_ALLOW_HTTP";

/// A replaceable source of configuration variables.
#[derive(Clone)]
pub struct EnvSource {
    vars: Vars,
    dotenv: DotEnv,
}

#[derive(Clone)]
enum Vars {
    Process,
    Pairs(BTreeMap<String, String>),
    Nothing,
}

#[derive(Clone)]
#[cfg_attr(not(feature = "dotenv"), allow(dead_code))]
enum DotEnv {
    /// `.env` in the working directory at the time of reading.
    WorkingDir,
    File(PathBuf),
    Nothing,
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are never shown: one of them is the key.
        let vars = match &self.vars {
            Vars::Process => "process environment".to_string(),
            Vars::Pairs(p) => format!("pairs {:?}", p.keys().collect::<Vec<_>>()),
            Vars::Nothing => "nothing".to_string(),
        };
        f.debug_struct("EnvSource")
            .field("vars", &vars)
            .field("dotenv", &self.dotenv_path())
            .finish()
    }
}

impl EnvSource {
    /// The process environment, then `./.env` (the environment wins; no
    /// `.env` without the `dotenv` feature).
    pub fn process() -> Self {
        Self {
            vars: Vars::Process,
            dotenv: if cfg!(feature = "dotenv") {
                DotEnv::WorkingDir
            } else {
                DotEnv::Nothing
            },
        }
    }

    /// Only these pairs (no process environment, no `.env`).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: Vars::Pairs(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            dotenv: DotEnv::Nothing,
        }
    }

    /// Nothing at all: every variable is unset.
    pub fn none() -> Self {
        Self {
            vars: Vars::Nothing,
            dotenv: DotEnv::Nothing,
        }
    }

    /// Also reads `path` (a `.env` file) for variables the first source
    /// lacks, instead of `./.env` (with the `dotenv` feature, a default).
    #[cfg(feature = "dotenv")]
    pub fn with_dotenv_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.dotenv = DotEnv::File(path.into());
        self
    }

    /// Reads no `.env` file.
    pub fn without_dotenv(mut self) -> Self {
        self.dotenv = DotEnv::Nothing;
        self
    }

    fn dotenv_path(&self) -> Option<PathBuf> {
        match &self.dotenv {
            DotEnv::WorkingDir => Some(
                std::env::current_dir()
                    .unwrap_or_else(|_| PathBuf::from("."))
                    .join(".env"),
            ),
            DotEnv::File(p) => Some(p.clone()),
            DotEnv::Nothing => None,
        }
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        let direct = match &self.vars {
            Vars::Process => std::env::var(name).ok(),
            Vars::Pairs(p) => p.get(name).cloned(),
            Vars::Nothing => None,
        };
        direct
            .filter(|v| !v.trim().is_empty())
            .or_else(|| read_dotenv(&self.dotenv_path()?, name))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Where this source looks, in words (for error messages).
    pub fn describe(&self, name: &str) -> String {
        let first = match &self.vars {
            Vars::Process => Some(format!("the environment variable {name}")),
            Vars::Pairs(_) => Some(format!("the given pairs ({name})")),
            Vars::Nothing => None,
        };
        let file = self
            .dotenv_path()
            .map(|p| format!("{name} in {}", p.display()));
        match (first, file) {
            (Some(a), Some(b)) => format!("{a} and {b}"),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => "nowhere (the environment source is empty)".to_string(),
        }
    }
}

/// Without the `dotenv` feature no `.env` file is read.
#[cfg(not(feature = "dotenv"))]
fn read_dotenv(_path: &Path, _name: &str) -> Option<String> {
    None
}

/// `name` from the `.env` file at `path`, without touching the process
/// environment. A missing file is no error; a malformed line is skipped.
#[cfg(feature = "dotenv")]
fn read_dotenv(path: &Path, name: &str) -> Option<String> {
    let iter = dotenvy::from_path_iter(path).ok()?;
    let mut found = None;
    for item in iter {
        match item {
            Ok((k, v)) if k == name => found = Some(v),
            Ok(_) => {}
            Err(_) => {
                // dotenvy's error quotes the line, which may hold a secret:
                // say only where.
                tracing::warn!(path = %path.display(), "skipping a malformed .env line");
            }
        }
    }
    found
}

#[cfg(all(test, feature = "dotenv"))]
mod tests {
    use super::*;

    #[test]
    fn pairs_win_over_the_file_and_the_file_fills_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# comment\nWRITER_API_KEY=from-file\nWRITER_BASE_URL=\"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        let src = EnvSource::from_pairs([(API_KEY_VAR, "from-pairs")]).with_dotenv_file(&path);
        assert_eq!(src.get(API_KEY_VAR).as_deref(), Some("from-pairs"));
        assert_eq!(src.get(BASE_URL_VAR).as_deref(), Some("http://127.0.0.1:9"));
        let src = EnvSource::none().with_dotenv_file(&path);
        assert_eq!(src.get(API_KEY_VAR).as_deref(), Some("from-file"));
        // The process environment was not changed.
        assert_ne!(
            std::env::var(API_KEY_VAR).ok().as_deref(),
            Some("from-file")
        );
    }

    #[test]
    fn empty_values_and_missing_files_count_as_unset() {
        let src =
            EnvSource::from_pairs([(API_KEY_VAR, "  ")]).with_dotenv_file("/nonexistent/.env");
        assert_eq!(src.get(API_KEY_VAR), None);
        assert!(src.describe(API_KEY_VAR).contains("/nonexistent/.env"));
        assert_eq!(EnvSource::none().get(API_KEY_VAR), None);
    }

    #[test]
    fn debug_shows_no_values() {
        let src = EnvSource::from_pairs([(API_KEY_VAR, "sk-secret-value")]);
        assert!(!format!("{src:?}").contains("sk-secret-value"));
    }
}
