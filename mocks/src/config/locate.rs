//! Finding the line of a field in a TOML file, so every config problem names file, line and field.

use super::{ConfigProblem, Unlocated};

/// One step of a field path.
#[derive(Debug, Clone)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

fn display(path: &[Segment]) -> String {
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

/// Attaches file and line to every problem and sorts them in file order.
pub(crate) fn locate_all(text: &str, file: &str, problems: Vec<Unlocated>) -> Vec<ConfigProblem> {
    let doc = toml_edit::Document::parse(text).ok();
    let mut located: Vec<ConfigProblem> = problems
        .into_iter()
        .map(|p| ConfigProblem {
            file: file.to_owned(),
            line: doc.as_ref().and_then(|d| locate(d, text, &p.path)),
            field: display(&p.path),
            message: p.message,
        })
        .collect();
    located.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    located
}

/// The line of the deepest part of `path` present in the TOML `text` (for other crates' config
/// files, e.g. loadsuite scenarios).
pub fn line_of_field(text: &str, path: &[Segment]) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    locate(&doc, text, path)
}

/// `a.b[2].c` for a path.
pub fn field_name(path: &[Segment]) -> String {
    display(path)
}
