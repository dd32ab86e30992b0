//! The common shape of a chat request, parsed straight from the body's bytes into borrowed types.
//!
//! Under load nearly every request is plain: a model, text messages, a few scalar options. Building a
//! `serde_json::Value` tree for it, walking it and dropping it was the largest share of the chat
//! endpoint's own time. This parser accepts only what it can prove valid, and yields exactly what
//! the general validator ([`super::request::parse`]) would; anything else (an unknown or unusual field,
//! a wrong type, an out-of-range value, content parts, a duplicate key) returns `None`, and the
//! general validator explains the problem in OpenAI's words.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Number;

use super::request::{ChatRequest, MAX_CHOICES, ROLES, fingerprint};

/// The fields a plain request may carry. The ignored ones are fields the general validator does
/// not look at either.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainChat<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<PlainMessage<'a>>,
    stream: Option<bool>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    n: Option<u64>,
    temperature: Option<Number>,
    seed: Option<Number>,
    top_p: Option<Number>,
    #[expect(dead_code, reason = "accepted and ignored, as the general validator does")]
    user: Option<IgnoredAny>,
    stop: Option<PlainStop>,
    presence_penalty: Option<Number>,
    frequency_penalty: Option<Number>,
}

/// `stop`: one string or a list (only its length is checked).
#[derive(Deserialize)]
#[serde(untagged)]
enum PlainStop {
    #[expect(dead_code, reason = "only its presence matters")]
    One(String),
    Many(Vec<String>),
}

/// Whether `value` lies within `low..=high`, as the spec's bounds in `chat_bounds` require.
fn within(value: &Option<Number>, low: f64, high: f64) -> bool {
    value.as_ref().is_none_or(|n| n.as_f64().is_some_and(|v| (low..=high).contains(&v)))
}

/// A text message. Field order is the general path's (sorted keys), so both hash the same bytes.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PlainMessage<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(borrow)]
    role: Cow<'a, str>,
}

/// The validated request, or `None` when the body is not plain (see the module docs).
pub(super) fn parse(bytes: &[u8], seed: u64) -> Option<ChatRequest> {
    // One UTF-8 check of the whole body; parsing from `&str` then skips serde_json's check of
    // every string (invalid UTF-8 goes to the general validator, which reports it).
    let body: PlainChat<'_> = serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
    if body.model.trim().is_empty() || body.messages.is_empty() {
        return None;
    }
    // A `tool` message belongs to the tool-call bookkeeping the general validator checks.
    if !body.messages.iter().all(|m| m.role != "tool" && ROLES.contains(&m.role.as_ref())) {
        return None;
    }
    let stream = body.stream.unwrap_or(false);
    let at_least_one = |v: Option<u64>| v.is_none_or(|v| v >= 1);
    if !at_least_one(body.max_completion_tokens) || !at_least_one(body.max_tokens) || !at_least_one(body.n) {
        return None;
    }
    let max_tokens = body.max_completion_tokens.or(body.max_tokens);
    let n = body.n.unwrap_or(1);
    if n > MAX_CHOICES || (stream && n > 1) {
        return None;
    }
    let bounded = within(&body.temperature, 0.0, 2.0)
        && within(&body.top_p, 0.0, 1.0)
        && within(&body.presence_penalty, -2.0, 2.0)
        && within(&body.frequency_penalty, -2.0, 2.0)
        && body.seed.as_ref().is_none_or(|s| s.is_i64())
        && !matches!(&body.stop, Some(PlainStop::Many(stops)) if stops.len() > 4);
    if !bounded {
        return None;
    }
    let prompt_tokens = crate::gateway::text::prompt_tokens(body.messages.iter().map(|m| m.content.as_ref()));
    let fingerprint = fingerprint(seed, &body.model, &body.messages, max_tokens, n, &body.seed, &body.temperature)?;
    Some(ChatRequest {
        model: body.model.into_owned(),
        prompt_tokens,
        stream,
        include_usage: false,
        max_tokens,
        n,
        fingerprint,
        shaping: None,
        logprobs: None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::super::request as chat;
    use super::parse;

    /// What the general validator makes of `body`, parsed from the same bytes the plain parser
    /// sees (serde_json's float parsing does not round-trip every in-memory `f64`).
    fn general(body: &Value) -> Option<chat::ChatRequest> {
        let parsed: Value = serde_json::from_str(&body.to_string()).ok()?;
        chat::parse(parsed.as_object()?, 7).ok()
    }

    #[test]
    fn plain_requests_parse_exactly_as_the_general_validator_does() {
        let bodies = [
            json!({"model": "m", "messages": [{"role": "user", "content": "hi there"}]}),
            json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "caf\u{e9} \"quoted\"\n"}],
                   "max_tokens": 16, "temperature": 0.5, "seed": 3, "n": 2, "top_p": 1, "user": "u1", "stop": ["\n"]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true, "max_completion_tokens": 4,
                   "temperature": 1, "seed": -1, "presence_penalty": 0, "frequency_penalty": null}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": null, "stream": null}),
        ];
        for body in bodies {
            let plain = parse(body.to_string().as_bytes(), 7);
            assert!(plain.is_some(), "{body} is plain");
            assert_eq!(plain, general(&body), "{body}");
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_general_validator() {
        let bodies = [
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi", "name": "bob"}]}),
            json!({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "1"}]}),
            json!({"model": " ", "messages": [{"role": "user", "content": "hi"}]}),
            json!({"model": "m", "messages": []}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 129}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2, "stream": true}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": -3}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1.5}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": []}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "bogus": 1}),
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ];
        for body in bodies {
            assert_eq!(parse(body.to_string().as_bytes(), 7), None, "{body}");
        }
        assert_eq!(parse(br#"{"model":"m","model":"n","messages":[{"role":"user","content":"hi"}]}"#, 7), None);
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-3i64..12).prop_map(Value::from),
            (-1.0f64..3.0).prop_map(Value::from),
            "[a-z ]{0,6}".prop_map(Value::from),
        ]
    }

    proptest! {
        /// Whatever the plain parser accepts, the general validator accepts with the same result.
        #[test]
        fn the_plain_parser_never_disagrees(
            model in prop_oneof![Just(json!("m")), scalar()],
            roles in proptest::collection::vec(prop_oneof![Just("user"), Just("assistant"), Just("tool"), Just("robot")], 0..3),
            content in prop_oneof![Just(json!("some words here")), scalar()],
            fields in proptest::collection::btree_map(
                prop_oneof![Just("stream"), Just("max_tokens"), Just("max_completion_tokens"), Just("n"),
                            Just("temperature"), Just("seed"), Just("top_p"), Just("user"), Just("presence_penalty"),
                            Just("frequency_penalty"), Just("stop")],
                scalar(), 0..4),
        ) {
            let messages: Vec<Value> = roles.iter().map(|r| json!({"role": r, "content": content})).collect();
            let mut body = json!({"model": model, "messages": messages});
            for (k, v) in fields {
                body[k] = v;
            }
            if let Some(plain) = parse(body.to_string().as_bytes(), 7) {
                prop_assert_eq!(Some(plain), general(&body));
            }
        }
    }
}
