//! `logprobs` / `top_logprobs` on chat answers: per output token its text, a log probability, its
//! UTF-8 bytes and the `top_logprobs` most likely tokens at that place (the chosen one first),
//! all drawn from the request's fingerprint, so the same request gets the same figures. The
//! tokens put together spell the answer's content exactly (a word after the first carries its
//! leading space), as OpenAI's do.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One alternative at a token's place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability (<= 0).
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Vec<u8>,
}

/// One output token.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenLogprob {
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
pub struct ChoiceLogprobs {
    /// One entry per output token.
    pub content: Vec<TokenLogprob>,
    /// Always null (the mock never refuses).
    pub refusal: Option<()>,
}

/// Alternatives offered beside the chosen token.
const ALTERNATIVES: &[&str] = &["a", "the", "it", "and", "data", "test", "load", "call", "mock", "run"];

/// The log probabilities of `tokens` (which spell the content when joined), `top` alternatives
/// each, drawn from `seed`.
pub fn for_tokens<'a>(tokens: impl Iterator<Item = &'a str>, seed: u64, top: u8) -> ChoiceLogprobs {
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
pub fn word_tokens<'a>(words: &'a [&'static str]) -> impl Iterator<Item = String> + 'a {
    words.iter().enumerate().map(|(i, w)| if i == 0 { (*w).to_owned() } else { format!(" {w}") })
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
}
