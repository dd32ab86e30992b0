//! Seed corpora loaded at start-up: the small built-in one, a directory of `.md`/`.txt` files, or
//! a `.jsonl` / `.json` file of `{id, text, metadata}` documents.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::store::NewDocument;

/// The corpus shipped with the project (`mocks/corpus/`), compiled in so images need no files.
const BUILTIN: &[(&str, &str)] = &[
    ("caching", include_str!("../../corpus/caching.md")),
    ("gateway-runbook", include_str!("../../corpus/gateway-runbook.md")),
    ("incident-2024-model", include_str!("../../corpus/incident-2024-model.md")),
    ("load-testing", include_str!("../../corpus/load-testing.md")),
    ("mcp-sandbox", include_str!("../../corpus/mcp-sandbox.md")),
    ("vector-store", include_str!("../../corpus/vector-store.md")),
];

/// Why a corpus could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file or directory could not be read.
    #[error("cannot read seed corpus {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A JSON document was malformed.
    #[error(
        "{path}:{line}: {message}. Each document is {{\"id\": \"...\", \"text\": \"...\", \"metadata\": {{...}}}}."
    )]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    id: String,
    text: String,
    #[serde(default)]
    metadata: Map<String, Value>,
}

fn source(name: &str) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("source".into(), Value::String(name.to_owned()));
    metadata
}

/// The built-in corpus.
pub(super) fn builtin() -> Vec<NewDocument> {
    BUILTIN
        .iter()
        .map(|(id, text)| NewDocument { id: (*id).to_owned(), text: (*text).to_owned(), metadata: source("builtin") })
        .collect()
}

/// Loads `builtin`, a directory, or a JSON/JSONL file.
pub(super) fn load(spec: &str) -> Result<Vec<NewDocument>, CorpusError> {
    if spec == "builtin" {
        return Ok(builtin());
    }
    let path = Path::new(spec);
    let read_error = |source| CorpusError::Read { path: spec.to_owned(), source };
    if path.is_dir() {
        let root = path.canonicalize().map_err(read_error)?;
        let mut entries: Vec<_> =
            std::fs::read_dir(path).map_err(read_error)?.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        // A symlink may point anywhere on the disk: only files that resolve inside the directory
        // are read (the mocks never read outside their config and corpus).
        entries.retain(|file| match file.canonicalize() {
            Ok(real) if real.starts_with(&root) => true,
            _ => {
                tracing::warn!(file = %file.display().to_string().escape_debug(), "seed corpus: skipped, it resolves outside the corpus directory");
                false
            }
        });
        let mut documents = Vec::new();
        for file in entries.into_iter().filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("md" | "txt")))
        {
            let text = std::fs::read_to_string(&file)
                .map_err(|source| CorpusError::Read { path: file.display().to_string(), source })?;
            let id = file.file_stem().and_then(|s| s.to_str()).unwrap_or("document").to_owned();
            let name = file.file_name().and_then(|s| s.to_str()).unwrap_or("").to_owned();
            documents.push(NewDocument { id, text, metadata: source(&name) });
        }
        return Ok(documents);
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let malformed = |line: usize, e: serde_json::Error| CorpusError::Malformed {
        path: spec.to_owned(),
        line,
        message: e.to_string(),
    };
    let raw: Vec<RawDocument> = if spec.ends_with(".jsonl") {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| malformed(i + 1, e)))
            .collect::<Result<_, _>>()?
    } else {
        serde_json::from_str(&text).map_err(|e| malformed(e.line(), e))?
    };
    Ok(raw.into_iter().map(|d| NewDocument { id: d.id, text: d.text, metadata: d.metadata }).collect())
}
