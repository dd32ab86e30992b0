//! The run's HTTP client and the API keys of the targets that need one: every request to a keyed
//! target carries `Authorization: Bearer KEY`, and no key ever goes to another target.

use std::collections::BTreeMap;

/// One client for the whole run (its connection pool is shared), plus the keys by target URL.
pub struct Http {
    client: reqwest::Client,
    keys: Vec<(String, String)>,
}

impl Http {
    /// The client with the keys of `api_keys` (target name -> key) placed on `targets` (name -> URL).
    pub fn new(
        client: reqwest::Client,
        targets: &BTreeMap<String, String>,
        api_keys: &BTreeMap<String, String>,
    ) -> Self {
        let keys = api_keys
            .iter()
            .filter_map(|(name, key)| targets.get(name).map(|url| (url.trim_end_matches('/').to_owned(), key.clone())))
            .collect();
        Http { client, keys }
    }

    /// The key of the target `url` belongs to.
    pub fn key_for(&self, url: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(base, _)| {
                url.strip_prefix(base.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map(|(_, key)| key.as_str())
    }

    /// A request, with the target's key when it has one.
    pub fn request(&self, method: reqwest::Method, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        let url = url.as_ref();
        let request = self.client.request(method, url);
        match self.key_for(url) {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
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

    #[test]
    fn a_key_goes_to_its_own_target_only() {
        let targets = BTreeMap::from([
            ("gateway".to_owned(), "http://127.0.0.1:8000/".to_owned()),
            ("rag".to_owned(), "http://127.0.0.1:8002".to_owned()),
        ]);
        let http = Http::new(reqwest::Client::new(), &targets, &BTreeMap::from([("gateway".into(), "sk-1".into())]));
        assert_eq!(http.key_for("http://127.0.0.1:8000/v1/chat/completions"), Some("sk-1"));
        assert_eq!(http.key_for("http://127.0.0.1:8000"), Some("sk-1"));
        assert_eq!(http.key_for("http://127.0.0.1:80001/v1"), None);
        assert_eq!(http.key_for("http://127.0.0.1:8002/v1/query"), None);
    }
}
