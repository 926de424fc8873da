//! Bearer authentication with a key that never prints.
//!
//! The key goes into the `reqwest::Client`'s default headers, marked
//! sensitive (`HeaderValue::set_sensitive`), so `Debug` of the reqwest client
//! and of the generated [`crate::Client`] shows `Sensitive` instead of it.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

/// Why an HTTP client could not be built.
#[derive(Debug)]
pub enum AuthError {
    /// The key holds characters that cannot go into an HTTP header.
    InvalidKey,
    /// reqwest refused the builder (e.g. its TLS backend failed to start).
    Build(reqwest::Error),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidKey => f.write_str(
                "the API key contains characters that are not allowed in an HTTP header \
                 (check WRITER_API_KEY for stray quotes, spaces or newlines)",
            ),
            Self::Build(e) => write!(f, "could not build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidKey => None,
            Self::Build(e) => Some(e),
        }
    }
}

/// The `Authorization: Bearer <key>` header value, marked sensitive.
pub fn bearer(key: &str) -> Result<HeaderValue, AuthError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| AuthError::InvalidKey)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Builds a `reqwest::Client` from `builder` that sends the bearer key on
/// every request.
pub fn http_client(
    builder: reqwest::ClientBuilder,
    key: &str,
) -> Result<reqwest::Client, AuthError> {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer(key)?);
    builder
        .default_headers(headers)
        .build()
        .map_err(AuthError::Build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = "sk-very-secret-key-123";
        let http = http_client(reqwest::Client::builder(), key).unwrap();
        let client = crate::Client::new_with_client("http://127.0.0.1:1", http);
        let debug = format!("{client:?}");
        assert!(!debug.contains(key), "key leaked: {debug}");
        assert!(!format!("{:?}", bearer(key).unwrap()).contains(key));
        // The header is really there, only hidden.
        assert!(debug.contains("Sensitive") || debug.contains("authorization"));
    }

    #[test]
    fn a_key_with_a_newline_is_refused_without_echoing_it() {
        let error = bearer("abc\ndef").unwrap_err();
        assert!(!error.to_string().contains("abc"));
    }
}
