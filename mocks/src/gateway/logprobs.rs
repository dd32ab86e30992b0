//! `logprobs` / `top_logprobs` on chat answers: per output token its text, a log probability, its
//! UTF-8 bytes and the `top_logprobs` most likely tokens at that place (the chosen one first),
//! all drawn from the request's fingerprint, so the same request gets the same figures. The
//! tokens put together spell the answer's content exactly (a word after the first carries its
//! leading space), as OpenAI's do. Legacy text completions (`POST /v1/completions`,
//! `logprobs: N`) carry the same figures in their older shape, [`TextLogprobs`].

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One alternative at a token's place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct TopLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability (<= 0).
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Vec<u8>,
}

/// One output token.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct TokenLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability (<= 0).
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Vec<u8>,
    /// The most likely tokens at this place, most likely first (as many as `top_logprobs`).
    pub top_logprobs: Vec<TopLogprob>,
}

/// A choice's `logprobs`: `content` for the answer's tokens, `refusal` null.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct ChoiceLogprobs {
    /// One entry per output token.
    pub content: Vec<TokenLogprob>,
    /// Always null (the mock never refuses).
    pub refusal: Option<()>,
}

/// Alternatives offered beside the chosen token.
const ALTERNATIVES: &[&str] = &["a", "the", "it", "and", "data", "test", "load", "call", "mock", "run"];

/// The log probabilities of `tokens` (which spell the content when joined), `top` alternatives
/// each, drawn from `seed`.
pub(super) fn for_tokens<'a>(tokens: impl Iterator<Item = &'a str>, seed: u64, top: u8) -> ChoiceLogprobs {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x1096_9b0b);
    let content = tokens
        .map(|token| {
            // The chosen token is the most likely: between e^-1.5 and 1.
            let logprob = -rng.random_range(0.0..1.5f64);
            let leading = if token.starts_with(' ') { " " } else { "" };
            let mut alternatives =
                vec![TopLogprob { token: token.to_owned(), logprob, bytes: token.as_bytes().to_vec() }];
            let mut next = logprob;
            for word in
                ALTERNATIVES.iter().filter(|w| w.trim() != token.trim()).take(usize::from(top).saturating_sub(1))
            {
                next -= rng.random_range(0.5..3.0f64);
                let text = format!("{leading}{word}");
                alternatives.push(TopLogprob { bytes: text.as_bytes().to_vec(), token: text, logprob: next });
            }
            alternatives.truncate(usize::from(top));
            TokenLogprob {
                token: token.to_owned(),
                logprob,
                bytes: token.as_bytes().to_vec(),
                top_logprobs: alternatives,
            }
        })
        .collect();
    ChoiceLogprobs { content, refusal: None }
}

/// The tokens of generated words: each after the first with its leading space.
pub(super) fn word_tokens<'a>(words: &'a [&'static str]) -> impl Iterator<Item = String> + 'a {
    words.iter().enumerate().map(|(i, w)| if i == 0 { (*w).to_owned() } else { format!(" {w}") })
}

/// A legacy text completion choice's `logprobs`: parallel arrays, one entry per token, and each
/// token's offset in the choice's text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct TextLogprobs {
    /// The tokens, which spell the text.
    pub tokens: Vec<String>,
    /// Each token's log probability.
    pub token_logprobs: Vec<f64>,
    /// Each place's `logprobs` most likely tokens and their log probabilities.
    pub top_logprobs: Vec<BTreeMap<String, f64>>,
    /// Each token's character offset in the choice's text.
    pub text_offset: Vec<u64>,
}

impl TextLogprobs {
    /// `content` in the legacy shape, its first token at character `offset` of the choice's text.
    pub(super) fn legacy(content: &[TokenLogprob], mut offset: usize) -> Self {
        let mut out = TextLogprobs {
            tokens: Vec::with_capacity(content.len()),
            token_logprobs: Vec::with_capacity(content.len()),
            top_logprobs: Vec::with_capacity(content.len()),
            text_offset: Vec::with_capacity(content.len()),
        };
        for token in content {
            out.tokens.push(token.token.clone());
            out.token_logprobs.push(token.logprob);
            out.top_logprobs.push(token.top_logprobs.iter().map(|t| (t.token.clone(), t.logprob)).collect());
            out.text_offset.push(offset as u64);
            offset += token.token.chars().count();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_spell_the_content_and_the_chosen_token_leads_its_alternatives() {
        let words = ["the", "mock", "runs"];
        let tokens: Vec<String> = word_tokens(&words).collect();
        let logprobs = for_tokens(tokens.iter().map(String::as_str), 7, 3);
        let spelled: String = logprobs.content.iter().map(|t| t.token.as_str()).collect();
        assert_eq!(spelled, "the mock runs");
        for t in &logprobs.content {
            assert!(t.logprob <= 0.0 && t.bytes == t.token.as_bytes());
            assert_eq!(t.top_logprobs.len(), 3);
            assert_eq!(t.top_logprobs[0].token, t.token);
            assert!(t.top_logprobs.windows(2).all(|w| w[0].logprob >= w[1].logprob), "most likely first");
        }
        assert_eq!(for_tokens(tokens.iter().map(String::as_str), 7, 3), logprobs, "deterministic");
        assert!(for_tokens(tokens.iter().map(String::as_str), 7, 0).content.iter().all(|t| t.top_logprobs.is_empty()));
    }

    #[test]
    fn the_legacy_shape_keeps_the_figures_and_counts_offsets_in_characters() {
        let tokens = ["héllo", " mock", " runs"];
        let content = for_tokens(tokens.into_iter(), 3, 2).content;
        let legacy = TextLogprobs::legacy(&content, 4);
        assert_eq!(legacy.tokens.concat(), "héllo mock runs");
        assert_eq!(legacy.text_offset, [4, 9, 14]);
        assert_eq!(legacy.token_logprobs, content.iter().map(|t| t.logprob).collect::<Vec<_>>());
        for (place, token) in legacy.top_logprobs.iter().zip(&content) {
            assert_eq!(place.len(), 2);
            assert_eq!(place.get(&token.token), Some(&token.logprob), "the chosen token is among the most likely");
        }
    }
}
