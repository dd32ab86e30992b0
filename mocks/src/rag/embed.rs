//! A deterministic local embedding: hashed token features (no model download).
//!
//! Each lower-cased word that is not a stop word adds 1 to one of `dimensions` buckets chosen by
//! its hash; the vector is then normalised, so the dot product of two vectors is their cosine
//! similarity, never negative. Hashed buckets can collide, so the store ranks by shared words
//! first and uses the similarity within them.

use common::fnv1a;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it", "its", "of", "on", "or",
    "that", "the", "then", "this", "to", "was", "what", "when", "which", "with",
];

/// The words of a text that carry meaning, lower-cased.
pub(super) fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
}

/// The unit-length embedding of `text` (all zeros when it has no terms).
pub(super) fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dimensions.max(1)];
    for term in terms(text) {
        let hash = fnv1a(term.as_bytes());
        let bucket = (hash % vector.len() as u64) as usize;
        vector[bucket] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Cosine similarity of two unit vectors.
pub(super) fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Splits a text into chunks of `words` words overlapping by `overlap` words.
pub(super) fn chunks(text: &str, words: usize, overlap: usize) -> Vec<String> {
    let all: Vec<&str> = text.split_whitespace().collect();
    if all.is_empty() {
        return Vec::new();
    }
    let words = words.max(1);
    let step = words.saturating_sub(overlap).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + words).min(all.len());
        out.push(all[start..end].join(" "));
        if end == all.len() {
            return out;
        }
        start += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_words_score_higher() {
        let query = embed("vector store timeout", 256);
        let related = embed("the vector store answered a timeout", 256);
        let unrelated = embed("bananas grow in warm climates", 256);
        assert!(similarity(&query, &related) > similarity(&query, &unrelated) + 0.3);
    }

    #[test]
    fn chunks_overlap_and_cover_everything() {
        let text = (0..10).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        assert_eq!(chunks(&text, 4, 1), ["0 1 2 3", "3 4 5 6", "6 7 8 9"]);
        assert_eq!(chunks("a b", 4, 1), ["a b"]);
        assert!(chunks("   ", 4, 1).is_empty());
    }
}
