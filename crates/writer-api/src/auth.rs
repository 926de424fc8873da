//! Bearer authentication with a key that never prints.
//!
//! [`Credentials`] is the generated [`crate::Client`]'s inner value: its
//! `ClientHooks::pre` puts the `Authorization` header (marked sensitive) and
//! the `User-Agent` on every request, whatever `reqwest::Client` the
//! generated client was built over. So a caller's own reqwest client (its
//! pool, proxy, TLS and default headers) serves every operation, and its
//! `Debug`, like that of the generated client, shows no key.

use std::fmt;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};

/// Why a [`Credentials`] value could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthError {
    /// The key holds characters that cannot go into an HTTP header.
    InvalidKey,
    /// The user agent holds characters that cannot go into an HTTP header.
    InvalidUserAgent,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey => f.write_str(
                "the API key contains characters that are not allowed in an HTTP header \
                 (check WRITER_API_KEY for stray quotes, spaces or newlines)",
            ),
            Self::InvalidUserAgent => {
                f.write_str("the user agent is not a valid HTTP header value")
            }
        }
    }
}

impl std::error::Error for AuthError {}

/// What every request carries: `Authorization: Bearer <key>` (sensitive)
/// and, when set, a `User-Agent`. Its `Debug` never shows the key.
///
/// ```
/// let credentials = writer_api::auth::Credentials::bearer("my-key")?
///     .with_user_agent("my-app/1.0")?;
/// let client = writer_api::Client::new_with_client(
///     "https://api.writer.com",
///     reqwest::Client::new(),
///     credentials,
/// );
/// assert!(!format!("{client:?}").contains("my-key"));
/// # Ok::<(), writer_api::auth::AuthError>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    authorization: HeaderValue,
    user_agent: Option<HeaderValue>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("authorization", &"Bearer <redacted>")
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Credentials {
    /// Bearer credentials for `key`.
    pub fn bearer(key: &str) -> Result<Self, AuthError> {
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| AuthError::InvalidKey)?;
        authorization.set_sensitive(true);
        Ok(Self {
            authorization,
            user_agent: None,
        })
    }

    /// The same credentials, also sending `user_agent` as `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: &str) -> Result<Self, AuthError> {
        self.user_agent =
            Some(HeaderValue::from_str(user_agent).map_err(|_| AuthError::InvalidUserAgent)?);
        Ok(self)
    }

    /// Puts the headers on a request (replacing any of the same name, e.g.
    /// a caller's client's default user agent): what the generated client's
    /// `pre` hook does, and what a hand-built request must do too.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(AUTHORIZATION, self.authorization.clone());
        if let Some(user_agent) = &self.user_agent {
            headers.insert(USER_AGENT, user_agent.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = "sk-very-secret-key-123";
        let credentials = Credentials::bearer(key)
            .unwrap()
            .with_user_agent("ua/1")
            .unwrap();
        let client = crate::Client::new_with_client(
            "http://127.0.0.1:1",
            reqwest::Client::new(),
            credentials.clone(),
        );
        for debug in [format!("{client:?}"), format!("{credentials:#?}")] {
            assert!(!debug.contains(key), "key leaked: {debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
        // The header is really there, only hidden.
        let mut headers = HeaderMap::new();
        credentials.apply(&mut headers);
        let auth = &headers[AUTHORIZATION];
        assert!(auth.is_sensitive());
        assert_eq!(auth.to_str().unwrap(), format!("Bearer {key}"));
        assert_eq!(headers[USER_AGENT], "ua/1");
        assert!(!format!("{headers:?}").contains(key));
    }

    #[test]
    fn a_key_with_a_newline_is_refused_without_echoing_it() {
        let error = Credentials::bearer("abc\ndef").unwrap_err();
        assert!(!error.to_string().contains("abc"));
        assert!(matches!(
            Credentials::bearer("k").unwrap().with_user_agent("a\nb"),
            Err(AuthError::InvalidUserAgent)
        ));
    }
}
