//! Client-chosen text kept by the mocks (model names, paths, methods, rule names in journal
//! entries) is bounded before it is stored, counted or logged: a client can send 100 KB model
//! names, and neither memory, the journal, `/metrics` nor the log may grow with them.

use std::borrow::Cow;

/// Longest client-chosen text stored, in bytes (longer text is cut at a character boundary and
/// marked with `…`).
pub(crate) const MAX_TEXT: usize = 200;
/// Most distinct values counted per event kind (e.g. unknown model names); the rest are counted
/// together under [`OTHER_VALUES`].
pub(crate) const MAX_EVENT_VALUES: usize = 1000;
/// The counter of the values past [`MAX_EVENT_VALUES`].
pub(crate) const OTHER_VALUES: &str = "(other values)";
/// Most distinct HTTP methods counted per route; the rest are counted under [`OTHER_VALUES`].
pub(crate) const MAX_METHODS_PER_ROUTE: usize = 16;
/// Most fired rule names kept per journal entry (the rest are counted, not named).
pub(crate) const MAX_RULES_PER_ENTRY: usize = 16;

/// `text`, or its first bytes up to `max` (at a character boundary) followed by `…`.
pub(crate) fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// [`bounded`] at [`MAX_TEXT`].
pub(crate) fn text(value: &str) -> Cow<'_, str> {
    bounded(value, MAX_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("abcdef", 3), "abc…");
        assert_eq!(bounded("ééé", 3), "é…", "never inside a character");
        assert!(text(&"x".repeat(100_000)).len() <= MAX_TEXT + 3);
    }
}
