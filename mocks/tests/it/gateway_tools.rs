//! Tool calls and structured outputs over real HTTP: the model's tool policy (probability, rounds,
//! parallel calls) as configured, deterministic answers, streamed tool-call deltas that add up to
//! the whole answer, and the policy's own validation. The official SDK's view is in
//! `openai_python.rs`.

use crate::common::TestGateway;
use serde_json::{Value, json};

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string", "maxLength": 12}, "depth": {"type": "integer", "minimum": 0, "maximum": 3}},
        "required": ["path", "depth"]
    }}})
}

fn ask(model: &str, user: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": user}],
        "tools": [tool("read_file"), tool("list_dir"), tool("git_status")]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

fn calls(answer: &Value) -> Vec<(String, Value)> {
    answer["choices"][0]["message"]["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    let arguments: Value = serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap();
                    (c["function"]["name"].as_str().unwrap().to_owned(), arguments)
                })
                .collect()
        })
        .unwrap_or_default()
}

const MODELS: &str = r#"
[[gateway.models]]
id = "caller"
kind = "chat"
tools = { call_probability = 1.0, max_rounds = 2, parallel_calls = 3 }

[[gateway.models]]
id = "talker"
kind = "chat"
tools = { call_probability = 0.0 }

[[gateway.models]]
id = "sometimes"
kind = "chat"
tools = { call_probability = 0.5 }

[[gateway.models]]
id = "sloppy"
kind = "chat"
tools = { invalid_arguments = 1.0 }

[[gateway.models]]
id = "lost"
kind = "chat"
tools = { unknown_tool = 1.0 }

[[gateway.models]]
id = "wrong-values"
kind = "chat"
tools = { invalid_values = 1.0 }

[[gateway.models]]
id = "git-fan"
kind = "chat"
tools = { parallel_calls = 3, tool_weights = [{ pattern = "git_*", weight = 1 }, { pattern = "*", weight = 0 }] }

[[gateway.models]]
id = "shy"
kind = "chat"
tools = { tool_weights = [{ pattern = "*", weight = 0 }] }
"#;

#[tokio::test]
async fn the_tool_policy_decides_calls_rounds_and_parallelism() {
    let gw = TestGateway::with_toml(MODELS).await;
    let (status, answer) = gw.chat(ask("caller", "look around", json!({}))).await;
    assert_eq!(status, 200, "{answer}");
    let first = calls(&answer);
    assert!((1..=3).contains(&first.len()), "{answer}");
    let names: std::collections::BTreeSet<&String> = first.iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), first.len(), "parallel calls name distinct tools: {answer}");
    for (_, arguments) in &first {
        let path = arguments["path"].as_str().unwrap();
        let depth = arguments["depth"].as_i64().unwrap();
        assert!(path.len() <= 12 && (0..=3).contains(&depth), "{arguments}");
    }
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(answer["choices"][0]["message"]["content"], Value::Null);
    assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let (_, again) = gw.chat(ask("caller", "look around", json!({}))).await;
    assert_eq!(again["choices"], answer["choices"], "the same request gets the same calls");
    let (_, single) = gw.chat(ask("caller", "look around", json!({"parallel_tool_calls": false}))).await;
    assert_eq!(calls(&single).len(), 1, "parallel_tool_calls: false means one call: {single}");

    // The loop: max_rounds = 2 calls again after one round of results, then answers in words.
    let mut messages = vec![json!({"role": "user", "content": "look around"})];
    let mut rounds = 0;
    loop {
        let mut body = ask("caller", "", json!({}));
        body["messages"] = Value::Array(messages.clone());
        let (status, answer) = gw.chat(body).await;
        assert_eq!(status, 200, "{answer}");
        let message = answer["choices"][0]["message"].clone();
        let Some(tool_calls) = message["tool_calls"].as_array().cloned() else {
            assert!(message["content"].as_str().is_some_and(|c| !c.is_empty()), "{answer}");
            break;
        };
        rounds += 1;
        assert!(rounds <= 2, "the model stops calling after max_rounds: {answer}");
        messages.push(message);
        for call in tool_calls {
            messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "ok"}));
        }
    }
    assert_eq!(rounds, 2);

    let (_, words) = gw.chat(ask("talker", "look around", json!({}))).await;
    assert!(calls(&words).is_empty() && words["choices"][0]["finish_reason"] == "stop", "{words}");
    let (_, forced) = gw.chat(ask("talker", "look around", json!({"tool_choice": "required"}))).await;
    assert_eq!(calls(&forced).len(), 1, "required overrides the probability: {forced}");

    // 0.5: over 40 different prompts both kinds of answer occur, and each is stable.
    let mut called = 0;
    for i in 0..40 {
        let (_, answer) = gw.chat(ask("sometimes", &format!("prompt {i}"), json!({}))).await;
        called += usize::from(!calls(&answer).is_empty());
    }
    assert!((8..=32).contains(&called), "about half call tools: {called} of 40");
}

#[tokio::test]
async fn agent_faults_break_arguments_or_name_an_undeclared_tool() {
    let gw = TestGateway::with_toml(MODELS).await;
    let (status, sloppy) = gw.chat(ask("sloppy", "look around", json!({"tool_choice": "required"}))).await;
    assert_eq!(status, 200, "{sloppy}");
    let arguments = sloppy["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
    assert!(serde_json::from_str::<Value>(arguments).is_err(), "cut short: {arguments}");
    let (_, lost) = gw.chat(ask("lost", "look around", json!({"tool_choice": "required"}))).await;
    let name = lost["choices"][0]["message"]["tool_calls"][0]["function"]["name"].as_str().unwrap();
    assert!(name.ends_with("_undeclared"), "{lost}");
    let arguments = lost["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
    assert!(serde_json::from_str::<Value>(arguments).is_ok(), "only the name is wrong: {arguments}");
}

#[tokio::test]
async fn schema_breaking_values_parse_but_leave_out_a_required_property() {
    let gw = TestGateway::with_toml(MODELS).await;
    for i in 0..5 {
        let (status, answer) =
            gw.chat(ask("wrong-values", &format!("look {i}"), json!({"tool_choice": "required"}))).await;
        assert_eq!(status, 200, "{answer}");
        for (_, arguments) in calls(&answer) {
            assert!(arguments.is_object(), "valid JSON: {arguments}");
            assert!(arguments.get("path").is_none(), "the first required property is left out: {arguments}");
        }
    }
}

#[tokio::test]
async fn tool_weights_choose_which_tools_the_model_calls() {
    let gw = TestGateway::with_toml(MODELS).await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..30 {
        let (status, answer) = gw.chat(ask("git-fan", &format!("prompt {i}"), json!({}))).await;
        assert_eq!(status, 200, "{answer}");
        let called = calls(&answer);
        assert_eq!(called.len(), 1, "only one tool has weight, so one call at most: {answer}");
        seen.extend(called.into_iter().map(|(name, _)| name));
    }
    assert_eq!(seen, ["git_status".to_owned()].into(), "weight 0 is never chosen");
    // A model that likes none of the tools answers in words under `auto` and still obeys `required`.
    let (_, words) = gw.chat(ask("shy", "look around", json!({}))).await;
    assert!(calls(&words).is_empty() && words["choices"][0]["finish_reason"] == "stop", "{words}");
    let (_, forced) = gw.chat(ask("shy", "look around", json!({"tool_choice": "required"}))).await;
    assert_eq!(calls(&forced).len(), 1, "{forced}");
    let named =
        gw.chat(ask("shy", "x", json!({"tool_choice": {"type": "function", "function": {"name": "list_dir"}}})));
    assert_eq!(calls(&named.await.1)[0].0, "list_dir", "a named call ignores weights");
}

#[tokio::test]
async fn streamed_tool_calls_add_up_to_the_whole_answer() {
    let gw = TestGateway::with_toml(MODELS).await;
    let body = ask("caller", "stream it", json!({"stream": true, "stream_options": {"include_usage": true}}));
    let text = gw.client.post(format!("{}/v1/chat/completions", gw.url)).json(&body).send().await.unwrap();
    let text = text.text().await.unwrap();
    let mut arguments: std::collections::BTreeMap<u64, String> = Default::default();
    let (mut names, mut finish, mut usage) = (Vec::new(), None, None);
    let frames: Vec<Value> = text
        .split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .filter(|f| *f != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert!(text.trim_end().ends_with("data: [DONE]"));
    for frame in &frames {
        usage = usage.or(frame.get("usage").filter(|u| !u.is_null()).cloned());
        for choice in frame["choices"].as_array().unwrap() {
            finish = choice["finish_reason"].as_str().map(str::to_owned).or(finish);
            for delta in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let index = delta["index"].as_u64().unwrap();
                if let Some(name) = delta["function"]["name"].as_str() {
                    assert!(delta["id"].as_str().unwrap().starts_with("call_"), "{delta}");
                    assert_eq!(delta["function"]["arguments"], "", "the first delta of a call has no arguments");
                    names.push(name.to_owned());
                } else {
                    assert!(delta.get("id").is_none(), "later deltas carry only arguments: {delta}");
                }
                arguments.entry(index).or_default().push_str(delta["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    let mut whole_body = body.clone();
    whole_body.as_object_mut().unwrap().remove("stream");
    whole_body.as_object_mut().unwrap().remove("stream_options");
    let (_, whole) = gw.chat(whole_body).await;
    let expected: Vec<(String, String)> = whole["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["function"]["name"].as_str().unwrap().to_owned(),
                c["function"]["arguments"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let streamed: Vec<(String, String)> = names.into_iter().zip(arguments.into_values()).collect();
    assert_eq!(streamed, expected, "the stream spells out the same calls");
    assert_eq!(usage.unwrap()["completion_tokens"], whole["usage"]["completion_tokens"]);
}

#[tokio::test]
async fn structured_outputs_follow_the_schema_with_refs_and_bounds() {
    let gw = TestGateway::start().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2, "maxItems": 4},
            "status": {"enum": ["open", "closed"]},
            "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "owner": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]}
        },
        "required": ["items", "status", "score", "owner"],
        "additionalProperties": false,
        "$defs": {"item": {"type": "object", "properties": {"id": {"type": "integer", "multipleOf": 5, "minimum": 10, "maximum": 30}, "tree": {"$ref": "#/$defs/item"}}, "required": ["id"]}}
    });
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "report"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "report", "schema": schema, "strict": true}}});
    let (status, answer) = gw.chat(body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let content: Value = serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    let items = content["items"].as_array().unwrap();
    assert!((2..=4).contains(&items.len()), "{content}");
    let id = items[0]["id"].as_i64().unwrap();
    assert!(id % 5 == 0 && (10..=30).contains(&id), "{content}");
    assert!(["open", "closed"].contains(&content["status"].as_str().unwrap()));
    let score = content["score"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0, "{content}");
    assert!(content["owner"].is_null() || content["owner"].as_str().unwrap().contains('@'));
    assert_eq!(gw.chat(body).await.1["choices"], answer["choices"], "deterministic");

    let (status, refused) = gw
        .chat(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "^a$"}}}}}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["param"], "response_format");
    assert!(refused["error"]["message"].as_str().unwrap().contains("'pattern' is not supported"), "{refused}");
}

#[tokio::test]
async fn a_tool_policy_out_of_range_is_refused_with_its_field() {
    let text = "[gateway]\n[[gateway.models]]\nid = \"m\"\nkind = \"chat\"\ntools = { call_probability = 1.5, parallel_calls = 0, invalid_values = -1, tool_weights = [{ pattern = \"*\", weight = -2 }] }\n";
    let problems = mocks::config::MocksConfig::from_toml(text, "bad.toml").unwrap_err().to_string();
    for field in ["tools.call_probability", "tools.parallel_calls", "tools.invalid_values", "tools.tool_weights"] {
        assert!(problems.contains(field), "{field}: {problems}");
    }
}

#[tokio::test]
async fn responses_continue_stored_conversations_only() {
    let gw = TestGateway::start().await;
    let (status, _, first) = gw.post("/v1/responses", &json!({"model": "gpt-4o-mini", "input": "hello"})).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(first["output"][0]["type"], "message");
    let next = json!({"model": "gpt-4o-mini", "input": "and then?", "previous_response_id": first["id"]});
    let (status, _, second) = gw.post("/v1/responses", &next).await;
    assert_eq!(status, 200, "{second}");
    assert!(
        second["usage"]["input_tokens"].as_u64() > first["usage"]["input_tokens"].as_u64(),
        "the stored conversation is part of the prompt: {second}"
    );
    let (_, _, unstored) =
        gw.post("/v1/responses", &json!({"model": "gpt-4o-mini", "input": "secret", "store": false})).await;
    let (status, _, missing) = gw
        .post("/v1/responses", &json!({"model": "gpt-4o-mini", "input": "x", "previous_response_id": unstored["id"]}))
        .await;
    assert_eq!(status, 404, "store: false keeps nothing: {missing}");
    assert_eq!(missing["error"]["code"], "previous_response_not_found");
    let (status, _, bad) = gw
        .post("/v1/responses", &json!({"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "web_search"}]}))
        .await;
    assert_eq!((status, bad["error"]["param"].as_str()), (400, Some("tools[0].type")), "{bad}");
}
