//! The Responses API's event stream: the documented sequence (`response.created`,
//! `response.in_progress`, output items, content parts, text or argument deltas, their `.done`
//! events, `response.completed`), each numbered, the deltas paced by the model and degradable by
//! stream faults like chat's.

use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::super::shaped::ChoiceAnswer;
use super::super::stream::Piece;
use super::render::{Rendered, output_items};
use crate::faults::StreamFault;

/// One stream event before numbering: its payload, and whether it carries a paced piece.
pub(super) struct Event {
    payload: Value,
    paced: bool,
}

/// The event sequence the spec documents, without `sequence_number` (added when sent).
pub(super) fn events(rendered: &Rendered<'_>, answer: &ChoiceAnswer, whole: &Value) -> Vec<Event> {
    let event = |payload: Value| Event { payload, paced: false };
    let mut out = vec![
        event(json!({"type": "response.created", "response": rendered.response(None)})),
        event(json!({"type": "response.in_progress", "response": rendered.response(None)})),
    ];
    let done_items = output_items(answer, rendered.fingerprint, "completed");
    if answer.calls.is_empty() {
        let item = &done_items[0];
        let id = item["id"].clone();
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        added["content"] = json!([]);
        out.push(event(json!({"type": "response.output_item.added", "output_index": 0, "item": added})));
        out.push(event(
            json!({"type": "response.content_part.added", "item_id": id, "output_index": 0, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
        ));
        for piece in answer.pieces() {
            if let Some(text) = piece.text() {
                out.push(Event {
                    payload: json!({"type": "response.output_text.delta", "item_id": id, "output_index": 0,
                        "content_index": 0, "delta": text, "logprobs": []}),
                    paced: true,
                });
            }
        }
        let text = item["content"][0]["text"].clone();
        out.push(event(
            json!({"type": "response.output_text.done", "item_id": id, "output_index": 0, "content_index": 0,
            "text": text, "logprobs": []}),
        ));
        out.push(event(
            json!({"type": "response.content_part.done", "item_id": id, "output_index": 0, "content_index": 0,
            "part": item["content"][0]}),
        ));
        out.push(event(json!({"type": "response.output_item.done", "output_index": 0, "item": item})));
    } else {
        for (index, item) in done_items.iter().enumerate() {
            let id = item["id"].clone();
            let mut added = item.clone();
            added["status"] = json!("in_progress");
            added["arguments"] = json!("");
            out.push(event(json!({"type": "response.output_item.added", "output_index": index, "item": added})));
            for piece in Piece::split(item["arguments"].as_str().unwrap_or_default()) {
                out.push(Event {
                    payload: json!({"type": "response.function_call_arguments.delta", "item_id": id,
                        "output_index": index, "delta": piece}),
                    paced: true,
                });
            }
            out.push(event(
                json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": index,
                "name": item["name"], "arguments": item["arguments"]}),
            ));
            out.push(event(json!({"type": "response.output_item.done", "output_index": index, "item": item})));
        }
    }
    out.push(event(json!({"type": "response.completed", "response": whole})));
    out
}

/// Plays `events` as SSE: the first after the time to first token, each paced one at the model's
/// rate; a stream fault cuts it after so many paced events or stalls it.
pub(super) fn play(
    events: Vec<Event>,
    ttft: Duration,
    tokens_per_second: f64,
    fault: StreamFault,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
) -> Response {
    // Due from now (the request read), not from when the server first polls the body.
    let first_token_at = tokio::time::Instant::now() + ttft;
    let frames = async_stream::stream! {
        let _permit = permit;
        super::super::stream::until_due(first_token_at, &telemetry).await;
        let interval =
            if tokens_per_second > 0.0 { Duration::from_secs_f64(1.0 / tokens_per_second) } else { Duration::ZERO };
        let mut due = tokio::time::Instant::now();
        let mut paced = 0u32;
        for (sequence, mut event) in events.into_iter().enumerate() {
            if event.paced {
                if fault.cut_after_chunks == Some(paced) {
                    tokio::time::sleep(super::super::stream::CUT_PAUSE).await;
                    yield Err(std::io::Error::other("injected stream cut"));
                    return;
                }
                if paced > 0 {
                    due += interval;
                    super::super::stream::until_due(due, &telemetry).await;
                }
                if fault.stall_at_chunk == Some(paced) {
                    tokio::time::sleep(fault.stall_ms.map_or(super::super::stream::DEFAULT_STALL, Duration::from_millis)).await;
                    due = tokio::time::Instant::now();
                }
                paced += 1;
            }
            event.payload["sequence_number"] = json!(sequence);
            let kind = event.payload["type"].as_str().unwrap_or_default().to_owned();
            yield Ok(Bytes::from(format!("event: {kind}\ndata: {}\n\n", event.payload)));
            if event.paced {
                telemetry.count_streamed_tokens(1);
            }
        }
    };
    super::super::stream::sse_response(frames)
}
