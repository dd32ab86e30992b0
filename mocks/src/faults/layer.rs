//! The tower layer that applies fault decisions to a service's requests and records every request.
//!
//! It sits in front of a service's routes (not the admin routes). Per request it asks the
//! [`FaultEngine`] what to do, waits the added latency, then answers with an injected error, breaks
//! the connection, or calls the service (handing stream faults down as a request extension) and
//! possibly degrades the body. Each request then lands in the service's [`Telemetry`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use tokio::time::Instant;
use tower::{Layer, Service};

use super::body::{dribbled, truncated};
use super::engine::{FaultDecision, FaultEngine};
use super::headers::header_decision;
use super::spec::{ErrorSpec, TransportSpec};
use crate::server::ConnectionControl;
use crate::telemetry::{RequestRecord, RouteTemplates, Telemetry};

/// What a service teaches the shared fault layer about its own protocol.
pub trait ServiceProtocol: Send + Sync + 'static {
    /// The request attribute rules may match on (gateway: `model`; MCP: tool name), read from the
    /// buffered request. Only called when an installed rule needs it.
    fn attribute(&self, parts: &http::request::Parts, body: &[u8]) -> Option<String>;

    /// An injected error in the service's native error shape. `body` is the request body when it
    /// was buffered (so, e.g., a JSON-RPC error can echo the request id).
    fn injected_error(&self, error: &ErrorSpec, body: &[u8]) -> Response;

    /// Whether the layer should always buffer the request body (so `attribute` and
    /// `injected_error` always see it), not only when a rule matches on the attribute.
    fn always_buffer_body(&self) -> bool {
        false
    }

    /// Whether injected latency is simulated work the service performs itself (inside its own
    /// limits, e.g. an MCP tool execution holding a concurrency slot). When true the layer does not
    /// sleep; it hands the latency down as an [`InjectedLatency`] request extension.
    fn latency_inside(&self) -> bool {
        false
    }

    /// The last touch on every response of the service (e.g. per-response headers, or re-shaping
    /// errors into a dialect), given the time the request took. The default changes nothing.
    fn finish(&self, response: Response, _elapsed: Duration) -> Response {
        response
    }
}

/// Latency a service applies itself (see [`ServiceProtocol::latency_inside`]), cut short when
/// the rule asking for it is removed.
#[derive(Debug, Clone, Default)]
pub struct InjectedLatency {
    /// How long.
    pub duration: Duration,
    /// Released when a rule behind it is removed.
    pub release: super::Release,
}

/// Facts a handler attaches to its response for the journal (as a response extension).
#[derive(Debug, Clone, Default)]
pub struct ResponseNote {
    /// The request attribute the handler saw (e.g. the model asked for).
    pub attribute: Option<String>,
    /// The genuine error code it answered with, if any.
    pub error_code: Option<String>,
}

/// Everything the layer needs, shared by all its clones.
pub struct FaultContext {
    /// The rules.
    pub engine: Arc<FaultEngine>,
    /// Where requests are recorded.
    pub telemetry: Arc<Telemetry>,
    /// The service's protocol hooks.
    pub protocol: Arc<dyn ServiceProtocol>,
    /// The service's route templates, to name requests in the journal and counters.
    pub routes: RouteTemplates,
    /// Whether requests may carry their own faults in `x-mock-fault-*` headers.
    pub allow_header_faults: bool,
    /// Largest request body buffered for attribute matching.
    pub max_body_bytes: usize,
}

/// The fault-injection layer; see the module docs.
#[derive(Clone)]
pub struct FaultLayer {
    context: Arc<FaultContext>,
}

impl FaultLayer {
    /// A layer over the given context.
    pub fn new(context: FaultContext) -> Self {
        FaultLayer { context: Arc::new(context) }
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService { inner, context: self.context.clone() }
    }
}

/// The service produced by [`FaultLayer`].
#[derive(Clone)]
pub struct FaultService<S> {
    inner: S,
    context: Arc<FaultContext>,
}

impl<S> Service<Request> for FaultService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FaultFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let context = self.context.clone();
        // Decide now when the body is not needed for it. A request nothing applies to (the common
        // case under load) calls the service at once, with no extra allocation: the future only
        // records the request when the answer is ready.
        if !context.protocol.always_buffer_body() {
            let rules = context.engine.rules();
            let (method, path) = (request.method(), request.uri().path());
            if !rules.needs_attribute(method, path) {
                let mut decision = rules.decide(method, path, None);
                if context.allow_header_faults
                    && let Some(from_headers) = header_decision(request.headers())
                {
                    merge(&mut decision, from_headers);
                }
                if decision.is_empty() {
                    let started = Instant::now();
                    let pending = Some((Pending::of(&request, &context, started), context, started));
                    return FaultFuture::pass(self.inner.call(request), pending);
                }
                return FaultFuture::boxed(self.take_inner(), context, request, Some(decision));
            }
        }
        FaultFuture::boxed(self.take_inner(), context, request, None)
    }
}

impl<S: Clone> FaultService<S> {
    /// The service that was polled ready, leaving a fresh clone behind (tower's rule), for futures
    /// that call it later.
    fn take_inner(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`FaultService`]: a pass-through of the service's own future when no fault
    /// applies, otherwise the boxed future that can delay, fail, break or degrade the answer.
    /// Dropped before it answered (the client went away), it still records the request, as a 499.
    pub struct FaultFuture<F> {
        #[pin]
        state: State<F>,
    }

    impl<F> PinnedDrop for FaultFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let StateProjection::Pass { pending, .. } = this.project().state.project()
                && let Some((entry, context, started)) = pending.take()
            {
                entry.record_abandoned(&context, started);
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        // Nothing applies: the service's future, then the journal entry.
        Pass {
            #[pin]
            inner: F,
            pending: Option<(Pending, Arc<FaultContext>, Instant)>,
        },
        // Faults (or a body read) are involved.
        Faulted {
            future: Pin<Box<dyn Future<Output = Response> + Send>>,
        },
    }
}

impl<F> FaultFuture<F> {
    fn pass(inner: F, pending: Option<(Pending, Arc<FaultContext>, Instant)>) -> Self {
        FaultFuture { state: State::Pass { inner, pending } }
    }

    fn boxed<S>(inner: S, context: Arc<FaultContext>, request: Request, decided: Option<FaultDecision>) -> Self
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send + 'static,
    {
        FaultFuture { state: State::Faulted { future: Box::pin(handle(context, inner, request, decided)) } }
    }
}

impl<F> Future for FaultFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Pass { inner, pending } => {
                let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx)));
                let response = match polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => Ok(response),
                    Err(panic) => Err(panic),
                };
                Poll::Ready(Ok(match (pending.take(), response) {
                    (Some((entry, context, started)), Ok(response)) => {
                        finish(&context, entry, started, response, false)
                    }
                    (Some((entry, context, started)), Err(panic)) => {
                        let response = panic_response(&context, panic);
                        finish(&context, entry, started, response, false)
                    }
                    (None, Ok(response)) => response,
                    (None, Err(panic)) => std::panic::resume_unwind(panic),
                }))
            }
            StateProjection::Faulted { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

/// A request faults may apply to; `decided` when the decision did not need the body.
async fn handle<S>(
    context: Arc<FaultContext>,
    mut inner: S,
    request: Request,
    decided: Option<FaultDecision>,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    // Until the request is answered, dropping this future (the client went away) records it.
    let mut guard = Unanswered { entry: Some(Pending::of(&request, &context, started)), context: &context, started };
    let (request, body, decision) = match decided {
        Some(decision) => (request, Bytes::new(), decision),
        None => match read_and_decide(&context, guard.entry(), request).await {
            Ok(read) => read,
            Err(response) => return finish(&context, guard.answered(), started, response, false),
        },
    };
    if decision.is_empty() {
        let response = call(&context, &mut inner, request).await;
        return finish(&context, guard.answered(), started, response, false);
    }
    guard.entry().faults = decision.rules.clone();
    let mut request = request;
    let handled_by_service = decision.error.is_none() && decision.transport.is_none();
    if context.protocol.latency_inside() && handled_by_service {
        let latency = InjectedLatency { duration: decision.latency, release: decision.release.clone() };
        request.extensions_mut().insert(latency);
    } else {
        super::hold(decision.latency, &decision.release).await;
    }
    if let Some(error) = &decision.error {
        let response = context.protocol.injected_error(error, &body);
        return finish(&context, guard.answered(), started, response, true);
    }
    let control = ConnectionControl::current();
    match decision.transport {
        Some(TransportSpec::Reset) => break_connection(&context, guard.answered(), started, control, true).await,
        Some(TransportSpec::Close) => break_connection(&context, guard.answered(), started, control, false).await,
        Some(TransportSpec::Hang { max_ms }) => {
            super::hold(Duration::from_millis(max_ms), &decision.release).await;
            break_connection(&context, guard.answered(), started, control, false).await
        }
        Some(TransportSpec::Truncate { after_bytes }) => {
            let response = call(&context, &mut inner, request).await;
            let response = truncated(response, after_bytes).await;
            finish(&context, guard.answered(), started, response, true)
        }
        Some(TransportSpec::Dribble { chunk_bytes, interval_ms }) => {
            let response = call(&context, &mut inner, request).await;
            let response = dribbled(response, chunk_bytes, Duration::from_millis(interval_ms)).await;
            finish(&context, guard.answered(), started, response, true)
        }
        None => {
            if let Some(stream) = decision.stream.clone() {
                request.extensions_mut().insert(stream);
            }
            let response = call(&context, &mut inner, request).await;
            // Latency or stream faults only degrade a genuine answer: its status is the service's.
            let injected = decision.stream.is_some() && response.status().is_success();
            finish(&context, guard.answered(), started, response, injected)
        }
    }
}

/// A request not answered yet: dropped before [`Unanswered::answered`] (its future dropped because
/// the client closed the connection), it records the request as abandoned.
struct Unanswered<'a> {
    entry: Option<Pending>,
    context: &'a FaultContext,
    started: Instant,
}

impl Unanswered<'_> {
    fn entry(&mut self) -> &mut Pending {
        self.entry.as_mut().expect("the request is not answered yet")
    }

    /// The request is being answered: its entry, for the record.
    fn answered(&mut self) -> Pending {
        self.entry.take().expect("a request is answered once")
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.record_abandoned(self.context, self.started);
        }
    }
}

/// Buffers the body (for the request attribute and for native error shapes), then decides.
/// An over-limit body is answered at once (the `Err`), in the service's shape.
async fn read_and_decide(
    context: &FaultContext,
    entry: &mut Pending,
    request: Request,
) -> Result<(Request, Bytes, FaultDecision), Response> {
    let (parts, body) = request.into_parts();
    let bytes = match crate::json_body::read_body(body, context.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(read) => {
            let failure = read.into_body_error(context.max_body_bytes);
            let code = match failure {
                crate::json_body::BodyError::TooLarge(_) => "request_too_large",
                crate::json_body::BodyError::TimedOut(_) => "request_timeout",
                crate::json_body::BodyError::ClientAborted => "client_aborted",
                _ => "malformed_body",
            };
            let error = ErrorSpec {
                status: failure.status().as_u16(),
                code: Some(code.into()),
                message: Some(failure.to_string()),
                retry_after: None,
            };
            let mut response = context.protocol.injected_error(&error, &[]);
            response.extensions_mut().insert(ResponseNote { attribute: None, error_code: Some(code.into()) });
            return Err(response);
        }
    };
    let attribute = context.protocol.attribute(&parts, &bytes);
    let mut decision = context.engine.rules().decide(&parts.method, parts.uri.path(), attribute.as_deref());
    if context.allow_header_faults
        && let Some(from_headers) = header_decision(&parts.headers)
    {
        merge(&mut decision, from_headers);
    }
    entry.attribute = attribute;
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes, decision))
}

fn merge(decision: &mut FaultDecision, extra: FaultDecision) {
    decision.rules.extend(extra.rules);
    decision.in_flight.extend(extra.in_flight);
    decision.latency += extra.latency;
    if decision.error.is_none() && decision.transport.is_none() {
        decision.error = extra.error;
        decision.transport = extra.transport;
    }
    if extra.stream.is_some() {
        decision.stream = extra.stream;
    }
}

async fn call<S>(context: &FaultContext, inner: &mut S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(inner.call(request)).catch_unwind().await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(panic) => panic_response(context, panic),
    }
}

/// A handler panicked (a bug in the mock): a 500 in the service's own error shape, logged once as
/// one line; the request is still journaled and counted (as a genuine error), and the service
/// keeps serving.
fn panic_response(context: &FaultContext, panic: Box<dyn std::any::Any + Send>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    if context.telemetry.may_warn() {
        tracing::error!(service = context.telemetry.service(), panic = %what.escape_debug(), "a handler panicked; answered 500");
    }
    let error = ErrorSpec {
        status: 500,
        code: Some("internal_error".into()),
        message: Some(format!(
            "The mock failed while handling this request (a bug in the mock: {what}). It keeps serving."
        )),
        retry_after: None,
    };
    context.protocol.injected_error(&error, &[])
}

/// What the layer knows of a request before it is answered (all cheap clones, no copies).
pub(super) struct Pending {
    at_ms: u64,
    method: http::Method,
    uri: http::Uri,
    route: &'static str,
    attribute: Option<String>,
    faults: Vec<String>,
}

impl Pending {
    fn of(request: &Request, context: &FaultContext, started: Instant) -> Pending {
        Pending {
            at_ms: context.telemetry.unix_ms(started),
            method: request.method().clone(),
            uri: request.uri().clone(),
            route: context.routes.find(request.uri().path()),
            attribute: None,
            faults: Vec::new(),
        }
    }

    fn record(
        &self,
        context: &FaultContext,
        status: u16,
        injected: bool,
        latency: Duration,
        note: Option<&ResponseNote>,
    ) {
        let attribute = self.attribute.as_deref().or_else(|| note.and_then(|n| n.attribute.as_deref()));
        context.telemetry.record(&RequestRecord {
            at_ms: self.at_ms,
            method: self.method.as_str(),
            path: self.uri.path(),
            route: self.route,
            attribute,
            status,
            error_code: note.and_then(|n| n.error_code.as_deref()),
            injected,
            faults: &self.faults,
            latency_ms: latency.as_secs_f64() * 1000.0,
        });
    }
}

impl Pending {
    /// The client went away before the answer: recorded as 499 (`client_aborted`), its own
    /// outcome, never a server error.
    fn record_abandoned(&self, context: &FaultContext, started: Instant) {
        let note = ResponseNote { attribute: None, error_code: Some("client_aborted".into()) };
        let status = crate::json_body::CLIENT_CLOSED_REQUEST.as_u16();
        self.record(context, status, false, started.elapsed(), Some(&note));
    }
}

async fn break_connection(
    context: &FaultContext,
    entry: Pending,
    started: Instant,
    control: Option<Arc<ConnectionControl>>,
    reset: bool,
) -> Response {
    entry.record(context, 0, true, started.elapsed(), None);
    match control {
        Some(control) => {
            if reset {
                control.reset();
            } else {
                control.close();
            }
            // The connection task drops this future; nothing is ever sent.
            std::future::pending::<Response>().await
        }
        // Driven without a socket (in-process `oneshot`): the closest thing is a body that fails.
        None => Response::new(Body::from_stream(futures::stream::once(async {
            Err::<Bytes, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
        }))),
    }
}

fn finish(context: &FaultContext, entry: Pending, started: Instant, response: Response, injected: bool) -> Response {
    let elapsed = started.elapsed();
    let response = context.protocol.finish(response, elapsed);
    entry.record(context, response.status().as_u16(), injected, elapsed, response.extensions().get::<ResponseNote>());
    response
}
