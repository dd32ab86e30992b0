//! The body of a non-streamed chat completion, written straight into bytes.
//!
//! The shape never changes and almost every string in it is fixed or generated from a vocabulary
//! that needs no escaping, yet serde_json escapes every key and value it writes: that scan was the
//! largest single cost of a chat answer. This writer copies the fixed parts as they are, escapes
//! only the one string a client chose (the model name, through serde_json), and yields exactly
//! the bytes serde_json makes of [`super::ChatCompletion`] (a property test compares them).

use super::Usage;
use crate::gateway::text::CompletionText;

/// What a completion body says besides its choices.
pub(crate) struct CompletionHead<'a> {
    /// The number that names the completion (`chatcmpl-` and 16 hex digits; see `Gateway::unique_id`).
    pub fingerprint: u64,
    /// Unix seconds.
    pub created: u64,
    /// The model name answered.
    pub model: &'a str,
    /// Token usage.
    pub usage: Usage,
}

/// The completion as JSON bytes, one choice per text, in OpenAI's field order.
pub(crate) fn completion_json(head: &CompletionHead<'_>, texts: Vec<CompletionText>) -> Vec<u8> {
    // The fixed fields take ~300 bytes; each choice ~100 plus up to 5 bytes a word.
    let mut out = Vec::with_capacity(300 + texts.iter().map(|t| 100 + 5 * t.len()).sum::<usize>() + head.model.len());
    out.extend_from_slice(b"{\"id\":\"chatcmpl-");
    out.extend_from_slice(&crate::gateway::hex16(head.fingerprint));
    out.extend_from_slice(b"\",\"object\":\"chat.completion\",\"created\":");
    push_number(&mut out, head.created);
    out.extend_from_slice(b",\"model\":");
    push_str(&mut out, head.model);
    out.extend_from_slice(b",\"choices\":[");
    for (index, text) in texts.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"index\":");
        push_number(&mut out, index as u64);
        out.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"content\":\"");
        let finish_reason: &[u8] = if text.cut() { b"length" } else { b"stop" };
        for (i, word) in text.words().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            // Vocabulary words are lowercase ASCII letters (see `text`): nothing to escape.
            out.extend_from_slice(word.as_bytes());
        }
        out.extend_from_slice(b"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(finish_reason);
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"usage\":{\"prompt_tokens\":");
    push_number(&mut out, head.usage.prompt_tokens);
    out.extend_from_slice(b",\"completion_tokens\":");
    push_number(&mut out, head.usage.completion_tokens);
    out.extend_from_slice(b",\"total_tokens\":");
    push_number(&mut out, head.usage.total_tokens);
    out.extend_from_slice(b"},\"system_fingerprint\":\"fp_mock\"}");
    out
}

fn push_number(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A JSON string, escaped as serde_json escapes it.
fn push_str(out: &mut Vec<u8>, value: &str) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        // Writing into a Vec cannot fail; keep the document valid regardless.
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{ChatCompletion, Choice, Message};
    use super::*;

    /// The same completion through serde_json and the wire structs.
    fn reference(head: &CompletionHead<'_>, seeds: &[u64], max_tokens: Option<u64>) -> Vec<u8> {
        let texts: Vec<(String, bool)> = seeds
            .iter()
            .map(|seed| {
                let text = CompletionText::new(*seed, max_tokens, Default::default());
                let cut = text.cut();
                (text.words().collect::<Vec<_>>().join(" "), cut)
            })
            .collect();
        let id = format!("chatcmpl-{:016x}", head.fingerprint);
        let completion = ChatCompletion {
            id: &id,
            object: "chat.completion",
            created: head.created,
            model: head.model,
            choices: texts
                .iter()
                .enumerate()
                .map(|(index, (content, cut))| Choice {
                    index: index as u64,
                    message: Message { role: "assistant", content: Some(content), refusal: None, tool_calls: None },
                    logprobs: None,
                    finish_reason: if *cut { "length" } else { "stop" },
                })
                .collect(),
            usage: head.usage,
            system_fingerprint: "fp_mock",
        };
        serde_json::to_vec(&completion).unwrap()
    }

    proptest! {
        #[test]
        fn the_written_body_is_byte_for_byte_what_serde_json_makes(
            fingerprint in any::<u64>(),
            created in any::<u64>(),
            model in any::<String>(),
            seeds in proptest::collection::vec(any::<u64>(), 1..=8),
            max_tokens in proptest::option::of(1u64..60),
            prompt_tokens in 0u64..100_000,
        ) {
            let usage = Usage::new(prompt_tokens, seeds.len() as u64);
            let head = CompletionHead { fingerprint, created, model: &model, usage };
            let texts = seeds.iter().map(|seed| CompletionText::new(*seed, max_tokens, Default::default())).collect();
            let written = completion_json(&head, texts);
            prop_assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(reference(&head, &seeds, max_tokens)).unwrap());
        }
    }

    #[test]
    fn a_model_name_that_needs_escaping_stays_valid_json() {
        let head = CompletionHead { fingerprint: 1, created: 2, model: "a\"b\\c\u{1}é", usage: Usage::new(1, 2) };
        let body: serde_json::Value =
            serde_json::from_slice(&completion_json(&head, vec![CompletionText::new(3, None, Default::default())]))
                .unwrap();
        assert_eq!(body["model"], "a\"b\\c\u{1}é");
        assert_eq!(body["id"], "chatcmpl-0000000000000001");
    }
}
