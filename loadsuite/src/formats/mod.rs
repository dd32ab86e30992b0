//! The files loadsuite writes and reads back, each owned by one module as plain data types: what
//! is in the file, with a `read` that checks its format and version. Every reader goes through
//! these modules, and the engine's own types are converted into them in one place, so renaming a
//! field in the engine cannot silently change a versioned format.

pub mod baseline;
pub mod histogram;
pub mod run;

/// Why an input file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a file this command understands.
    #[error("{path}: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl InputError {
    /// An `Invalid` error for `path`.
    pub fn invalid(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        InputError::Invalid { path: path.to_string(), message: message.into() }
    }
}

/// Reads a file to a string, naming it when it cannot be read.
pub fn read_text(path: &std::path::Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|source| InputError::Read { path: path.display().to_string(), source })
}
