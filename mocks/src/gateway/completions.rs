//! `POST /v1/completions`: the legacy text completions API (still what vLLM's serving benchmark
//! and many load tools send). A `prompt` (a string or a list of them) is answered by the same
//! models, policies, rate limits, timing and fault kinds as chat, with `text_completion` objects:
//! whole, or streamed as `text_completion` chunks ending in `[DONE]`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::chat::{ChatRequest, MAX_CHOICES, Prepared, generation_time, prepare};
use super::errors::ApiError;
use super::extract::JsonObject;
use super::fields::{choice_count, model_field, positive_int, reject_unknown_fields, stream_fields};
use super::logprobs::{TextLogprobs, TokenLogprob};
use super::stream::{ChoiceStream, Piece, StreamPlan, StreamShape, stream_response};
use super::text::{CompletionText, count_tokens};
use super::wire::{TextChoice, TextCompletion, Usage};
use super::{Gateway, unix_now};
use crate::faults::StreamFault;

/// The request fields of the spec's `CreateCompletionRequest` (the conformance test checks this
/// list against the published spec).
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "best_of",
    "echo",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "suffix",
    "temperature",
    "top_p",
    "user",
];

/// A validated legacy completion request: the chat request it is answered as, `echo`, and
/// `logprobs` (how many most likely tokens per place).
struct TextRequest {
    chat: ChatRequest,
    echo: Option<String>,
    logprobs: Option<u8>,
}

fn prompts(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let wrong = || {
        ApiError::wrong_type("prompt", "a string or an array of strings", body.get("prompt").unwrap_or(&Value::Null))
    };
    match body.get("prompt") {
        None | Some(Value::Null) => Err(ApiError::missing("prompt")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map(str::to_owned).ok_or_else(wrong)).collect()
        }
        Some(_) => Err(wrong()),
    }
}

fn parse(body: &Map<String, Value>, seed: u64) -> Result<TextRequest, ApiError> {
    reject_unknown_fields(body, KNOWN_FIELDS)?;
    let model = model_field(body)?;
    let prompts = prompts(body)?;
    let (stream, include_usage) = stream_fields(body)?;
    // The spec's default is 16 tokens.
    let max_tokens = positive_int(body, "max_tokens")?.unwrap_or(16);
    let n = choice_count(body, MAX_CHOICES)?;
    let echo = match body.get("echo") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(prompts.join("")),
        Some(other) => return Err(ApiError::wrong_type("echo", "a boolean", other)),
    };
    super::chat::check_bounds(body)?;
    let logprobs = match body.get("logprobs") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= 5) => n.as_u64().map(|v| v as u8),
        Some(other) => {
            return Err(ApiError::invalid(
                format!("Invalid 'logprobs': expected an integer from 0 to 5, but got {other} instead."),
                Some("logprobs"),
                Some("invalid_value"),
            ));
        }
    };
    let prompt_tokens: u64 = prompts.iter().map(|p| count_tokens(p).max(1)).sum();
    let fingerprint = super::chat::fingerprint(
        seed,
        &model,
        &prompts,
        Some(max_tokens),
        n,
        &body.get("seed"),
        &body.get("temperature"),
    )
    .ok_or_else(|| ApiError::unparseable("the request could not be hashed"))?;
    let chat = ChatRequest {
        model,
        prompt_tokens,
        stream,
        include_usage,
        max_tokens: Some(max_tokens),
        n,
        fingerprint,
        shaping: None,
        logprobs: None,
    };
    Ok(TextRequest { chat, echo, logprobs })
}

/// A choice's tokens with their log probabilities: the echoed prompt as one token (streams send
/// it as one piece), then the generated words, so the tokens spell the choice's text.
fn choice_logprobs(echo: Option<&str>, words: &[&'static str], seed: u64, top: u8) -> Vec<TokenLogprob> {
    let generated = super::logprobs::word_tokens(words);
    let tokens: Vec<String> = echo.map(str::to_owned).into_iter().chain(generated).collect();
    super::logprobs::for_tokens(tokens.iter().map(String::as_str), seed, top).content
}

/// `cmpl-` and 16 hex digits (see `Gateway::unique_id`).
fn completion_id(fingerprint: u64) -> String {
    format!("cmpl-{}", std::str::from_utf8(&super::hex16(fingerprint)).unwrap_or_default())
}

async fn answer(gateway: &Arc<Gateway>, request: &TextRequest, fault: StreamFault) -> Result<Response, ApiError> {
    let chat = &request.chat;
    let Prepared { served, admission, answered_model, ttft, tokens_per_second } = prepare(gateway, chat, &fault)?;
    let words = served.spec.answer_words;
    let texts: Vec<CompletionText> =
        (0..chat.n).map(|i| CompletionText::new(chat.fingerprint.wrapping_add(i), chat.max_tokens, words)).collect();
    let logprobs_of = |index: usize, words: &[&'static str]| {
        let seed = chat.fingerprint.wrapping_add(index as u64);
        request.logprobs.map(|top| choice_logprobs(request.echo.as_deref(), words, seed, top))
    };
    if chat.stream {
        let choices = texts
            .into_iter()
            .enumerate()
            .map(|(index, text)| {
                let (tokens, cut) = (text.len() as u64, text.cut());
                let words: Vec<&'static str> = text.words().collect();
                let logprobs = logprobs_of(index, &words);
                let mut pieces = Piece::words(words);
                if let Some(echo) = &request.echo {
                    pieces.insert(0, Piece::Text(echo.clone().into()));
                }
                ChoiceStream { pieces, finish_reason: if cut { "length" } else { "stop" }, logprobs, tokens }
            })
            .collect::<Vec<_>>();
        let plan = StreamPlan {
            shape: StreamShape::Text,
            id: completion_id(gateway.unique_id(chat.fingerprint)),
            model: answered_model,
            completion_tokens: choices.iter().map(|c| c.tokens).sum(),
            choices,
            include_usage: chat.include_usage,
            prompt_tokens: chat.prompt_tokens,
            first_token_at: tokio::time::Instant::now() + ttft,
            tokens_per_second,
            jitter: gateway.config.stream_jitter,
            fault,
            seed: chat.fingerprint,
            telemetry: gateway.telemetry.clone(),
        };
        let mut response = stream_response(plan, admission.permit);
        admission.headers.write(response.headers_mut());
        return Ok(response);
    }
    let completion_tokens: u64 = texts.iter().map(|t| t.len() as u64).sum();
    super::stream::answer_time(ttft + generation_time(completion_tokens, tokens_per_second)).await;
    drop(admission.permit);
    let bodies: Vec<(String, &'static str, Option<TextLogprobs>)> = texts
        .into_iter()
        .enumerate()
        .map(|(index, text)| {
            let cut = text.cut();
            let words: Vec<&'static str> = text.words().collect();
            let logprobs = logprobs_of(index, &words).map(|content| TextLogprobs::legacy(&content, 0));
            let generated = words.join(" ");
            let finish = if cut { "length" } else { "stop" };
            match &request.echo {
                Some(echo) => (format!("{echo}{generated}"), finish, logprobs),
                None => (generated, finish, logprobs),
            }
        })
        .collect();
    let id = completion_id(gateway.unique_id(chat.fingerprint));
    let completion = TextCompletion {
        id: &id,
        object: "text_completion",
        created: unix_now(),
        model: &answered_model,
        system_fingerprint: "fp_mock",
        choices: bodies
            .iter()
            .enumerate()
            .map(|(index, (text, finish, logprobs))| TextChoice {
                text,
                index: index as u64,
                logprobs: logprobs.as_ref(),
                finish_reason: Some(finish),
            })
            .collect(),
        usage: Some(Usage::new(chat.prompt_tokens, completion_tokens)),
    };
    let body = serde_json::to_vec(&completion).expect("a completion serializes");
    let headers = admission.headers.json_answer(body.len());
    Ok(super::wire::bytes_response(body, headers))
}

/// The handler.
pub(super) async fn completions(
    State(gateway): State<Arc<Gateway>>,
    fault: Option<Extension<StreamFault>>,
    body: Result<JsonObject, ApiError>,
) -> Response {
    let JsonObject(body) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let fault = fault.map(|Extension(f)| f).unwrap_or_default();
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    match parse(&body, gateway.seed) {
        Ok(request) => {
            let response = answer(&gateway, &request, fault).await.unwrap_or_else(IntoResponse::into_response);
            super::note_model(response, Some(request.chat.model))
        }
        Err(error) => super::note_model(error.into_response(), model),
    }
}
