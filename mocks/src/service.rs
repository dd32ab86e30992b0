//! Assembling a mock service: its own protocol routes, wrapped the same way for every service —
//! `/metrics`, the shared fault layer and the shared `/__admin` API (the panic guard wraps the whole
//! router once, in `server::serve`). Each service supplies only its routes, its
//! [`ServiceProtocol`] and what its reset restores.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::handler::Handler;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::routing::{MethodRouter, get};
use bytes::Bytes;
use futures::future::Either;
use http::Request;
use tower::{Layer, Service};

use crate::admin::{self, AdminState};
use crate::config::ServiceCommon;
use crate::faults::{FaultContext, FaultEngine, FaultFuture, FaultLayer, FaultService, ServiceProtocol};
use crate::telemetry::{RouteTemplates, Telemetry};

/// What every service shares with the common machinery.
pub struct ServiceParts {
    /// Its fault rules.
    pub engine: Arc<FaultEngine>,
    /// Its journal and counters.
    pub telemetry: Arc<Telemetry>,
    /// Its protocol hooks.
    pub protocol: Arc<dyn ServiceProtocol>,
    /// Extra work of `POST /__admin/reset` (restoring models, corpus, sandbox ...).
    pub on_reset: Arc<dyn Fn() + Send + Sync>,
}

/// A service's own routes, added through this so the shared fault layer knows their templates (it
/// wraps the whole API router once: a layer per route would cost a boxed clone per request). The
/// methods mirror axum's `Router`.
pub struct ApiRoutes<S = ()> {
    router: Router<S>,
    templates: RouteTemplates,
}

impl<S: Clone + Send + Sync + 'static> Default for ApiRoutes<S> {
    fn default() -> Self {
        ApiRoutes { router: Router::new(), templates: RouteTemplates::default() }
    }
}

impl<S: Clone + Send + Sync + 'static> ApiRoutes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route (axum's `Router::route`), remembering its template.
    pub fn route(mut self, template: &'static str, handlers: MethodRouter<S>) -> Self {
        self.router = self.router.route(template, handlers);
        self.templates.insert(template);
        self
    }

    /// The handler for paths no route matches.
    pub fn fallback<H: Handler<T, S>, T: 'static>(mut self, handler: H) -> Self {
        self.router = self.router.fallback(handler);
        self
    }

    /// The handler for a known path asked with a method it does not serve.
    pub fn method_not_allowed_fallback<H: Handler<T, S>, T: 'static>(mut self, handler: H) -> Self {
        self.router = self.router.method_not_allowed_fallback(handler);
        self
    }

    /// The routes with their state supplied.
    pub fn with_state<S2>(self, state: S) -> ApiRoutes<S2> {
        ApiRoutes { router: self.router.with_state(state), templates: self.templates }
    }
}

/// The complete service: `api` (its routes, state and fallbacks) plus `/metrics` behind the fault
/// layer, the admin API (and `extra_admin` routes) beside it.
pub fn assemble(
    api: ApiRoutes,
    parts: ServiceParts,
    common: &ServiceCommon,
    extra_admin: Option<Router>,
) -> MockService {
    let api = api.route("/metrics", get(admin::metrics).with_state(parts.telemetry.clone()));
    // A known path asked with a method it does not serve: 405 in the service's own error shape
    // (routes with a fallback of their own keep it).
    let shape = parts.protocol.clone();
    let api = api.method_not_allowed_fallback(move |method: http::Method, uri: http::Uri| {
        let shape = shape.clone();
        async move {
            let error = crate::faults::ErrorSpec {
                status: 405,
                code: Some("method_not_allowed".into()),
                message: Some(format!("{method} is not allowed on {}.", uri.path())),
                retry_after: None,
            };
            shape.injected_error(&error, &[])
        }
    });
    let fault_layer = FaultLayer::new(FaultContext {
        engine: parts.engine.clone(),
        telemetry: parts.telemetry.clone(),
        protocol: parts.protocol,
        routes: api.templates,
        allow_header_faults: common.allow_header_faults,
        max_body_bytes: common.max_body_bytes,
    });
    let admin =
        admin::router(AdminState { engine: parts.engine, telemetry: parts.telemetry, on_reset: parts.on_reset });
    let admin = match extra_admin {
        Some(extra) => admin.merge(extra),
        None => admin,
    };
    MockService {
        admin: admin::with_fallbacks(admin, common.admin.clone()),
        api: fault_layer.layer(api.router),
        serves: Side::Both,
    }
}

/// Which side of a service a listener serves.
#[derive(Clone)]
enum Side {
    /// The API and, under `/__admin/`, the admin API (the default).
    Both,
    /// The API only; admin paths answer where the admin API is (its own address).
    Api(Router),
    /// The admin API only; other paths answer where the API is.
    Admin(Router),
}

/// A router answering every request with a 404 that says where to go instead.
fn elsewhere(message: String) -> Router {
    Router::new().fallback(move || {
        let message = message.clone();
        async move {
            let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "not_found"}});
            (http::StatusCode::NOT_FOUND, axum::Json(body))
        }
    })
}

/// A whole mock service as one tower service: paths under `/__admin/` go to the admin routes,
/// everything else to the API behind the fault layer. One prefix test picks the side; an outer
/// axum router with the API as its fallback would match and box every API request twice.
#[derive(Clone)]
pub struct MockService {
    admin: Router,
    api: FaultService<Router>,
    serves: Side,
}

impl MockService {
    /// The service split in two for two listeners: the API (at `api_url`) and the admin API alone
    /// (at `admin_url`), so the admin API can live on an address clients of the API cannot reach.
    pub fn split(self, api_url: &str, admin_url: &str) -> (MockService, MockService) {
        let to_admin = elsewhere(format!("The admin API of this service is served on {admin_url}/__admin/."));
        let to_api = elsewhere(format!("This address serves the admin API only; the service is on {api_url}."));
        (
            MockService { serves: Side::Api(to_admin), ..self.clone() },
            MockService { serves: Side::Admin(to_api), ..self },
        )
    }
}

/// The prefix of every admin route.
pub const ADMIN_PREFIX: &str = "/__admin/";

impl<B> Service<Request<B>> for MockService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<FaultFuture<RouteFuture<Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both sides are axum routers, always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request = request.map(Body::new);
        let admin = request.uri().path().starts_with(ADMIN_PREFIX);
        match (&mut self.serves, admin) {
            (Side::Api(elsewhere), true) | (Side::Admin(elsewhere), false) => Either::Right(elsewhere.call(request)),
            (_, true) => Either::Right(self.admin.call(request)),
            (_, false) => Either::Left(self.api.call(request)),
        }
    }
}
