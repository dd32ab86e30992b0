//! The RAG mock through real HTTP: indexing, retrieval ranking, re-indexing, deletion, filters,
//! capacity (507, nothing half-written), every backend fault kind, and consistency under
//! concurrent reads and writes.

use std::time::Duration;

use mocks::config::MocksConfig;
use mocks::stack::{ServiceKind, Stack};
use serde_json::{Value, json};

struct TestRag {
    _stack: Stack,
    url: String,
    client: reqwest::Client,
}

impl TestRag {
    async fn start(rag_toml: &str) -> Self {
        let config = MocksConfig::from_toml(&format!("[rag]\n{rag_toml}\n"), "rag.toml").unwrap();
        let stack = Stack::start(&config, &[(ServiceKind::Rag, "127.0.0.1:0".parse().unwrap())]).await.unwrap();
        let url = stack.service(ServiceKind::Rag).unwrap().url();
        TestRag { _stack: stack, url, client: reqwest::Client::new() }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.client.post(format!("{}{path}", self.url)).json(&body).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        self.client.get(format!("{}{path}", self.url)).send().await.unwrap().json().await.unwrap()
    }

    async fn index(&self, docs: Value) -> (u16, Value) {
        self.post("/v1/index", json!({"documents": docs})).await
    }

    async fn query(&self, query: &str, top_k: u64) -> Vec<Value> {
        let (status, body) = self.post("/v1/query", json!({"query": query, "top_k": top_k})).await;
        assert_eq!(status, 200, "{body}");
        body["results"].as_array().unwrap().clone()
    }

    async fn add_rule(&self, rule: Value) {
        let response = self.client.post(format!("{}/__admin/faults", self.url)).json(&rule).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
}

#[tokio::test]
async fn builtin_corpus_is_indexed_at_start_and_retrieval_ranks_by_shared_words() {
    let rag = TestRag::start("seed_corpus = \"builtin\"").await;
    let health = rag.get("/health").await;
    assert_eq!((health["status"].as_str(), health["documents"].as_u64()), (Some("ok"), Some(6)));
    let collections = rag.get("/v1/collections").await;
    assert_eq!(collections["collections"][0]["documents"], 6);
    assert_eq!(collections["collections"][0]["dimensions"], 256);
    let results = rag.query("vector store timeout capacity", 3).await;
    assert_eq!(results[0]["id"], "vector-store");
    for hit in &results {
        assert!(
            hit["chunk"].is_u64() && hit["score"].is_f64() && hit["text"].is_string() && hit["metadata"].is_object()
        );
    }
    let scores: Vec<f64> = results.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    assert_eq!(rag.query("unknown model qwen preflight", 1).await[0]["id"], "incident-2024-model");
}

#[tokio::test]
async fn index_replace_delete_and_filter() {
    let rag = TestRag::start("").await;
    let (status, outcome) = rag
        .index(json!([
            {"id": "a", "text": "kubernetes pods restart when probes fail", "metadata": {"team": "infra"}},
            {"id": "b", "text": "quarterly revenue grew in the retail segment", "metadata": {"team": "finance"}},
        ]))
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        (outcome["indexed"].as_u64(), outcome["documents"].as_u64(), outcome["replaced"].as_u64()),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(rag.query("why do pods restart", 2).await[0]["id"], "a");
    let filtered =
        rag.post("/v1/query", json!({"query": "pods restart", "top_k": 5, "filter": {"team": "finance"}})).await.1;
    assert!(filtered["results"].as_array().unwrap().iter().all(|h| h["id"] == "b"), "{filtered}");

    let (_, outcome) = rag.index(json!([{"id": "a", "text": "bananas ripen faster near apples"}])).await;
    assert_eq!((outcome["replaced"].as_u64(), outcome["documents"].as_u64()), (Some(1), Some(2)));
    let top = &rag.query("bananas apples", 1).await[0];
    assert_eq!((top["id"].as_str(), top["text"].as_str()), (Some("a"), Some("bananas ripen faster near apples")));

    let deleted = rag.client.delete(format!("{}/v1/documents/a", rag.url)).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let again = rag.client.delete(format!("{}/v1/documents/a", rag.url)).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found");
    assert_eq!(rag.get("/v1/collections").await["collections"][0]["documents"], 1);
}

#[tokio::test]
async fn bad_requests_get_the_rag_error_shape() {
    let rag = TestRag::start("max_body_bytes = 300\nmax_top_k = 10").await;
    for (body, needle) in [
        (json!({}), "Missing 'documents'"),
        (json!({"documents": []}), "empty"),
        (json!({"documents": [{"id": "x"}]}), "documents[0].text"),
        (json!({"documents": [{"id": "", "text": "t"}]}), "documents[0].id"),
        (json!({"documents": [{"id": "x", "text": "t", "metadata": 3}]}), "metadata"),
    ] {
        let (status, error) = rag.post("/v1/index", body).await;
        assert_eq!((status, error["error"]["type"].as_str()), (400, Some("invalid_request")));
        assert!(error["error"]["message"].as_str().unwrap().contains(needle), "{error}");
    }
    for body in [
        json!({"query": ""}),
        json!({"query": "x", "top_k": 0}),
        json!({"query": "x", "top_k": 11}),
        json!({"query": "x", "filter": [1]}),
    ] {
        let (status, error) = rag.post("/v1/query", body).await;
        assert_eq!((status, error["error"]["type"].as_str()), (400, Some("invalid_request")), "{error}");
    }
    let raw = |content_type: &'static str, body: String| {
        let request = rag.client.post(format!("{}/v1/query", rag.url)).header("content-type", content_type).body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(raw("text/plain", "{}".into()).await.0, 415);
    assert_eq!(raw("application/json", "{oops".into()).await.0, 400);
    let (status, body) = raw("application/json", format!("{{\"query\":\"{}\"}}", "q".repeat(400))).await;
    assert_eq!((status, body["error"]["type"].as_str()), (413, Some("request_too_large")));
    let missing = rag.client.get(format!("{}/v2/nothing", rag.url)).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn capacity_answers_507_and_writes_nothing() {
    let rag = TestRag::start("max_documents = 3").await;
    let (status, _) = rag.index(json!([{"id": "1", "text": "one"}, {"id": "2", "text": "two"}])).await;
    assert_eq!(status, 200);
    let (status, error) =
        rag.index(json!([{"id": "3", "text": "three zebra"}, {"id": "4", "text": "four zebra"}])).await;
    assert_eq!((status, error["error"]["type"].as_str()), (507, Some("capacity_exceeded")));
    assert!(error["error"]["message"].as_str().unwrap().contains("3 documents"), "{error}");
    assert_eq!(rag.get("/v1/collections").await["collections"][0]["documents"], 2, "nothing half-written");
    assert!(rag.query("zebra", 5).await.iter().all(|h| h["id"] != "3" && h["id"] != "4"));
    // Replacing within capacity still works.
    assert_eq!(rag.index(json!([{"id": "2", "text": "deux"}, {"id": "3", "text": "trois"}])).await.0, 200);

    let bytes = TestRag::start("max_bytes = 20").await;
    assert_eq!(bytes.index(json!([{"id": "big", "text": "x".repeat(21)}])).await.0, 507);
}

#[tokio::test]
async fn backend_fault_kinds_have_their_own_error_types() {
    let rag = TestRag::start("").await;
    rag.add_rule(json!({"name": "vs-timeout", "first": 1, "match": {"path": "/v1/query"}, "latency": {"kind": "fixed", "ms": 50}, "error": {"status": 504}})).await;
    let (status, body) = rag.post("/v1/query", json!({"query": "x"})).await;
    assert_eq!((status, body["error"]["type"].as_str()), (504, Some("vector_store_timeout")));
    rag.add_rule(
        json!({"name": "db", "first": 1, "match": {"path": "/v1/index"}, "error": {"status": 500, "code": "db_error"}}),
    )
    .await;
    let (status, body) = rag.index(json!([{"id": "x", "text": "y"}])).await;
    assert_eq!((status, body["error"]["type"].as_str()), (500, Some("db_error")));
    let journal = rag.get("/__admin/journal?limit=2").await;
    let kinds: Vec<&str> =
        journal["entries"].as_array().unwrap().iter().map(|e| e["error_code"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["vector_store_timeout", "db_error"]);
    assert!(journal["entries"].as_array().unwrap().iter().all(|e| e["injected"] == true));
}

#[tokio::test]
async fn index_latency_grows_with_concurrent_writers() {
    let rag = TestRag::start("").await;
    rag.add_rule(json!({"name": "lock", "match": {"method": "POST", "path": "/v1/index"}, "latency": {"kind": "contention", "base_ms": 10, "per_concurrent_ms": 100}})).await;
    let (status, _) = rag.index(json!([{"id": "solo", "text": "alone"}])).await;
    assert_eq!(status, 200);
    let writers = (0..5).map(|i| rag.index(json!([{"id": format!("w{i}"), "text": "together"}])));
    assert!(futures::future::join_all(writers).await.iter().all(|(s, _)| *s == 200));
    let journal = rag.get("/__admin/journal?limit=6").await;
    let latencies: Vec<f64> =
        journal["entries"].as_array().unwrap().iter().map(|e| e["latency_ms"].as_f64().unwrap()).collect();
    let solo = latencies[0];
    let worst = latencies[1..].iter().copied().fold(0.0, f64::max);
    assert!(solo >= 10.0, "solo {solo}");
    assert!(worst >= 410.0, "the fifth concurrent writer waits for four others: {latencies:?}");
}

#[tokio::test]
async fn queries_never_see_a_half_indexed_document() {
    let rag = TestRag::start("chunk_words = 4\nchunk_overlap = 0").await;
    let version = |v: &str| {
        let text = format!("{v} alpha beta gamma {v} delta epsilon zeta {v} eta theta iota");
        json!([{"id": "doc", "text": text, "metadata": {"version": v}}])
    };
    rag.index(version("one")).await;
    let writer = {
        let (client, url) = (rag.client.clone(), rag.url.clone());
        tokio::spawn(async move {
            for i in 0..150 {
                let v = if i % 2 == 0 { "two" } else { "one" };
                let text = format!("{v} alpha beta gamma {v} delta epsilon zeta {v} eta theta iota");
                let body = json!({"documents": [{"id": "doc", "text": text, "metadata": {"version": v}}]});
                assert_eq!(
                    client.post(format!("{url}/v1/index")).json(&body).send().await.unwrap().status().as_u16(),
                    200
                );
            }
        })
    };
    let mut checked = 0;
    while !writer.is_finished() && checked < 500 {
        let (status, body) =
            rag.post("/v1/query", json!({"query": "alpha delta eta", "top_k": 50, "filter": {}})).await;
        assert_eq!(status, 200);
        let hits: Vec<&Value> = body["results"].as_array().unwrap().iter().filter(|h| h["id"] == "doc").collect();
        assert_eq!(hits.len(), 3, "every chunk of the document, never part of it: {body}");
        let versions: std::collections::HashSet<&str> =
            hits.iter().map(|h| h["metadata"]["version"].as_str().unwrap()).collect();
        assert_eq!(versions.len(), 1, "one version at a time: {body}");
        let version = *versions.iter().next().unwrap();
        assert!(
            hits.iter()
                .all(|h| h["text"].as_str().unwrap().starts_with(version)
                    || h["text"].as_str().unwrap().contains(version))
        );
        checked += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    writer.await.unwrap();
    assert!(checked > 5, "queries ran during the writes");
}

#[tokio::test]
async fn corpus_files_and_bad_corpora() {
    let dir = std::env::temp_dir().join(format!("rag-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docs.jsonl"),
        "{\"id\":\"j1\",\"text\":\"jsonl corpus entry\"}\n{\"id\":\"j2\",\"text\":\"second\",\"metadata\":{\"k\":1}}\n",
    )
    .unwrap();
    let rag = TestRag::start(&format!("seed_corpus = \"{}\"", dir.join("docs.jsonl").display())).await;
    assert_eq!(rag.get("/v1/collections").await["collections"][0]["documents"], 2);
    std::fs::write(dir.join("bad.jsonl"), "{\"id\":\"ok\",\"text\":\"fine\"}\n{\"id\": 3}\n").unwrap();
    let config =
        MocksConfig::from_toml(&format!("[rag]\nseed_corpus = \"{}\"\n", dir.join("bad.jsonl").display()), "t")
            .unwrap();
    let error =
        Stack::start(&config, &[(ServiceKind::Rag, "127.0.0.1:0".parse().unwrap())]).await.err().expect("refused");
    assert!(error.to_string().contains("bad.jsonl:2:"), "{error}");
    let missing = MocksConfig::from_toml("[rag]\nseed_corpus = \"/no/such/dir\"\n", "c.toml").unwrap_err();
    assert!(missing.to_string().contains("c.toml:2: rag.seed_corpus"), "{missing}");
}

#[tokio::test]
async fn a_seed_corpus_directory_reads_only_files_inside_it() {
    let base = std::env::temp_dir().join(format!("rag-symlink-{}", std::process::id()));
    let (dir, outside) = (base.join("corpus"), base.join("outside"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(dir.join("inside.md"), "a document inside the corpus").unwrap();
    std::fs::write(outside.join("secret.md"), "a secret outside the corpus").unwrap();
    let _ = std::fs::remove_file(dir.join("leak.md"));
    std::os::unix::fs::symlink(outside.join("secret.md"), dir.join("leak.md")).unwrap();
    let rag = TestRag::start(&format!("seed_corpus = \"{}\"", dir.display())).await;
    assert_eq!(rag.get("/v1/collections").await["collections"][0]["documents"], 1, "the symlink out was skipped");
    let hits = rag.query("secret outside", 5).await;
    assert!(hits.iter().all(|h| !h.to_string().contains("secret")), "{hits:?}");
}

#[tokio::test]
async fn a_document_sharing_a_query_word_always_outranks_unrelated_ones_and_scores_stay_in_0_1() {
    let rag = TestRag::start("dimensions = 16").await;
    // 16 buckets: the 300 unrelated words collide with the query's in the hashed vectors.
    let words: Vec<String> = (0..300).map(|i| format!("w{i}x")).collect();
    let unrelated: Vec<Value> =
        words.chunks(5).enumerate().map(|(i, w)| json!({"id": format!("u{i}"), "text": w.join(" ")})).collect();
    let (status, body) = rag.index(Value::Array(unrelated)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = rag.index(json!([{"id": "related", "text": "the gateway answered slowly"}])).await;
    assert_eq!(status, 200);
    let results = rag.query("gateway health", 10).await;
    assert_eq!(results[0]["id"], "related", "{results:?}");
    for r in &results {
        let score = r["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{r}");
    }
    assert!(results[0]["score"].as_f64() > results[1]["score"].as_f64(), "ranked by score: {results:?}");
}

#[tokio::test]
async fn unknown_fields_and_repeated_ids_in_a_batch_are_refused() {
    let rag = TestRag::start("").await;
    let (status, body) = rag.post("/v1/query", json!({"query": "x", "topk": 3})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("'topk'"), "{body}");
    let (status, body) = rag.post("/v1/index", json!({"documents": [{"id": "a", "text": "t", "meta": {}}]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("'meta'"), "{body}");
    let (status, body) = rag.index(json!([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("repeats documents[0].id"), "{body}");
    assert_eq!(rag.get("/v1/collections").await["collections"][0]["documents"], 0, "nothing was indexed");
}
