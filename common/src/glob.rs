//! Name patterns where `*` stands for any run of characters: how thresholds name endpoints and
//! how a model's tool policy names tools. One matcher for both crates.

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn a_star_matches_any_run_of_characters() {
        assert!(matches("POST /v1/query", "POST /v1/query"));
        assert!(!matches("POST /v1/query", "POST /v1/query2"));
        assert!(matches("AGENT *", "AGENT tool git_status"));
        assert!(matches("*query*", "POST /v1/query"));
        assert!(matches("POST */chat/*", "POST /v1/chat/completions (stream)"));
        assert!(!matches("GET *", "POST /v1/query"));
        assert!(matches("*", ""));
        assert!(!matches("a*a", "a"));
        assert!(matches("git_*", "git_log"));
        assert!(!matches("git_*", "read_file"));
    }
}
