//! The route templates of a service (`/v1/models/{id}`), by which the journal and the counters
//! name requests.
//!
//! The fault layer wraps a service's whole API router, so it finds a request's template itself,
//! before the router runs, with the same matcher (and syntax) axum routes with.

/// What requests are named when no route matches.
pub(super) const UNMATCHED: &str = "unmatched";

/// A service's route templates.
#[derive(Clone, Default)]
pub struct RouteTemplates(matchit::Router<&'static str>);

impl RouteTemplates {
    /// Adds a template. Conflicting templates are a programming error axum rejects the same way
    /// when the route is added, so they panic here too.
    pub fn insert(&mut self, template: &'static str) {
        if let Err(error) = self.0.insert(template, template) {
            panic!("route template {template} conflicts with another: {error}");
        }
    }

    /// The template `path` matches, or [`UNMATCHED`].
    pub fn find(&self, path: &str) -> &'static str {
        self.0.at(path).map_or(UNMATCHED, |found| *found.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_by_their_templates() {
        let mut routes = RouteTemplates::default();
        for template in ["/health", "/v1/models", "/v1/models/{id}", "/mcp"] {
            routes.insert(template);
        }
        assert_eq!(routes.find("/v1/models/gpt-4o"), "/v1/models/{id}");
        assert_eq!(routes.find("/v1/models"), "/v1/models");
        assert_eq!(routes.find("/mcp"), "/mcp");
        assert_eq!(routes.find("/v1/nope"), UNMATCHED);
        assert_eq!(routes.find("/v1/models/a/b"), UNMATCHED);
    }
}
