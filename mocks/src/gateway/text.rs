//! Deterministic text and token accounting for the mock models.
//!
//! Tokens are counted with one simple rule everywhere (a word of up to 4 characters is one token,
//! longer words one per 4 characters), so `usage` is always consistent with the content, and
//! generated words are all short: one word, one token, one stream chunk.

use rand::rngs::SmallRng as StdRng;
use rand::{Rng, SeedableRng};

use crate::config::AnswerWords;

/// The generated vocabulary: every word is one token.
const VOCAB: &[&str] = &[
    "the", "load", "mock", "test", "each", "user", "sent", "one", "more", "call", "fast", "slow", "data", "node",
    "rag", "tool", "file", "git", "web", "api", "runs", "with", "from", "that", "this", "will", "can", "now", "then",
    "when", "here", "and", "for", "all", "any", "new", "old", "low", "high", "rate", "time", "path", "keep", "send",
    "read", "save", "plan", "step", "done", "ok", "as", "is", "to", "of", "in", "on", "by", "it", "we", "our", "set",
    "get", "put", "map",
];

/// Characters per token of text that is not generated words (JSON arguments and structured
/// outputs): streamed in pieces of this many characters, counted the same way.
pub(super) const CHARS_PER_TOKEN: usize = 4;

/// Tokens of a JSON text (arguments, structured output): one per [`CHARS_PER_TOKEN`] characters.
pub(super) fn json_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(CHARS_PER_TOKEN as u64)
}

/// Tokens in a text under the mock's counting rule.
pub(super) fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().map(|w| (w.chars().count() as u64).div_ceil(4).max(1)).sum()
}

/// Prompt tokens of a chat: 3 priming tokens plus, per message, 4 framing tokens and its content.
pub(super) fn prompt_tokens<'a>(contents: impl Iterator<Item = &'a str>) -> u64 {
    3 + contents.map(|c| 4 + count_tokens(c)).sum::<u64>()
}

/// A deterministic completion for `seed`: as many words as the model's [`AnswerWords`] (12 to 48
/// by default), cut at `max_tokens`. Its length
/// and cut are known before any word is drawn, so answers can be timed (and sized) first and the
/// words written straight into the body afterwards.
#[derive(Debug, Clone)]
pub(super) struct CompletionText {
    rng: StdRng,
    len: usize,
    cut: bool,
}

impl CompletionText {
    /// The completion for `seed`, of a length drawn from `words`, at most `max_tokens` words.
    pub(super) fn new(seed: u64, max_tokens: Option<u64>, words: AnswerWords) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let natural = rng.random_range(words.min as usize..=words.max as usize);
        let limit = max_tokens.map_or(natural, |m| usize::try_from(m).unwrap_or(usize::MAX));
        CompletionText { rng, len: natural.min(limit), cut: limit < natural }
    }

    /// How many words (and so tokens) it has.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether `max_tokens` cut it short (`finish_reason: "length"`).
    pub(super) fn cut(&self) -> bool {
        self.cut
    }

    /// Its words, in order. Every word is lowercase ASCII letters: JSON needs no escaping for it.
    pub(super) fn words(mut self) -> impl Iterator<Item = &'static str> {
        (0..self.len).map(move |_| VOCAB[self.rng.random_range(0..VOCAB.len())])
    }
}

/// The words of [`CompletionText::new`] and whether they were cut.
pub(super) fn completion_words(seed: u64, max_tokens: Option<u64>, words: AnswerWords) -> (Vec<&'static str>, bool) {
    let text = CompletionText::new(seed, max_tokens, words);
    let cut = text.cut();
    (text.words().collect(), cut)
}

/// A deterministic unit-length embedding of `text` with `dimensions` components.
pub(super) fn embedding(seed: u64, text: &str, dimensions: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed ^ common::fnv1a(text.as_bytes()));
    let mut v: Vec<f32> = (0..dimensions).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_words_count_one_token_each() {
        let (words, cut) = completion_words(7, None, AnswerWords::default());
        assert!(!cut);
        assert_eq!(count_tokens(&words.join(" ")), words.len() as u64);
        let (short, cut) = completion_words(7, Some(3), AnswerWords::default());
        assert!(cut);
        assert_eq!(short, words[..3]);
    }

    #[test]
    fn vocabulary_words_are_lowercase_ascii_letters() {
        assert!(VOCAB.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())));
    }

    #[test]
    fn embeddings_are_deterministic_and_normalised() {
        let a = embedding(1, "hello", 64);
        assert_eq!(a, embedding(1, "hello", 64));
        assert_ne!(a, embedding(1, "hellp", 64));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
