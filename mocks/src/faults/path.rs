//! Path patterns of fault rules (`/v1/models/*`, `/v1/**`, `/v1/documents/{id}`) and how request
//! paths are compared with them.

/// A path pattern compiled to segments.
#[derive(Debug, Clone)]
pub(super) enum Segment {
    /// This exact segment.
    Literal(String),
    /// Any one segment (`*` or `{name}`).
    One,
    /// Everything from here on (`**`).
    Rest,
}

/// Compiles a rule's path pattern.
pub(super) fn compile_path(pattern: &str) -> Vec<Segment> {
    pattern
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "**" => Segment::Rest,
            "*" => Segment::One,
            s if s.starts_with('{') && s.ends_with('}') => Segment::One,
            s => Segment::Literal(s.to_owned()),
        })
        .collect()
}

/// Whether `path` is what [`path_matches`] would reduce it to: a leading `/`, no empty segments,
/// no trailing `/` (the shape of nearly every real request path).
pub(super) fn is_plain(path: &str) -> bool {
    // Byte tests: `str::contains` sets up a substring searcher, a measurable cost per request.
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !bytes.windows(2).any(|pair| pair == b"//")
        && (bytes.len() == 1 || bytes.last() != Some(&b'/'))
}

/// Whether `path` (normalized: empty segments and slashes at either end dropped) fits `pattern`.
pub(super) fn path_matches(pattern: &[Segment], path: &str) -> bool {
    let mut parts = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
    for segment in pattern {
        match segment {
            Segment::Rest => return true,
            Segment::One => {
                if parts.next().is_none() {
                    return false;
                }
            }
            Segment::Literal(lit) => {
                if parts.next() != Some(lit.as_str()) {
                    return false;
                }
            }
        }
    }
    parts.next().is_none()
}

/// The pattern as one path (`/v1/never/0`) when every segment is literal: such rules are compared
/// whole with plain request paths, and indexed by it.
pub(super) fn literal_path(pattern: &[Segment]) -> Option<String> {
    let joined = pattern.iter().try_fold(String::new(), |mut joined, segment| match segment {
        Segment::Literal(lit) => {
            joined.push('/');
            joined.push_str(lit);
            Some(joined)
        }
        _ => None,
    })?;
    Some(if joined.is_empty() { "/".to_owned() } else { joined })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        let p = compile_path("/v1/models/*");
        assert!(path_matches(&p, "/v1/models/gpt"));
        assert!(!path_matches(&p, "/v1/models"));
        assert!(!path_matches(&p, "/v1/models/a/b"));
        let rest = compile_path("/v1/**");
        assert!(path_matches(&rest, "/v1/chat/completions"));
        assert!(!path_matches(&compile_path("/health"), "/healthz"));
        assert!(path_matches(&compile_path("/v1/documents/{id}"), "/v1/documents/7"));
    }

    #[test]
    fn literal_paths_are_the_normalized_pattern() {
        assert_eq!(literal_path(&compile_path("v1/chat/")).as_deref(), Some("/v1/chat"));
        assert_eq!(literal_path(&compile_path("/")).as_deref(), Some("/"));
        assert_eq!(literal_path(&compile_path("/v1/*")), None);
        assert!(is_plain("/v1/chat") && is_plain("/"));
        assert!(!is_plain("/v1//chat") && !is_plain("/v1/chat/") && !is_plain("v1/chat") && !is_plain(""));
    }
}
