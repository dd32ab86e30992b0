//! The tool sandbox: an in-memory file tree with a simulated git history. Nothing touches the real
//! disk. Every path a tool receives goes through [`Sandbox::resolve`], which refuses anything that
//! could leave the root: `..`, absolute and drive paths, `~`, backslashes, percent-encoded or
//! look-alike dots, NUL bytes, and symlinks pointing outside.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use serde::Serialize;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A file and its text.
    File(String),
    /// A symbolic link and its target (relative to the link's directory, or absolute).
    Symlink(String),
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path would leave the sandbox: a violation attempt, counted.
    #[error("access denied: `{path}` is outside the sandbox root ({why})")]
    Escape {
        /// The path as given.
        path: String,
        /// Which rule refused it.
        why: &'static str,
    },
    /// Nothing at that path.
    #[error("no such file or directory: `{0}`")]
    NotFound(String),
    /// The write would pass a size limit (the file's, or the whole sandbox's).
    #[error("no space: {0}")]
    NoSpace(String),
}

/// A commit of the simulated repository.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    /// Abbreviated hash.
    pub hash: String,
    /// Author.
    pub author: String,
    /// Subject line.
    pub message: String,
}

/// The sandbox: the files as seeded (the last commit) and as they are now, within size limits.
pub struct Sandbox {
    seeded: BTreeMap<String, Node>,
    tree: RwLock<Files>,
    commits: Vec<Commit>,
    limits: Limits,
}

/// The tree and what it costs: content and path bytes plus a fixed overhead per entry, so a
/// flood of tiny files is bounded as surely as one large one.
struct Files {
    nodes: BTreeMap<String, Node>,
    bytes: usize,
}

/// Bytes counted per entry besides its path and content (the map's own bookkeeping).
const ENTRY_OVERHEAD: usize = 64;

fn entry_bytes(path: &str, node: &Node) -> usize {
    let content = match node {
        Node::File(text) | Node::Symlink(text) => text.len(),
    };
    path.len() + content + ENTRY_OVERHEAD
}

impl Files {
    fn new(nodes: BTreeMap<String, Node>) -> Self {
        let bytes = nodes.iter().map(|(p, n)| entry_bytes(p, n)).sum();
        Files { nodes, bytes }
    }
}

impl std::ops::Deref for Files {
    type Target = BTreeMap<String, Node>;

    fn deref(&self) -> &Self::Target {
        &self.nodes
    }
}

/// How much the sandbox holds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file a tool may write.
    pub max_file_bytes: usize,
    /// Most bytes in all: contents, paths, and a small overhead per entry.
    pub max_total_bytes: usize,
}

/// Most symlinks followed while resolving one path (Linux's ELOOP bound).
const MAX_SYMLINKS: usize = 40;

fn push_segment(resolved: &mut String, ends: &mut Vec<usize>, segment: &str) {
    if !resolved.is_empty() {
        resolved.push('/');
    }
    resolved.push_str(segment);
    ends.push(resolved.len());
}

/// Drops the last segment; false when there was none.
fn pop_segment(resolved: &mut String, ends: &mut Vec<usize>) -> bool {
    if ends.pop().is_none() {
        return false;
    }
    // The previous segment's end, without its separator.
    resolved.truncate(ends.last().copied().unwrap_or(0));
    true
}

/// Look-alikes of `.` and `/` that normalising file systems or decoders may turn into the real ones.
const LOOKALIKES: &[char] = &['\u{FF0E}', '\u{2024}', '\u{FE52}', '\u{FF0F}', '\u{2215}', '\u{2044}', '\u{FF3C}'];

impl Sandbox {
    /// A sandbox seeded with `files` (path -> node) and `commits` (newest first).
    pub fn new(files: BTreeMap<String, Node>, commits: Vec<Commit>, limits: Limits) -> Self {
        Sandbox { tree: RwLock::new(Files::new(files.clone())), seeded: files, commits, limits }
    }

    /// Checks a path and returns it normalised (segments joined by `/`, `.` removed; `""` is the root).
    pub fn resolve(&self, path: &str) -> Result<String, PathError> {
        let escape = |why| Err(PathError::Escape { path: path.to_owned(), why });
        if path.contains('\0') {
            return escape("NUL byte");
        }
        if path.starts_with('/') || path.starts_with('\\') {
            return escape("absolute path");
        }
        if path.len() >= 2 && path.as_bytes()[1] == b':' {
            return escape("drive path");
        }
        if path.starts_with('~') {
            return escape("home directory");
        }
        if path.contains('\\') {
            return escape("backslash separator");
        }
        if path.contains('%') {
            return escape("percent-encoded characters");
        }
        if path.chars().any(|c| LOOKALIKES.contains(&c)) {
            return escape("look-alike dot or slash");
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => return escape("`..` segment"),
                s if s.trim_matches('.').is_empty() => return escape("dots-only segment"),
                s => segments.push(s),
            }
        }
        let tree = self.tree.read();
        // Follow symlinks along the way; a link may only point inside the sandbox. `resolved` is the
        // path so far and `ends` where each of its segments ends, so every step is linear in the
        // segment, never a rejoin of the whole path.
        let mut resolved = String::with_capacity(path.len());
        let mut ends: Vec<usize> = Vec::with_capacity(segments.len());
        let mut links = 0;
        for (i, segment) in segments.iter().enumerate() {
            push_segment(&mut resolved, &mut ends, segment);
            let Some(Node::Symlink(target)) = tree.get(resolved.as_str()) else { continue };
            links += 1;
            if links > MAX_SYMLINKS {
                return escape("too many symlinks");
            }
            if target.starts_with('/') || target.contains('\\') {
                return escape("symlink to an absolute path");
            }
            pop_segment(&mut resolved, &mut ends);
            for part in target.split('/') {
                match part {
                    "" | "." => {}
                    ".." => {
                        if !pop_segment(&mut resolved, &mut ends) {
                            return escape("symlink leading outside");
                        }
                    }
                    p => push_segment(&mut resolved, &mut ends, p),
                }
            }
            if i + 1 < segments.len() && matches!(tree.get(resolved.as_str()), Some(Node::File(_))) {
                return Err(PathError::NotFound(path.to_owned()));
            }
        }
        Ok(resolved)
    }

    /// What the tree holds now, as its limit counts it.
    pub fn bytes(&self) -> usize {
        self.tree.read().bytes
    }

    /// Text of a file.
    pub fn read(&self, path: &str) -> Result<String, PathError> {
        let resolved = self.resolve(path)?;
        match self.tree.read().get(&resolved) {
            Some(Node::File(text)) => Ok(text.clone()),
            _ => Err(PathError::NotFound(path.to_owned())),
        }
    }

    /// Writes a file (creating its directories implicitly) within the size limits. Returns the
    /// bytes written.
    pub fn write(&self, path: &str, content: &str) -> Result<usize, PathError> {
        let resolved = self.resolve(path)?;
        if resolved.is_empty() {
            return Err(PathError::NotFound(path.to_owned()));
        }
        let Limits { max_file_bytes, max_total_bytes } = self.limits;
        if content.len() > max_file_bytes {
            return Err(PathError::NoSpace(format!(
                "{} bytes is over the {max_file_bytes}-byte file limit of this sandbox",
                content.len()
            )));
        }
        let node = Node::File(content.to_owned());
        let mut tree = self.tree.write();
        let replaced = tree.nodes.get(&resolved).map_or(0, |old| entry_bytes(&resolved, old));
        let total = tree.bytes - replaced + entry_bytes(&resolved, &node);
        if total > max_total_bytes {
            return Err(PathError::NoSpace(format!(
                "the sandbox holds at most {max_total_bytes} bytes and this write would make it {total}; reset it first"
            )));
        }
        tree.bytes = total;
        tree.nodes.insert(resolved, node);
        Ok(content.len())
    }

    /// Entries directly under a directory: (name, is_directory).
    pub fn list(&self, path: &str) -> Result<Vec<(String, bool)>, PathError> {
        let resolved = self.resolve(path)?;
        let prefix = if resolved.is_empty() { String::new() } else { format!("{resolved}/") };
        let tree = self.tree.read();
        let mut entries: BTreeMap<String, bool> = BTreeMap::new();
        for key in tree.keys().filter(|k| k.starts_with(&prefix)) {
            let rest = &key[prefix.len()..];
            match rest.split_once('/') {
                Some((dir, _)) => entries.insert(dir.to_owned(), true),
                None => entries.insert(rest.to_owned(), false),
            };
        }
        if entries.is_empty() && !resolved.is_empty() {
            return Err(PathError::NotFound(path.to_owned()));
        }
        Ok(entries.into_iter().collect())
    }

    /// Lines containing `pattern` in files under `path`: (file, line number, line).
    pub fn search(&self, pattern: &str, path: &str) -> Result<Vec<(String, usize, String)>, PathError> {
        let resolved = self.resolve(path)?;
        let tree = self.tree.read();
        let mut hits = Vec::new();
        for (file, node) in tree
            .iter()
            .filter(|(k, _)| resolved.is_empty() || k.starts_with(&format!("{resolved}/")) || **k == resolved)
        {
            if let Node::File(text) = node {
                for (n, line) in text.lines().enumerate().filter(|(_, l)| l.contains(pattern)) {
                    hits.push((file.clone(), n + 1, line.to_owned()));
                }
            }
        }
        Ok(hits)
    }

    /// `git status --porcelain`-style lines: changes against the last commit.
    pub fn status(&self) -> Vec<String> {
        let tree = self.tree.read();
        let mut lines = Vec::new();
        for (path, node) in tree.iter() {
            match self.seeded.get(path) {
                None => lines.push(format!("?? {path}")),
                Some(seeded) if seeded != node => lines.push(format!(" M {path}")),
                _ => {}
            }
        }
        for path in self.seeded.keys().filter(|p| !tree.contains_key(p.as_str())) {
            lines.push(format!(" D {path}"));
        }
        lines
    }

    /// The newest `n` commits.
    pub fn log(&self, n: usize) -> Vec<Commit> {
        self.commits.iter().take(n).cloned().collect()
    }

    /// A unified-style diff of changed files (optionally one path) against the last commit.
    pub fn diff(&self, path: Option<&str>) -> Result<String, PathError> {
        let only = path.map(|p| self.resolve(p)).transpose()?;
        let tree = self.tree.read();
        let mut out = String::new();
        for (file, node) in tree.iter().filter(|(k, _)| only.as_ref().is_none_or(|o| *k == o)) {
            let (Node::File(now), seeded) = (node, self.seeded.get(file)) else { continue };
            let before = match seeded {
                Some(Node::File(text)) if text == now => continue,
                Some(Node::File(text)) => text.as_str(),
                _ => "",
            };
            out.push_str(&format!("--- a/{file}\n+++ b/{file}\n"));
            for line in before.lines() {
                out.push_str(&format!("-{line}\n"));
            }
            for line in now.lines() {
                out.push_str(&format!("+{line}\n"));
            }
        }
        Ok(out)
    }

    /// Restores the seeded tree.
    pub fn reset(&self) {
        *self.tree.write() = Files::new(self.seeded.clone());
    }
}

/// The default sandbox: a small project with history, and one symlink pointing outside.
pub(crate) fn default_sandbox(limits: Limits) -> Sandbox {
    let files: BTreeMap<String, Node> = [
        ("README.md", "# demo-service\n\nA small service used by the MCP mock's sandbox.\n"),
        ("src/main.rs", "fn main() {\n    println!(\"hello from the sandbox\");\n}\n"),
        ("src/lib.rs", "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"),
        ("docs/guide.md", "# Guide\n\nRun the service with `cargo run`. TODO: document configuration.\n"),
        ("Cargo.toml", "[package]\nname = \"demo-service\"\nversion = \"0.1.0\"\n"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), Node::File(t.to_owned())))
    .chain([("docs/outside".to_owned(), Node::Symlink("../../etc".to_owned()))])
    .collect();
    let commits = [
        ("9f2c1e7", "ana", "Add usage guide"),
        ("4b8d0a2", "li", "Implement add()"),
        ("1a0e5f3", "ana", "Initial commit"),
    ]
    .into_iter()
    .map(|(h, a, m)| Commit { hash: h.to_owned(), author: a.to_owned(), message: m.to_owned() })
    .collect();
    Sandbox::new(files, commits, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_file_bytes: 1000, max_total_bytes: 2000 };

    #[test]
    fn escapes_are_refused_and_inside_paths_resolve() {
        let sandbox = default_sandbox(LIMITS);
        for path in [
            "..",
            "../etc/passwd",
            "src/../../x",
            "/etc/passwd",
            "\\windows",
            "C:\\x",
            "C:/x",
            "~/x",
            "src\\..\\..",
            "%2e%2e/x",
            "..%2fetc",
            "\u{FF0E}\u{FF0E}/x",
            "a/\0",
            "...",
            "docs/outside/passwd",
            "docs/outside",
        ] {
            assert!(matches!(sandbox.resolve(path), Err(PathError::Escape { .. })), "{path:?} was not refused");
        }
        assert_eq!(sandbox.resolve("./src//main.rs").unwrap(), "src/main.rs");
        assert_eq!(sandbox.resolve("").unwrap(), "");
    }

    #[test]
    fn long_paths_resolve_in_linear_time() {
        let sandbox = default_sandbox(LIMITS);
        let deep = vec!["d"; 100_000].join("/");
        let started = std::time::Instant::now();
        assert!(matches!(sandbox.resolve(&deep), Ok(p) if p.len() == deep.len()));
        // Quadratic rejoining took ~27 s for 240 KB; linear work is a few milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn writes_stay_within_the_limits() {
        let sandbox = default_sandbox(LIMITS);
        assert!(matches!(sandbox.write("big.txt", &"x".repeat(1001)), Err(PathError::NoSpace(_))));
        sandbox.write("a.txt", &"x".repeat(900)).unwrap();
        sandbox.write("a.txt", &"x".repeat(950)).unwrap();
        assert!(matches!(sandbox.write("b.txt", &"x".repeat(900)), Err(PathError::NoSpace(_))), "over the total");
        sandbox.reset();
        sandbox.write("b.txt", &"x".repeat(900)).unwrap();
    }

    #[test]
    fn writes_show_in_status_and_diff() {
        let sandbox = default_sandbox(LIMITS);
        sandbox.write("src/lib.rs", "changed\n").unwrap();
        sandbox.write("new.txt", "n\n").unwrap();
        assert_eq!(sandbox.status(), ["?? new.txt", " M src/lib.rs"]);
        assert!(sandbox.diff(Some("src/lib.rs")).unwrap().contains("+changed"));
        sandbox.reset();
        assert!(sandbox.status().is_empty());
    }
}
