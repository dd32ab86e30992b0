//! `mocks healthcheck URL`: the health probe for images built `FROM scratch` (no curl there).

use std::time::Duration;

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HealthError {
    /// No answer (refused, timed out, bad URL).
    #[error("{url} did not answer: {source}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
}

/// Succeeds when `url` answers 200 within `timeout`.
pub(crate) async fn check(url: &str, timeout: Duration) -> Result<(), HealthError> {
    // Straight to the service: a proxy from the environment (Docker passes its own to containers)
    // would answer for it.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|source| HealthError::Unreachable { url: url.to_owned(), source })?;
    let response =
        client.get(url).send().await.map_err(|source| HealthError::Unreachable { url: url.to_owned(), source })?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(HealthError::Status { url: url.to_owned(), status }),
    }
}
