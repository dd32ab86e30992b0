//! The run's HTTP clients and what each target needs: every request to a keyed target carries
//! `Authorization: Bearer KEY` (no key ever goes to another target), and the targets a scenario
//! names under `http2` are spoken to over HTTP/2 without TLS (prior knowledge, h2c), every
//! user's requests multiplexed as streams on one connection. A streamed answer from such a target
//! is read through hyper directly ([`super::http2`]); [`Answer`] is that answer, whichever client
//! carried it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::http2::Connections;
use crate::stats::{Failure, FailureKind};

/// One client for the whole run (its connection pool is shared, clones included), an HTTP/2 one
/// when a target asks for it, and the keys by target URL.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    http2: Option<(reqwest::Client, Vec<String>)>,
    /// The HTTP/2 targets' connections for streamed answers (`http://` targets only).
    streams: Arc<Connections>,
    keys: Vec<(String, String)>,
}

/// An answer whose body is read chunk by chunk (a streamed completion), from either client.
pub(super) enum Answer {
    /// Through reqwest (HTTP/1.1, or `https://`).
    Reqwest(reqwest::Response),
    /// Through hyper on a target's shared HTTP/2 connection.
    Http2(http::Response<hyper::body::Incoming>),
}

impl Answer {
    /// The status code.
    pub(super) fn status(&self) -> u16 {
        match self {
            Answer::Reqwest(r) => r.status().as_u16(),
            Answer::Http2(r) => r.status().as_u16(),
        }
    }

    /// Whether the body is a server-sent event stream (its `content-type`).
    pub(super) fn is_event_stream(&self) -> bool {
        let headers = match self {
            Answer::Reqwest(r) => r.headers(),
            Answer::Http2(r) => r.headers(),
        };
        headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"))
    }

    /// The body's next chunk (`None` at its end); a broken body is `stream_cut` (`timeout` when
    /// reqwest timed it out).
    pub(super) async fn chunk(&mut self) -> Option<Result<Bytes, Failure>> {
        match self {
            Answer::Reqwest(r) => match r.chunk().await {
                Ok(chunk) => chunk.map(Ok),
                Err(e) => {
                    let kind = if e.is_timeout() { FailureKind::Timeout } else { FailureKind::StreamCut };
                    Some(Err(Failure::new(kind, e.to_string())))
                }
            },
            Answer::Http2(r) => loop {
                match r.body_mut().frame().await? {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            return Some(Ok(data));
                        }
                    }
                    Err(e) => return Some(Err(Failure::new(FailureKind::StreamCut, e.to_string()))),
                }
            },
        }
    }

    /// The rest of the body: its first `keep` bytes and its whole size (a broken body ends it).
    pub(super) async fn kept(mut self, keep: usize) -> super::Kept {
        let mut kept = super::Keeper::new(keep);
        while let Some(Ok(chunk)) = self.chunk().await {
            kept.push(&chunk);
        }
        kept.finish()
    }
}

/// A client that speaks to the URL it is given, as loadsuite's own HTTP/1.1 and HTTP/2 paths do:
/// no proxy from the environment (load sent through a proxy measures the proxy, and only the
/// requests reqwest carried would have gone there) and no redirect followed (a 3xx is the
/// target's answer, recorded as one; a task that expects it says so with `expect_status`).
pub(crate) fn direct_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none())
}

/// Whether `url` is `base` or below it (`http://h:1/v1` is below `http://h:1`, `http://h:10` is not).
fn under(url: &str, base: &str) -> bool {
    url.strip_prefix(base).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn base(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

impl Http {
    /// The client with the keys of `api_keys` (target name -> key) placed on `targets` (name -> URL).
    pub fn new(
        client: reqwest::Client,
        targets: &BTreeMap<String, String>,
        api_keys: &BTreeMap<String, String>,
    ) -> Self {
        let keys =
            api_keys.iter().filter_map(|(name, key)| targets.get(name).map(|url| (base(url), key.clone()))).collect();
        Http { client, http2: None, streams: Arc::default(), keys }
    }

    /// The clients a run of `scenario` uses: its keys, and HTTP/2 to the targets it names so.
    pub fn for_scenario(scenario: &crate::scenario::Scenario) -> Self {
        let client = direct_client().pool_max_idle_per_host(usize::MAX).build().expect("an HTTP client builds");
        Http::new(client, &scenario.targets, &scenario.api_keys).with_http2(&scenario.targets, &scenario.http2)
    }

    /// Speaks HTTP/2 (h2c, prior knowledge) to the targets named in `names`: one multiplexed
    /// connection per target instead of one connection per user in flight. A server that speaks
    /// only HTTP/1.1 fails those requests as protocol errors.
    pub fn with_http2(mut self, targets: &BTreeMap<String, String>, names: &[String]) -> Self {
        let bases: Vec<String> = names.iter().filter_map(|name| targets.get(name)).map(|url| base(url)).collect();
        if !bases.is_empty() {
            let client = direct_client().http2_prior_knowledge().build().expect("an HTTP/2 client builds");
            self.http2 = Some((client, bases));
        }
        self
    }

    /// Whether requests to `url` go over HTTP/2.
    pub fn is_http2(&self, url: &str) -> bool {
        self.http2.as_ref().is_some_and(|(_, bases)| bases.iter().any(|b| under(url, b)))
    }

    /// The key of the target `url` belongs to.
    pub fn key_for(&self, url: &str) -> Option<&str> {
        self.keys.iter().find(|(base, _)| under(url, base)).map(|(_, key)| key.as_str())
    }

    /// A request, over the target's protocol and with its key when it has one.
    pub fn request(&self, method: reqwest::Method, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        let url = url.as_ref();
        let client = match &self.http2 {
            Some((client, _)) if self.is_http2(url) => client,
            _ => &self.client,
        };
        let request = client.request(method, url);
        match self.key_for(url) {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Posts `body` as JSON for an answer read chunk by chunk: over the target's shared HTTP/2
    /// connection with hyper when the target speaks HTTP/2 without TLS, through reqwest otherwise.
    pub(super) async fn post_streamed(&self, url: &str, body: &Value) -> Result<Answer, Failure> {
        if !(self.is_http2(url) && url.starts_with("http://")) {
            return match self.post(url).json(body).send().await {
                Ok(response) => Ok(Answer::Reqwest(response)),
                Err(e) => Err(Failure::new(FailureKind::from_reqwest(&e), e.to_string())),
            };
        }
        let json = serde_json::to_vec(body).map_err(|e| Failure::new(FailureKind::Protocol, e.to_string()))?;
        let mut request = http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
        if let Some(key) = self.key_for(url) {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = request
            .body(Full::new(Bytes::from(json)))
            .map_err(|e| Failure::new(FailureKind::Protocol, format!("{url}: {e}")))?;
        // Boxed, as reqwest boxes its own: every user's task would otherwise hold room for it.
        Box::pin(self.streams.send(request)).await.map(Answer::Http2)
    }

    /// A POST.
    pub fn post(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, url)
    }

    /// A DELETE.
    pub fn delete(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("gateway".to_owned(), "http://127.0.0.1:8000/".to_owned()),
            ("rag".to_owned(), "http://127.0.0.1:8002".to_owned()),
        ])
    }

    #[test]
    fn a_key_goes_to_its_own_target_only() {
        let http = Http::new(reqwest::Client::new(), &targets(), &BTreeMap::from([("gateway".into(), "sk-1".into())]));
        assert_eq!(http.key_for("http://127.0.0.1:8000/v1/chat/completions"), Some("sk-1"));
        assert_eq!(http.key_for("http://127.0.0.1:8000"), Some("sk-1"));
        assert_eq!(http.key_for("http://127.0.0.1:80001/v1"), None);
        assert_eq!(http.key_for("http://127.0.0.1:8002/v1/query"), None);
    }

    #[test]
    fn a_streamed_post_keeps_its_connection_work_out_of_every_users_task() {
        // Each of 10,000 users' tasks holds room for the largest future it awaits; the HTTP/2
        // send (lock, connect, handshake: about 1.8 KB unboxed) is boxed, as reqwest's own is.
        let http =
            Http::new(reqwest::Client::new(), &targets(), &BTreeMap::new()).with_http2(&targets(), &["gateway".into()]);
        let body = Value::Null;
        let streamed = http.post_streamed("http://127.0.0.1:8000/v1/chat/completions", &body);
        assert!(std::mem::size_of_val(&streamed) <= 512, "{} bytes", std::mem::size_of_val(&streamed));
    }

    #[test]
    fn only_the_named_targets_speak_http2() {
        let http =
            Http::new(reqwest::Client::new(), &targets(), &BTreeMap::new()).with_http2(&targets(), &["gateway".into()]);
        assert!(http.is_http2("http://127.0.0.1:8000/v1/chat/completions"));
        assert!(!http.is_http2("http://127.0.0.1:80001/v1"));
        assert!(!http.is_http2("http://127.0.0.1:8002/v1/query"));
        let none = Http::new(reqwest::Client::new(), &targets(), &BTreeMap::new()).with_http2(&targets(), &[]);
        assert!(!none.is_http2("http://127.0.0.1:8000/health"));
    }
}
