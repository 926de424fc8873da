//! [`ClientBuilder`]: where the key, the base URL, the timeouts and the
//! policies come from, and the checks a [`Client`] is built only after (a
//! key that fits in a header, a base URL that does not send the key in
//! clear text to another machine unless told to).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use writer_api::auth::Credentials;

use super::{Client, DEFAULT_BASE_URL, DEFAULT_USER_AGENT, Inner};
use crate::clock::{Clock, ScaledClock, SharedClock, SystemClock};
use crate::config::{ALLOW_HTTP_VAR, API_KEY_VAR, BASE_URL_VAR, EnvSource};
use crate::error::{Error, MALFORMED_KEY_ADVICE, Result};
use crate::poll::PollPolicy;
use crate::retry::RetryPolicy;

/// Builds a [`Client`]. Nothing is read from the environment unless
/// [`ClientBuilder::from_env`] or [`ClientBuilder::env_source`] says so.
#[must_use = "a builder does nothing until it is built"]
pub struct ClientBuilder {
    api_key: Option<String>,
    base_url: Option<String>,
    clock: Option<SharedClock>,
    connect_timeout: Duration,
    request_timeout: Duration,
    run_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    poll: PollPolicy,
    http: Option<reqwest::Client>,
    allow_insecure_http: Option<bool>,
    env: EnvSource,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("run_timeout", &self.run_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            clock: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            run_timeout: Duration::from_secs(330),
            user_agent: DEFAULT_USER_AGENT.to_string(),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            http: None,
            allow_insecure_http: None,
            env: EnvSource::none(),
        }
    }
}

impl ClientBuilder {
    /// A builder that reads `WRITER_API_KEY` and `WRITER_BASE_URL` from the
    /// process environment and `./.env` (values set on the builder win).
    pub fn from_env() -> Self {
        Self {
            env: EnvSource::process(),
            ..Self::default()
        }
    }

    /// Where to read `WRITER_API_KEY` and `WRITER_BASE_URL` from.
    pub fn env_source(mut self, env: EnvSource) -> Self {
        self.env = env;
        self
    }

    /// The API key (wins over the environment).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API's base URL (default `https://api.writer.com`). Plain
    /// `http://` is refused unless the host is loopback or
    /// [`allow_insecure_http`](Self::allow_insecure_http) says otherwise.
    pub fn base_url(mut self, url: impl AsRef<str>) -> Self {
        self.base_url = Some(url.as_ref().to_string());
        self
    }

    /// Allows a plain `http://` base URL to a host that is not loopback
    /// (default: refused, since the key would cross the network in clear
    /// text), e.g. a simulator in another container of a docker-compose
    /// setup. Wins over `WRITER_ALLOW_HTTP=1` in the environment source.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = Some(allow);
        self
    }

    /// Wires the client to a simulator (such as `writer-sim`) in one call:
    /// its base URL and key, and a [`ScaledClock`] with the simulator
    /// clock's `scale` and `anchor`, so both sides agree on every duration
    /// and timestamp. Plain values, so this crate needs no simulator.
    ///
    /// ```no_run
    /// # fn demo(sim: &writer_sim::Simulator) -> writer_jobs::Result<()> {
    /// let clock = sim.clock();
    /// let client = writer_jobs::Client::builder()
    ///     .simulator(sim.base_url(), sim.api_key(), clock.scale(), clock.anchor())
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn simulator(
        self,
        base_url: impl AsRef<str>,
        api_key: impl Into<String>,
        scale: f64,
        anchor: std::time::SystemTime,
    ) -> Self {
        self.base_url(base_url)
            .api_key(api_key)
            .clock(ScaledClock::with_anchor(scale, anchor))
    }

    /// The clock every wait goes through (default: real time).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.shared_clock(Arc::new(clock))
    }

    /// A clock shared with other parts of the program (e.g. a simulator).
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long opening a connection may take (default 10 s, real time;
    /// not applied to a client given with [`http_client`](Self::http_client)).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one request may take, on the client's clock (default 60 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// How long a synchronous [`Client::run_application`] may take
    /// (default 330 s: the server itself gives up after about 5 minutes).
    pub fn run_timeout(mut self, d: Duration) -> Self {
        self.run_timeout = d;
        self
    }

    /// The `User-Agent` header (default `writer-jobs/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// The transport retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The default polling policy for waits.
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = policy;
        self
    }

    /// Sends through the caller's `reqwest::Client` (sharing its connection
    /// pool, proxy and default headers). The key and user agent go on each
    /// request, as with the client's own, and that client's redirect, TLS
    /// and connect-timeout settings apply: build it with
    /// `redirect(Policy::none())` so a redirect never carries the key
    /// elsewhere.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client, or [`Error::Config`] saying what is missing or wrong.
    pub fn build(self) -> Result<Client> {
        let key = match self.api_key.filter(|k| !k.trim().is_empty()) {
            Some(key) => key.trim().to_string(),
            None => self.env.get(API_KEY_VAR).ok_or_else(|| {
                Error::Config(format!(
                    "no API key: looked in {}. Set {API_KEY_VAR} (in the environment or a .env \
                     file) or call ClientBuilder::api_key",
                    self.env.describe(API_KEY_VAR)
                ))
            })?,
        };
        let base = self
            .base_url
            .or_else(|| self.env.get(BASE_URL_VAR))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let allow_http = self.allow_insecure_http.unwrap_or_else(|| {
            self.env.get(ALLOW_HTTP_VAR).is_some_and(|v| {
                let v = v.trim();
                v == "1" || v.eq_ignore_ascii_case("true")
            })
        });
        let base_url = check_base_url(&base, allow_http)?;
        if self.request_timeout.is_zero() || self.run_timeout.is_zero() {
            return Err(Error::Config("request timeouts must be above zero".into()));
        }
        let credentials = Credentials::bearer(&key)
            .map_err(|e| Error::Config(format!("{e}; {MALFORMED_KEY_ADVICE}")))?
            .with_user_agent(&self.user_agent)
            .map_err(|_| {
                Error::Config(format!(
                    "the user agent {:?} is not a valid header value",
                    self.user_agent
                ))
            })?;
        let shared_http = self.http.is_some();
        let http = match self.http {
            Some(http) => http,
            None => own_http(self.connect_timeout, &base_url)?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                api: writer_api::Client::new_with_client(&base_url, http, credentials),
                shared_http,
                connect_timeout: self.connect_timeout,
                base_url,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
                retry: self.retry,
                poll: self.poll,
                request_timeout: self.request_timeout,
                run_timeout: self.run_timeout,
                user_agent: self.user_agent,
                key: Arc::from(key),
                list_limit: std::sync::atomic::AtomicU64::new(u64::MAX),
            }),
            throttle: None,
            single_attempt: false,
            read_timeout: None,
        })
    }
}

/// The client's own `reqwest::Client`: neither redirects nor reqwest's
/// own retries, so every attempt is this client's (a create is sent
/// exactly once per attempt it counts), and with no retry allowed reqwest
/// does not copy each request to keep one ready.
///
/// Every request goes to `base_url` (redirects are not followed): for a
/// plain `http://` one (a simulator on this machine) with no proxy set in
/// the environment (which could be an `https://` one), no certificate is
/// ever checked, so the system's root certificates are not loaded (some
/// 150 files read and parsed, a few milliseconds of CPU per client).
pub(super) fn own_http(connect_timeout: Duration, base_url: &str) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .connect_timeout(connect_timeout);
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    let builder = if base_url.starts_with("http://")
        && ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .all(|name| std::env::var_os(name).is_none())
    {
        builder.tls_certs_only(std::iter::empty())
    } else {
        builder
    };
    #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
    let _ = base_url;
    builder
        .build()
        .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))
}

/// Checks the base URL: a valid http(s) URL, no credentials, and plain
/// `http://` only to a loopback host (the key must not cross a network in
/// clear text) unless `allow_http`. Returns it without a trailing slash.
fn check_base_url(base: &str, allow_http: bool) -> Result<String> {
    let url = url::Url::parse(base.trim())
        .map_err(|e| Error::Config(format!("the base URL {base:?} is not a valid URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "the base URL must not contain credentials; give the key with WRITER_API_KEY".into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback && !allow_http {
                return Err(Error::Config(format!(
                    "refusing plain http:// to {}: the API key would travel unencrypted. Use \
                     https://, or http:// only for a loopback host (127.0.0.1, ::1, localhost); \
                     to send it in clear text anyway (e.g. to a simulator in another \
                     container), set {ALLOW_HTTP_VAR}=1 or call \
                     ClientBuilder::allow_insecure_http(true)",
                    url.host_str().unwrap_or("an unknown host")
                )));
            }
            if !loopback {
                tracing::warn!(
                    host = url.host_str().unwrap_or(""),
                    "plain http:// to a host that is not loopback: the API key travels unencrypted"
                );
            }
        }
        other => {
            return Err(Error::Config(format!(
                "the base URL must start with https:// (not {other}://)"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("https://api.writer.com/", false).unwrap(),
            "https://api.writer.com"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:8080", false).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(check_base_url("http://127.5.0.1:1", false).is_ok());
        assert!(check_base_url("http://[::1]:1", false).is_ok());
        assert!(
            check_base_url("http://LOCALHOST:1/prefix/", false)
                .unwrap()
                .ends_with("/prefix")
        );
        let e = check_base_url("http://api.writer.com", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refusing plain http://") && e.contains("api.writer.com"),
            "{e}"
        );
        assert!(check_base_url("http://10.0.0.1", false).is_err());
        assert!(check_base_url("http://localhost.evil.com", false).is_err());
        assert!(check_base_url("ftp://x", false).is_err());
        assert!(check_base_url("not a url", false).is_err());
        assert!(check_base_url("https://user:pw@api.writer.com", false).is_err());
        // The explicit opt-in lets http:// reach any host; the other checks stay.
        assert_eq!(
            check_base_url("http://sim:8080/", true).unwrap(),
            "http://sim:8080"
        );
        assert!(check_base_url("http://user:pw@sim:8080", true).is_err());
        assert!(check_base_url("ftp://sim", true).is_err());
    }

    #[tokio::test]
    async fn one_call_wires_a_client_to_a_simulator() {
        let anchor = std::time::SystemTime::now() - Duration::from_secs(10);
        let client = Client::builder()
            .simulator("http://127.0.0.1:9/", "sim-key", 60.0, anchor)
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9");
        // 10 real seconds since the anchor are 600 simulated ones.
        let since = client.clock().wall() - chrono::DateTime::<chrono::Utc>::from(anchor);
        assert!((600..700).contains(&since.num_seconds()), "{since}");
    }
}
