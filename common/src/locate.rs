//! Finding the line of a field in a TOML file, so every problem names file, line and field.

use crate::Problem;

/// One step of a field path.
#[derive(Debug, Clone)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A problem found before its line is known: the field's path and what is wrong.
pub type Unlocated = (Vec<Segment>, String);

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// `a.b[2].c` for a path.
pub fn field_name(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The line of the deepest part of `path` present in the document.
fn locate(doc: &toml_edit::Document<&str>, text: &str, path: &[Segment]) -> Option<usize> {
    let mut item = doc.as_item();
    let mut best = None;
    for segment in path {
        let next = match segment {
            Segment::Key(k) => item.get(k.as_str()),
            Segment::Index(i) => item.get(*i),
        };
        match next {
            Some(found) => {
                item = found;
                if let Some(span) = found.span() {
                    best = Some(span.start);
                }
            }
            None => break,
        }
    }
    best.map(|offset| line_of(text, offset))
}

/// The line of the deepest part of `path` present in the TOML `text`.
pub fn line_of_field(text: &str, path: &[Segment]) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    locate(&doc, text, path)
}

/// Attaches file and line to every problem and sorts them in file order (the document is parsed
/// once for all of them).
pub fn locate_all(text: &str, file: &str, problems: Vec<Unlocated>) -> Vec<Problem> {
    let doc = toml_edit::Document::parse(text).ok();
    let mut located: Vec<Problem> = problems
        .into_iter()
        .map(|(path, message)| Problem {
            file: file.to_owned(),
            line: doc.as_ref().and_then(|d| locate(d, text, &path)),
            field: field_name(&path),
            message,
        })
        .collect();
    located.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    located
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_get_the_line_of_the_deepest_field_present_in_file_order() {
        let text = "[gateway]\nport = 1\n\n[[gateway.models]]\nid = \"a\"\n[[gateway.models]]\nid = \"b\"\n";
        let key = |k: &str| Segment::Key(k.into());
        let problems = locate_all(
            text,
            "c.toml",
            vec![
                (vec![key("gateway"), key("models"), Segment::Index(1), key("id")], "second".into()),
                (vec![key("gateway"), key("port")], "port".into()),
                (vec![key("nowhere")], "absent".into()),
            ],
        );
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["c.toml:2: gateway.port: port", "c.toml:7: gateway.models[1].id: second", "c.toml: nowhere: absent"]
        );
    }
}
