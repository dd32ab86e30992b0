//! `POST /v1/chat/completions`: OpenAI's validation, deterministic completions, simulated timing.
//!
//! The request (one type, one validation seam) is [`request`]'s; the fast path for plain bodies is
//! [`fast`], tied to the general validator by a property test; the spec's option bounds are
//! [`bounds`]. This module admits a request to its model and answers it, whole or streamed.

mod bounds;
mod fast;
mod request;

pub(super) use bounds::check as check_bounds;
use request::completion_id;
pub(super) use request::{ChatRequest, parse};
pub(super) use request::{MAX_CHOICES, fingerprint};

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::extract::JsonBytes;
use super::shaped;
use super::stream::{ChoiceStream, Piece, StreamPlan, stream_response};
use super::text::CompletionText;
use super::tools::Shaping;
use super::wire::completion_json::{CompletionHead, completion_json};
use super::wire::{Usage, bytes_response};
use super::{Gateway, unix_now};
use crate::config::ModelKind;
use crate::faults::StreamFault;
/// The handler: plain requests take the typed parser, everything else the general validator.
pub(super) async fn completions(
    State(gateway): State<Arc<Gateway>>,
    fault: Option<Extension<StreamFault>>,
    body: Result<JsonBytes, ApiError>,
) -> Response {
    let JsonBytes(bytes) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let fault = fault.map(|Extension(f)| f).unwrap_or_default();
    let (model, request) = ChatRequest::read(&bytes, gateway.seed);
    match request {
        Ok(request) => {
            let response = complete(&gateway, &request, fault).await.unwrap_or_else(IntoResponse::into_response);
            super::note_model(response, Some(request.model))
        }
        Err(error) => super::note_model(error.into_response(), model),
    }
}

/// A request admitted to a model: what every answer (chat or Responses) is timed and named by.
pub(super) struct Prepared {
    /// The served model.
    pub served: Arc<super::ServedModel>,
    /// Its concurrency permit and rate-limit headers.
    pub admission: super::ratelimit::Admission,
    /// The model name the answer carries.
    pub answered_model: String,
    /// Time to first token.
    pub ttft: Duration,
    /// Generation speed.
    pub tokens_per_second: f64,
}

/// Resolves the model and checks streaming, output and context limits and the rate limits.
pub(super) fn prepare(
    gateway: &Arc<Gateway>,
    request: &ChatRequest,
    fault: &StreamFault,
) -> Result<Prepared, ApiError> {
    let served = gateway.resolve(&request.model, ModelKind::Chat)?;
    let spec = &served.spec;
    if request.stream && !spec.streaming {
        return Err(ApiError::invalid(
            format!("The model `{}` does not support streaming. Send the request without `stream: true`.", spec.id),
            Some("stream"),
            Some("unsupported_value"),
        ));
    }
    if let Some(max) = request.max_tokens
        && max > spec.max_output_tokens
    {
        return Err(ApiError::invalid(
            format!(
                "max_tokens is too large: {max}. This model supports at most {} completion tokens, whereas you provided {max}.",
                spec.max_output_tokens
            ),
            Some("max_tokens"),
            Some("invalid_value"),
        ));
    }
    let prompt_tokens = request.prompt_tokens;
    let requested = request.max_tokens.unwrap_or(0);
    if prompt_tokens + requested > spec.context_window {
        return Err(ApiError::invalid(
            format!(
                "This model's maximum context length is {} tokens. However, your messages resulted in {} tokens ({prompt_tokens} in the messages, {requested} in the completion). Please reduce the length of the messages or completion.",
                spec.context_window,
                prompt_tokens + requested
            ),
            Some("messages"),
            Some("context_length_exceeded"),
        ));
    }
    let admission = served.limiter.admit(&spec.id, prompt_tokens + requested)?;
    // Answered under the name asked for: the id, an alias, or a name the unknown-model policy mapped.
    let answered_model = request.model.clone();
    let ttft = Duration::from_millis(fault.ttft_ms.unwrap_or(spec.ttft_ms));
    let tokens_per_second = fault.tokens_per_second.unwrap_or(spec.tokens_per_second);
    Ok(Prepared { served, admission, answered_model, ttft, tokens_per_second })
}

async fn complete(gateway: &Arc<Gateway>, request: &ChatRequest, fault: StreamFault) -> Result<Response, ApiError> {
    let Prepared { served, admission, answered_model, ttft, tokens_per_second } = prepare(gateway, request, &fault)?;
    let spec = &served.spec;
    let answered_model = answered_model.as_str();
    let prompt_tokens = request.prompt_tokens;
    // Tools, formats, log probabilities or several streamed choices: the answers are drawn whole
    // and written through the wire structs (plain words draw the same words as the paths below).
    if request.shaping.is_some() || request.logprobs.is_some() || (request.stream && request.n > 1) {
        let plain = Shaping::words();
        let shaping = request.shaping.as_deref().unwrap_or(&plain);
        let answers = (0..request.n)
            .map(|index| shaped::answer(shaping, spec, request.fingerprint.wrapping_add(index), request.max_tokens))
            .collect::<Result<Vec<_>, _>>()?;
        shaped::count_calls(&gateway.telemetry, &answers);
        if request.stream {
            let choices = choice_streams(request, &answers);
            return Ok(stream(gateway, request, answered_model, choices, (ttft, tokens_per_second), fault, admission));
        }
        let completion_tokens = answers.iter().map(|a| a.tokens).sum::<u64>();
        super::stream::answer_time(ttft + generation_time(completion_tokens, tokens_per_second)).await;
        drop(admission.permit);
        let id = completion_id(gateway.unique_id(request.fingerprint));
        let logprobs = request.logprobs.map(|top| (request.fingerprint, top));
        let body = shaped::completion_body(&id, unix_now(), answered_model, prompt_tokens, &answers, logprobs);
        let headers = admission.headers.json_answer(body.len());
        return Ok(bytes_response(body, headers));
    }
    if request.stream {
        let (words, cut) = super::text::completion_words(request.fingerprint, request.max_tokens, spec.answer_words);
        let tokens = words.len() as u64;
        let choice = ChoiceStream {
            pieces: Piece::words(words),
            finish_reason: if cut { "length" } else { "stop" },
            logprobs: None,
            tokens,
        };
        return Ok(stream(gateway, request, answered_model, vec![choice], (ttft, tokens_per_second), fault, admission));
    }
    // Every generated word is one token (see `text`), so the words are the completion tokens.
    let texts: Vec<CompletionText> = (0..request.n)
        .map(|index| {
            CompletionText::new(request.fingerprint.wrapping_add(index), request.max_tokens, spec.answer_words)
        })
        .collect();
    let completion_tokens = texts.iter().map(|t| t.len() as u64).sum::<u64>();
    super::stream::answer_time(ttft + generation_time(completion_tokens, tokens_per_second)).await;
    drop(admission.permit);
    let head = CompletionHead {
        fingerprint: gateway.unique_id(request.fingerprint),
        created: unix_now(),
        model: answered_model,
        usage: Usage::new(prompt_tokens, completion_tokens),
    };
    let body = completion_json(&head, texts);
    let headers = admission.headers.json_answer(body.len());
    Ok(bytes_response(body, headers))
}

/// The streams of shaped answers, one per choice, with their log probabilities when asked for.
fn choice_streams(request: &ChatRequest, answers: &[shaped::ChoiceAnswer]) -> Vec<ChoiceStream> {
    answers
        .iter()
        .enumerate()
        .map(|(index, answer)| ChoiceStream {
            pieces: answer.pieces(),
            finish_reason: answer.finish_reason,
            logprobs: request.logprobs.and_then(|top| {
                shaped::content_logprobs(answer, request.fingerprint.wrapping_add(index as u64), top).map(|l| l.content)
            }),
            tokens: answer.tokens,
        })
        .collect()
}

/// Plays a streamed answer: its choices (pieces, finish reason, completion tokens), paced by
/// (time to first token, tokens/s); the admission's permit is held until the stream ends.
fn stream(
    gateway: &Arc<Gateway>,
    request: &ChatRequest,
    model: &str,
    choices: Vec<ChoiceStream>,
    (ttft, tokens_per_second): (Duration, f64),
    fault: StreamFault,
    admission: super::ratelimit::Admission,
) -> Response {
    let plan = StreamPlan {
        shape: super::stream::StreamShape::Chat,
        id: completion_id(gateway.unique_id(request.fingerprint)),
        model: model.to_owned(),
        completion_tokens: choices.iter().map(|c| c.tokens).sum(),
        choices,
        include_usage: request.include_usage,
        prompt_tokens: request.prompt_tokens,
        first_token_at: tokio::time::Instant::now() + ttft,
        tokens_per_second,
        jitter: gateway.config.stream_jitter,
        fault,
        seed: request.fingerprint,
        telemetry: gateway.telemetry.clone(),
    };
    let mut response = stream_response(plan, admission.permit);
    admission.headers.write(response.headers_mut());
    response
}

/// How long generating `tokens` takes at `tokens_per_second` (0: instant).
pub(super) fn generation_time(tokens: u64, tokens_per_second: f64) -> Duration {
    if tokens_per_second > 0.0 { Duration::from_secs_f64(tokens as f64 / tokens_per_second) } else { Duration::ZERO }
}
