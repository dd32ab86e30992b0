//! The official `openai` Python client against the gateway on a real socket: list models, a
//! completion, a streamed completion, embeddings, and the unknown-model NotFoundError; a tool-calling
//! loop, streamed tool calls, `parse()` with a pydantic model, and the 400s around tools.
//! Needs `pip install -r mocks/tests/python/requirements.txt` (CI's `.ci/run` does it).

#[tokio::test]
async fn official_openai_python_client_works_against_the_gateway() {
    let gw = crate::common::TestGateway::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_client.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe =
        tokio::process::Command::new(&python).args(["-c", "import openai"]).output().await.expect("python3 runs");
    assert!(
        probe.status.success(),
        "the `openai` package is missing: pip install -r mocks/tests/python/requirements.txt ({})",
        String::from_utf8_lossy(&probe.stderr)
    );
    let output = tokio::process::Command::new(&python).arg(script).arg(&gw.url).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("ok unknown model raises NotFoundError"), "{stdout}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    let (_, counters) = gw.get("/__admin/counters").await;
    assert_eq!(counters["events"]["unknown_model"]["qwen2.5-14b-instruct"], 1, "the gateway saw the call");
}

#[tokio::test]
async fn the_official_client_runs_a_tool_loop_and_parses_structured_outputs() {
    let gw = crate::common::TestGateway::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_tools.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = tokio::process::Command::new(&python).arg(script).arg(&gw.url).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("ok parse() returns the model"), "{stdout}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test]
async fn every_answer_conforms_to_openais_published_spec() {
    let gw = crate::common::TestGateway::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openapi_conformance.py");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/specs/openai/openapi.yaml");
    assert!(
        std::path::Path::new(spec).exists(),
        "OpenAI's OpenAPI document is expected at {spec} (../shared beside the checkout)"
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = tokio::process::Command::new(&python).arg(script).arg(&gw.url).arg(spec).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("request fields of the spec are recognised"), "{stdout}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
