//! The tools the MCP mock offers: file tools over the sandbox, git tools over its simulated
//! repository, and a web tool returning canned pages. Each tool's parameters are declared once
//! ([`Param`]); the published JSON Schema and the argument check both come from that declaration.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::jsonrpc::{INVALID_PARAMS, RpcError};
use super::sandbox::{PathError, Sandbox};

/// A parameter's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    /// A string naming a sandbox path: at most [`MAX_PATH_BYTES`] and [`MAX_PATH_SEGMENTS`].
    Path,
    Integer,
}

/// Longest path a tool accepts, in bytes (Linux's PATH_MAX).
pub(super) const MAX_PATH_BYTES: usize = 4096;
/// Most `/`-separated segments a path may have.
pub(super) const MAX_PATH_SEGMENTS: usize = 256;

/// One declared parameter.
#[derive(Debug, Clone, Copy)]
struct Param {
    name: &'static str,
    kind: Kind,
    required: bool,
    description: &'static str,
}

const fn param(name: &'static str, kind: Kind, required: bool, description: &'static str) -> Param {
    Param { name, kind, required, description }
}

/// One tool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolSpec {
    /// Tool name.
    pub name: &'static str,
    /// Display title.
    pub title: &'static str,
    description: &'static str,
    params: &'static [Param],
}

/// Every tool, in the deterministic order `tools/list` gives.
pub(crate) const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "read_file",
        title: "Read file",
        description: "Read a text file inside the sandbox.",
        params: &[param("path", Kind::Path, true, "Path relative to the sandbox root.")],
    },
    ToolSpec {
        name: "write_file",
        title: "Write file",
        description: "Create or overwrite a text file inside the sandbox.",
        params: &[
            param("path", Kind::Path, true, "Path relative to the sandbox root."),
            param("content", Kind::String, true, "The new content."),
        ],
    },
    ToolSpec {
        name: "list_dir",
        title: "List directory",
        description: "List the entries of a directory inside the sandbox.",
        params: &[param("path", Kind::Path, false, "Directory relative to the sandbox root (default: the root).")],
    },
    ToolSpec {
        name: "search_files",
        title: "Search files",
        description: "Find lines containing a text in the sandbox's files.",
        params: &[
            param("pattern", Kind::String, true, "Text to look for."),
            param("path", Kind::Path, false, "Directory to search (default: the root)."),
        ],
    },
    ToolSpec {
        name: "git_status",
        title: "Git status",
        description: "Changes in the sandbox repository since the last commit.",
        params: &[],
    },
    ToolSpec {
        name: "git_log",
        title: "Git log",
        description: "Recent commits of the sandbox repository.",
        params: &[param("max_count", Kind::Integer, false, "How many commits (default 10).")],
    },
    ToolSpec {
        name: "git_diff",
        title: "Git diff",
        description: "Diff of uncommitted changes, optionally for one path.",
        params: &[param("path", Kind::Path, false, "Limit the diff to this path.")],
    },
    ToolSpec {
        name: "web_fetch",
        title: "Fetch web page",
        description: "Fetch a page from the allowlist of configured URLs.",
        params: &[param("url", Kind::String, true, "The URL to fetch.")],
    },
];

impl ToolSpec {
    /// Whether running it reads the whole tree (searches, status, diffs): worth a blocking thread.
    pub(crate) fn scans_the_tree(&self) -> bool {
        matches!(self.name, "search_files" | "git_status" | "git_diff")
    }

    /// The tool as `tools/list` describes it.
    pub(crate) fn describe(&self) -> Value {
        let properties: Map<String, Value> = self
            .params
            .iter()
            .map(|p| {
                let schema = match p.kind {
                    Kind::String => json!({"type": "string", "description": p.description}),
                    Kind::Path => json!({"type": "string", "maxLength": MAX_PATH_BYTES, "description": p.description}),
                    Kind::Integer => json!({"type": "integer", "minimum": 0, "description": p.description}),
                };
                (p.name.to_owned(), schema)
            })
            .collect();
        let required: Vec<&str> = self.params.iter().filter(|p| p.required).map(|p| p.name).collect();
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": {"type": "object", "properties": properties, "required": required, "additionalProperties": false},
        })
    }

    /// Checks `arguments` against the schema (an invalid-params error names the problem).
    pub(crate) fn check(&self, arguments: &Map<String, Value>) -> Result<(), RpcError> {
        let invalid =
            |why: String| RpcError::new(INVALID_PARAMS, format!("Invalid arguments for tool `{}`: {why}", self.name));
        for key in arguments.keys() {
            if !self.params.iter().any(|p| p.name == key) {
                return Err(invalid(format!("unknown argument `{key}`")));
            }
        }
        for p in self.params {
            match (arguments.get(p.name), p.kind) {
                (None, _) if p.required => return Err(invalid(format!("missing required argument `{}`", p.name))),
                (Some(Value::String(path)), Kind::Path) if path.len() > MAX_PATH_BYTES => {
                    return Err(invalid(format!(
                        "`{}` is {} bytes; paths are at most {MAX_PATH_BYTES}",
                        p.name,
                        path.len()
                    )));
                }
                (Some(Value::String(path)), Kind::Path) if path.split('/').count() > MAX_PATH_SEGMENTS => {
                    return Err(invalid(format!(
                        "`{}` has {} segments; paths have at most {MAX_PATH_SEGMENTS}",
                        p.name,
                        path.split('/').count()
                    )));
                }
                (None, _) | (Some(Value::String(_)), Kind::String | Kind::Path) => {}
                (Some(v), Kind::Integer) if v.is_u64() => {}
                (Some(_), Kind::String | Kind::Path) => return Err(invalid(format!("`{}` must be a string", p.name))),
                (Some(_), Kind::Integer) => {
                    return Err(invalid(format!("`{}` must be a non-negative integer", p.name)));
                }
            }
        }
        Ok(())
    }
}

/// Looks a tool up by name.
pub(super) fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

/// What a tool call produced.
#[derive(Debug)]
pub(super) struct Outcome {
    /// Text for the `content` block.
    pub text: String,
    /// Structured result, when the tool has one.
    pub structured: Option<Value>,
    /// Whether the tool failed (`isError: true`).
    pub is_error: bool,
    /// Set when the failure was a sandbox escape attempt.
    pub violation: Option<String>,
}

impl Outcome {
    fn ok(text: String, structured: Value) -> Self {
        Outcome { text, structured: Some(structured), is_error: false, violation: None }
    }

    fn failed(text: String) -> Self {
        Outcome { text, structured: None, is_error: true, violation: None }
    }
}

impl From<PathError> for Outcome {
    fn from(error: PathError) -> Self {
        let violation = matches!(error, PathError::Escape { .. }).then(|| error.to_string());
        Outcome {
            text: format!("{error}. Use a path relative to the sandbox root."),
            structured: None,
            is_error: true,
            violation,
        }
    }
}

fn text_arg<'a>(arguments: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    arguments.get(name).and_then(Value::as_str)
}

/// Runs a tool whose arguments passed [`ToolSpec::check`].
pub(super) fn run(
    tool: &ToolSpec,
    arguments: &Map<String, Value>,
    sandbox: &Sandbox,
    pages: &BTreeMap<String, String>,
) -> Outcome {
    let path = text_arg(arguments, "path").unwrap_or("");
    let result = match tool.name {
        "read_file" => sandbox.read(path).map(|text| Outcome::ok(text.clone(), json!({"path": path, "content": text}))),
        "write_file" => {
            let content = text_arg(arguments, "content").unwrap_or("");
            sandbox
                .write(path, content)
                .map(|n| Outcome::ok(format!("wrote {n} bytes to {path}"), json!({"path": path, "bytes": n})))
        }
        "list_dir" => sandbox.list(path).map(|entries| {
            let text = entries
                .iter()
                .map(|(n, dir)| if *dir { format!("{n}/") } else { n.clone() })
                .collect::<Vec<_>>()
                .join("\n");
            let list: Vec<Value> = entries.iter().map(|(n, dir)| json!({"name": n, "directory": dir})).collect();
            Outcome::ok(text, json!({"entries": list}))
        }),
        "search_files" => {
            let pattern = text_arg(arguments, "pattern").unwrap_or("");
            sandbox.search(pattern, path).map(|hits| {
                let text = hits.iter().map(|(f, n, l)| format!("{f}:{n}: {l}")).collect::<Vec<_>>().join("\n");
                let matches: Vec<Value> =
                    hits.iter().map(|(f, n, l)| json!({"path": f, "line": n, "text": l})).collect();
                Outcome::ok(text, json!({"matches": matches}))
            })
        }
        "git_status" => {
            let lines = sandbox.status();
            let text =
                if lines.is_empty() { "nothing to commit, working tree clean".to_owned() } else { lines.join("\n") };
            Ok(Outcome::ok(text, json!({"changes": lines})))
        }
        "git_log" => {
            let n = arguments.get("max_count").and_then(Value::as_u64).unwrap_or(10) as usize;
            let commits = sandbox.log(n);
            let text = commits
                .iter()
                .map(|c| format!("{} {} ({})", c.hash, c.message, c.author))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Outcome::ok(text, json!({"commits": commits})))
        }
        "git_diff" => {
            sandbox.diff(text_arg(arguments, "path")).map(|diff| Outcome::ok(diff.clone(), json!({"diff": diff})))
        }
        "web_fetch" => {
            let url = text_arg(arguments, "url").unwrap_or("");
            Ok(match pages.get(url) {
                Some(page) => Outcome::ok(page.clone(), json!({"url": url, "content": page})),
                None => Outcome::failed(format!(
                    "fetch refused: `{url}` is not in this server's allowlist (configured URLs: {}).",
                    pages.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            })
        }
        other => Ok(Outcome::failed(format!("tool `{other}` has no implementation"))),
    };
    result.unwrap_or_else(Outcome::from)
}
