//! One problem in an input file, as every validator of the workspace reports it.

use std::fmt;

/// One problem in a file: where it is and how to fix it. Shown as `file:line: field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or a name such as `<default>`).
    pub file: String,
    /// 1-based line, when it could be located.
    pub line: Option<usize>,
    /// Field path, e.g. `gateway.models[2].dimensions`, or `(syntax)`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    /// A TOML file that does not parse: the parser's message at the line of its span.
    pub fn syntax(file: &str, text: &str, error: &toml::de::Error) -> Self {
        Problem {
            file: file.to_owned(),
            line: error.span().map(|s| crate::locate::line_of(text, s.start)),
            field: "(syntax)".to_owned(),
            message: error.message().trim().to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Problem;

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = "a = 1\nb = \n";
        let error = toml::from_str::<toml::Table>(text).unwrap_err();
        let problem = Problem::syntax("x.toml", text, &error);
        assert_eq!(problem.line, Some(2));
        assert!(problem.to_string().starts_with("x.toml:2: (syntax): "), "{problem}");
    }
}
