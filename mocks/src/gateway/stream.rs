//! Streamed chat completions: Server-Sent Events in OpenAI's chunk format, paced by the model's
//! time to first token and tokens/s, and degradable by stream faults (slower, stalled, cut).

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use rand::rngs::SmallRng as StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::OwnedSemaphorePermit;

use super::logprobs::{ChoiceLogprobs, TextLogprobs, TokenLogprob};
use super::unix_now;
use super::wire::{Chunk, ChunkChoice, Delta, FunctionDelta, TextChoice, TextCompletion, ToolCallDelta, Usage};
use crate::faults::StreamFault;

/// Default pause of a stall when the rule gives no length.
pub(super) const DEFAULT_STALL: Duration = Duration::from_secs(5);

/// The chunks' shape: chat completion chunks, or the legacy text completions'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamShape {
    /// `chat.completion.chunk` with deltas, opened by the role.
    Chat,
    /// `text_completion` chunks with `text` (`POST /v1/completions`), no opening chunk.
    Text,
}

/// Everything needed to play one stream.
pub(super) struct StreamPlan {
    /// The chunks' shape.
    pub shape: StreamShape,
    /// `chatcmpl-...` (`cmpl-...` for text).
    pub id: String,
    /// Model name in every chunk.
    pub model: String,
    /// The choices (`n`), their pieces sent interleaved: one round of pieces per token interval.
    pub choices: Vec<ChoiceStream>,
    /// Completion tokens, for the usage chunk.
    pub completion_tokens: u64,
    /// Send the usage chunk at the end.
    pub include_usage: bool,
    /// For the usage chunk.
    pub prompt_tokens: u64,
    /// When the first token is due: the time to first token after the request was read, so
    /// the server's own time before it first polls the body is inside it, not added to it.
    pub first_token_at: tokio::time::Instant,
    /// Pacing; 0 is instant.
    pub tokens_per_second: f64,
    /// Relative pacing jitter, 0..1.
    pub jitter: f64,
    /// Injected degradation.
    pub fault: StreamFault,
    /// Seed for jitter.
    pub seed: u64,
    /// Where the tokens sent are counted.
    pub telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
}

/// One choice's part of a stream.
pub(super) struct ChoiceStream {
    /// The content, one piece (one token) per chunk.
    pub pieces: Vec<Piece>,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'static str,
    /// With `logprobs`: one entry per text piece, in order (tool-call pieces have none).
    pub logprobs: Option<Vec<super::logprobs::TokenLogprob>>,
    /// Its completion tokens (the usage chunk sums the choices').
    pub tokens: u64,
}

/// One paced piece of a stream: one chunk.
///
/// A stream holds all its pieces from the request on, so they are kept small: at 10,000 streams
/// of 200 words, words that each owned their text were most of the gateway's memory and a cache
/// miss per token (`make bench-streams`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    /// A piece of the message's text.
    Text(Cow<'static, str>),
    /// A generated word, borrowed from the vocabulary; `spaced` when a space separates it from
    /// the word before (written with the chunk, not stored).
    Word {
        /// The word.
        word: &'static str,
        /// Preceded by a space.
        spaced: bool,
    },
    /// A tool call begins: its id and name (its arguments follow).
    CallStart {
        /// Which call of the answer.
        index: u32,
        /// `call_...` and the tool's name.
        call: Box<(String, String)>,
    },
    /// A piece of a call's arguments.
    CallArgs {
        /// Which call of the answer.
        index: u32,
        /// The piece.
        text: Box<str>,
    },
}

impl Piece {
    /// Generated words as text pieces, spaced as the whole text is.
    pub(super) fn words(words: Vec<&'static str>) -> Vec<Piece> {
        words.into_iter().enumerate().map(|(i, word)| Piece::Word { word, spaced: i > 0 }).collect()
    }

    /// A tool call's first piece: its id and name.
    pub(super) fn call_start(index: u32, id: String, name: String) -> Piece {
        Piece::CallStart { index, call: Box::new((id, name)) }
    }

    /// The text this piece adds to the message, if it is text.
    pub(super) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Piece::Text(text) => Some(Cow::Borrowed(text.as_ref())),
            Piece::Word { word, spaced: false } => Some(Cow::Borrowed(word)),
            Piece::Word { word, spaced: true } => Some(Cow::Owned(format!(" {word}"))),
            Piece::CallStart { .. } | Piece::CallArgs { .. } => None,
        }
    }

    /// A text cut into pieces of [`super::text::CHARS_PER_TOKEN`] characters.
    pub(super) fn split(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        chars.chunks(super::text::CHARS_PER_TOKEN).map(|c| c.iter().collect()).collect()
    }

    /// The chunk's delta; `text` is the piece's [`Piece::text`].
    fn delta<'a>(&'a self, text: Option<&'a str>) -> Delta<'a> {
        match self {
            Piece::Text(_) | Piece::Word { .. } => Delta { content: text, ..Delta::default() },
            Piece::CallStart { index, call } => Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: *index,
                    id: Some(call.0.as_str()),
                    kind: Some("function"),
                    function: FunctionDelta { name: Some(call.1.as_str()), arguments: "" },
                }]),
                ..Delta::default()
            },
            Piece::CallArgs { index, text } => Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: *index,
                    id: None,
                    kind: None,
                    function: FunctionDelta { name: None, arguments: text },
                }]),
                ..Delta::default()
            },
        }
    }
}

fn frame(value: &impl serde::Serialize) -> Bytes {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut bytes, value).expect("chunks serialize");
    bytes.extend_from_slice(b"\n\n");
    Bytes::from(bytes)
}

/// A chat stream's chunks around their one choice, serialized once per stream: every chunk of a
/// stream has the same id, model, time and usage field, so only the choice is written per token.
/// Escaping those strings again for every token was the gateway's largest user-space cost at
/// thousands of streams over HTTP/2 (`make bench-streams`); the bytes are exactly
/// `frame(&plan.chunk(created, choice))`'s (a test holds them to it).
struct Envelope {
    created: u64,
    /// `data: {"id":...,"choices":[`.
    head: Vec<u8>,
    /// `]` (`,"usage":null` when asked for) `}` and the blank line.
    tail: Vec<u8>,
}

impl Envelope {
    fn chat(&self, choice: &ChunkChoice<'_>) -> Bytes {
        let mut bytes = Vec::with_capacity(self.head.len() + 96 + self.tail.len());
        bytes.extend_from_slice(&self.head);
        serde_json::to_writer(&mut bytes, choice).expect("chunks serialize");
        bytes.extend_from_slice(&self.tail);
        Bytes::from(bytes)
    }
}

impl StreamPlan {
    /// The stream's envelope at `created`.
    fn envelope(&self, created: u64) -> Envelope {
        let mut empty = self.chunk(created, ChunkChoice::default());
        empty.choices.clear();
        empty.usage = None;
        let whole = frame(&empty);
        // `data: {...,"choices":[]}\n\n`: the head ends at the `[`.
        let head = whole[..whole.len() - "]}\n\n".len()].to_vec();
        let mut tail = b"]".to_vec();
        if self.include_usage {
            tail.extend_from_slice(b",\"usage\":null");
        }
        tail.extend_from_slice(b"}\n\n");
        Envelope { created, head, tail }
    }

    /// The frame of one choice's chunk: `piece` (none: the choice's last chunk, with `finish`),
    /// with its token's log probability and (legacy text) character offset when asked for.
    fn piece_frame(
        &self,
        envelope: &Envelope,
        index: usize,
        piece: Option<&Piece>,
        logprobs: Option<(&TokenLogprob, usize)>,
        finish: Option<&'static str>,
    ) -> Bytes {
        let created = envelope.created;
        let text = piece.and_then(Piece::text);
        match self.shape {
            StreamShape::Chat => {
                let delta = piece.map(|p| p.delta(text.as_deref())).unwrap_or_default();
                let logprobs =
                    logprobs.map(|(token, _)| ChoiceLogprobs { content: vec![token.clone()], refusal: None });
                envelope.chat(&ChunkChoice { index: index as u64, delta, logprobs, finish_reason: finish })
            }
            StreamShape::Text => {
                let text = text.as_deref().unwrap_or_default();
                let logprobs =
                    logprobs.map(|(token, offset)| TextLogprobs::legacy(std::slice::from_ref(token), offset));
                let choice =
                    TextChoice { text, index: index as u64, logprobs: logprobs.as_ref(), finish_reason: finish };
                frame(&self.text_chunk(created, vec![choice], None))
            }
        }
    }

    fn text_chunk<'a>(
        &'a self,
        created: u64,
        choices: Vec<TextChoice<'a>>,
        usage: Option<Usage>,
    ) -> TextCompletion<'a> {
        TextCompletion {
            id: &self.id,
            object: "text_completion",
            created,
            model: &self.model,
            system_fingerprint: "fp_mock",
            choices,
            usage,
        }
    }

    fn chunk<'a>(&'a self, created: u64, choice: ChunkChoice<'a>) -> Chunk<'a> {
        Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created,
            model: &self.model,
            system_fingerprint: "fp_mock",
            choices: vec![choice],
            usage: self.include_usage.then_some(None),
        }
    }

    fn interval(&self, rng: &mut StdRng) -> Duration {
        if self.tokens_per_second <= 0.0 {
            return Duration::ZERO;
        }
        let base = 1.0 / self.tokens_per_second;
        let spread = if self.jitter > 0.0 { rng.random_range(-self.jitter..=self.jitter) } else { 0.0 };
        Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
    }
}

/// Plays `plan` as the response body; `permit` (a concurrency slot) is held until the stream ends.
/// The body is a stream hyper polls itself (no task and channel between the two): each token is
/// due on the stream's timer and written when it is ready, and a client that goes away drops it.
pub(super) fn stream_response(plan: StreamPlan, permit: Option<OwnedSemaphorePermit>) -> Response {
    sse_response(play(plan, permit))
}

/// A `text/event-stream` response whose body is `frames`, polled by the server as it writes.
pub(super) fn sse_response(
    frames: impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> Response {
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The frames of `plan` at their times; a cut fault ends it with an error after a pause that lets
/// the frames already sent reach the client, so the server drops the connection without `[DONE]`.
fn play(
    plan: StreamPlan,
    permit: Option<OwnedSemaphorePermit>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    async_stream::stream! {
        let _permit = permit;
        let created = unix_now();
        let envelope = plan.envelope(created);
        let mut rng = StdRng::seed_from_u64(plan.seed);
        let cut = || std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected stream cut");
        until_due(plan.first_token_at, &plan.telemetry).await;
        // A chat text answer opens with empty content; a tool-call answer with none; legacy text
        // completions have no opening chunk.
        for (index, choice) in plan.choices.iter().enumerate().filter(|_| plan.shape == StreamShape::Chat) {
            let calls = matches!(choice.pieces.first(), Some(Piece::CallStart { .. }));
            let opening =
                Delta { role: Some("assistant"), content: (!calls).then_some(""), refusal: Some(None), tool_calls: None };
            let opening = ChunkChoice { index: index as u64, delta: opening, logprobs: None, finish_reason: None };
            yield Ok(envelope.chat(&opening));
        }
        // Each choice's text pieces and characters so far, to find their log probabilities and offsets.
        let mut texts = vec![(0usize, 0usize); plan.choices.len()];
        let rounds = plan.choices.iter().map(|c| c.pieces.len()).max().unwrap_or(0);
        // Tokens are due on an absolute schedule, so timer rounding and send time never accumulate;
        // with several choices each round sends one piece of each, as if generated side by side.
        let mut due = tokio::time::Instant::now();
        for round in 0..rounds {
            let at = round as u32;
            if plan.fault.cut_after_chunks == Some(at) {
                tokio::time::sleep(CUT_PAUSE).await;
                yield Err(cut());
                return;
            }
            if round > 0 {
                due += plan.interval(&mut rng);
                until_due(due, &plan.telemetry).await;
            }
            if plan.fault.stall_at_chunk == Some(at) {
                tokio::time::sleep(plan.fault.stall_ms.map_or(DEFAULT_STALL, Duration::from_millis)).await;
                due = tokio::time::Instant::now();
            }
            for (index, choice) in plan.choices.iter().enumerate() {
                let Some(piece) = choice.pieces.get(round) else { continue };
                let logprobs = match (piece.text(), &choice.logprobs) {
                    (Some(text), Some(all)) => {
                        let (count, offset) = texts[index];
                        texts[index] = (count + 1, offset + text.chars().count());
                        all.get(count).map(|token| (token, offset))
                    }
                    _ => None,
                };
                yield Ok(plan.piece_frame(&envelope, index, Some(piece), logprobs, None));
                plan.telemetry.count_streamed_tokens(1);
            }
        }
        if plan.fault.cut_after_chunks.is_some_and(|n| n as usize >= rounds) {
            tokio::time::sleep(CUT_PAUSE).await;
            yield Err(cut());
            return;
        }
        for (index, choice) in plan.choices.iter().enumerate() {
            yield Ok(plan.piece_frame(&envelope, index, None, None, Some(choice.finish_reason)));
        }
        if plan.include_usage {
            let usage = Usage::new(plan.prompt_tokens, plan.completion_tokens);
            match plan.shape {
                StreamShape::Chat => {
                    let mut last = plan.chunk(created, ChunkChoice::default());
                    last.choices.clear();
                    last.usage = Some(Some(usage));
                    yield Ok(frame(&last));
                }
                StreamShape::Text => yield Ok(frame(&plan.text_chunk(created, Vec::new(), Some(usage)))),
            }
        }
        yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
    }
}

/// How far past its due time a token may leave before the service counts it as late: the
/// timer's millisecond rounding and a write are well inside it; a busy service is not.
pub(super) const LATE_TOKEN: Duration = Duration::from_millis(5);

/// How much earlier than a token's due time its timer is set. Tokio fires a timer at the first
/// millisecond tick at or after its deadline, and a runtime with nothing to do parks for whole
/// milliseconds counted from the tick it parked in, so a parked runtime wakes a further 0-1 ms
/// after that tick: set at the due time a token left 0.5-1.5 ms late, and set half a tick early
/// still 0.5 ms late on the median (measured at 1,000 streams: p90 1.2 ms late). A full tick
/// early centres it: the timer cannot fire before its deadline, so a token is never more than
/// 1 ms early, and it is late only by the runtime's own delay.
const EARLY: Duration = Duration::from_millis(1);

/// Waits until a token is `due` (within a millisecond either side), then counts it in
/// `late_stream_tokens` when it leaves more than [`LATE_TOKEN`] after that: the service's own
/// scheduling delay, which a client would measure and blame on the model (injected stalls are
/// timed apart, after this).
pub(super) async fn until_due(due: tokio::time::Instant, telemetry: &crate::telemetry::Telemetry) {
    sleep_near(due).await;
    if tokio::time::Instant::now().saturating_duration_since(due) > LATE_TOKEN {
        telemetry.count_late_stream_token();
    }
}

/// Sleeps until `due`, to within a millisecond either side (see [`EARLY`]); returns at once when
/// it is (nearly) past. (A zero `tokio::time::sleep` still waits for the next timer tick, up to 1
/// ms, which would cap an instant model at a few thousand requests/s per connection.)
async fn sleep_near(due: tokio::time::Instant) {
    let wake = due.checked_sub(EARLY).unwrap_or(due);
    if wake > tokio::time::Instant::now() {
        tokio::time::sleep_until(wake).await;
    }
}

/// The model's time for an answer that is not streamed (time to first token plus generation),
/// counted from now and timed as a stream's tokens are, so both kinds of answer take as long.
pub(super) async fn answer_time(duration: Duration) {
    sleep_near(tokio::time::Instant::now() + duration).await;
}

/// How long a cut stream waits after its last frame before failing, so that frame reaches the client.
pub(super) const CUT_PAUSE: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(include_usage: bool) -> StreamPlan {
        StreamPlan {
            shape: StreamShape::Chat,
            id: "chatcmpl-\"quoted\" \u{e9}".into(),
            model: "gpt-4o-mini\\x".into(),
            choices: Vec::new(),
            completion_tokens: 0,
            include_usage,
            prompt_tokens: 0,
            first_token_at: tokio::time::Instant::now(),
            tokens_per_second: 0.0,
            jitter: 0.0,
            fault: StreamFault::default(),
            seed: 1,
            telemetry: std::sync::Arc::new(crate::telemetry::Telemetry::new("gateway", 10)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_and_whole_answers_leave_at_most_a_tick_early_and_never_late_on_a_free_runtime() {
        // The paused clock jumps to each timer's tick, as a free runtime would wake, without the
        // parked phase: the bound that holds on every machine.
        let telemetry = crate::telemetry::Telemetry::new("gateway", 10);
        for offset_us in [0, 1, 300, 999, 1_000, 1_001, 1_500, 50_250] {
            let due = tokio::time::Instant::now() + Duration::from_micros(10_000 + offset_us);
            until_due(due, &telemetry).await;
            let now = tokio::time::Instant::now();
            assert!(now + Duration::from_millis(1) >= due, "{offset_us} us: left {:?} early", due - now);
            assert!(now <= due, "{offset_us} us: left {:?} late", now - due);
        }
        for ms in [1, 2, 250, 10_150] {
            let started = tokio::time::Instant::now();
            answer_time(Duration::from_millis(ms)).await;
            let took = started.elapsed();
            assert!(
                took + Duration::from_millis(1) >= Duration::from_millis(ms) && took <= Duration::from_millis(ms),
                "{ms} ms took {took:?}"
            );
        }
        let started = tokio::time::Instant::now();
        answer_time(Duration::ZERO).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "an instant model does not wait for a tick");
        let overdue = tokio::time::Instant::now() - Duration::from_millis(6);
        until_due(overdue, &telemetry).await;
        assert_eq!(telemetry.counters().late_stream_tokens, 1, "only the token already 6 ms overdue is late");
    }

    #[test]
    fn the_envelope_writes_exactly_the_whole_chunk() {
        let token = TokenLogprob { token: "a".into(), logprob: -0.5, bytes: vec![97], top_logprobs: Vec::new() };
        let pieces = [
            Piece::Text(Cow::Borrowed("tricky \"text\"\n\u{1F600}")),
            Piece::call_start(1, "call_1".into(), "read_file".into()),
            Piece::Word { word: "load", spaced: false },
            Piece::Word { word: "mock", spaced: true },
            Piece::CallArgs { index: 1, text: "{\"path\":".into() },
        ];
        for include_usage in [false, true] {
            let plan = plan(include_usage);
            let envelope = plan.envelope(1_700_000_000);
            let opening = || ChunkChoice {
                index: 0,
                delta: Delta { role: Some("assistant"), content: Some(""), refusal: Some(None), tool_calls: None },
                logprobs: None,
                finish_reason: None,
            };
            assert_eq!(envelope.chat(&opening()), frame(&plan.chunk(1_700_000_000, opening())));
            for piece in &pieces {
                for logprobs in [None, Some((&token, 0))] {
                    let fast = plan.piece_frame(&envelope, 2, Some(piece), logprobs, None);
                    let text = piece.text();
                    let delta = piece.delta(text.as_deref());
                    let logprobs = logprobs.map(|(t, _)| ChoiceLogprobs { content: vec![t.clone()], refusal: None });
                    let whole = ChunkChoice { index: 2, delta, logprobs, finish_reason: None };
                    assert_eq!(fast, frame(&plan.chunk(1_700_000_000, whole)), "{piece:?}");
                }
            }
            let finish = plan.piece_frame(&envelope, 0, None, None, Some("stop"));
            let whole = ChunkChoice { finish_reason: Some("stop"), ..ChunkChoice::default() };
            assert_eq!(finish, frame(&plan.chunk(1_700_000_000, whole)));
        }
    }
}
