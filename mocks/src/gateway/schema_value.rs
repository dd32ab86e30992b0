//! A JSON value that validates against a JSON Schema, drawn deterministically from a seed: the
//! arguments of a mock tool call (against the tool's `parameters`) and the content of a structured
//! output (against `response_format.json_schema.schema`).
//!
//! The subset is the one OpenAI's structured outputs support: `type` (one or several), `enum`,
//! `const`, `properties` / `required`, `items` / `minItems` / `maxItems`, `minLength` / `maxLength`,
//! `minimum` / `maximum` (and their exclusive forms), `multipleOf` for integers, `format` for
//! strings, `anyOf`, and `$ref` into `$defs` / `definitions` (or `#` itself, for recursion).
//! Every property is filled in (optional ones are left out only deep in a recursion), so the
//! value is valid whether or not a property is required. A
//! keyword that would constrain the value in a way this generator cannot honour (`pattern`,
//! `allOf`, `not`, ...) is refused with its place in the schema, so the gateway answers OpenAI's
//! 400 rather than JSON that does not validate.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value};

/// Words strings are made of (short, lowercase, nothing to escape).
const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "load", "mock", "test", "user", "tool", "file", "node", "path", "data", "plan",
    "step", "done", "fast", "slow", "blue", "green",
];

/// Keywords that constrain a value in ways the generator does not honour.
const UNSUPPORTED: &[&str] = &[
    "pattern",
    "patternProperties",
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "prefixItems",
    "contains",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// How deep references and nesting may go before only the smallest valid value is produced.
const MAX_DEPTH: usize = 8;

/// Why no value can be produced for a schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at {path})")]
pub(super) struct SchemaProblem {
    /// Where in the schema, as a JSON pointer (`#/properties/city`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Draws a value valid against `schema` for `seed`.
pub(super) fn value_for(schema: &Value, seed: u64) -> Result<Value, SchemaProblem> {
    let mut filler = Filler { root: schema, rng: SmallRng::seed_from_u64(seed) };
    filler.fill(schema, "#", 0)
}

/// Checks that `schema` only uses what [`value_for`] supports (a dry run with a fixed seed).
pub(super) fn check(schema: &Value) -> Result<(), SchemaProblem> {
    value_for(schema, 0).map(|_| ())
}

struct Filler<'a> {
    root: &'a Value,
    rng: SmallRng,
}

fn problem(path: &str, message: impl Into<String>) -> SchemaProblem {
    SchemaProblem { path: path.to_owned(), message: message.into() }
}

impl<'a> Filler<'a> {
    fn fill(&mut self, schema: &Value, path: &str, depth: usize) -> Result<Value, SchemaProblem> {
        let node = match schema {
            Value::Bool(true) => return Ok(Value::Object(Map::new())),
            Value::Bool(false) => return Err(problem(path, "the schema `false` accepts no value")),
            Value::Object(node) => node,
            _ => return Err(problem(path, "a schema must be an object")),
        };
        if let Some(keyword) = UNSUPPORTED.iter().find(|k| node.contains_key(**k)) {
            return Err(problem(path, format!("'{keyword}' is not supported")));
        }
        if depth > 4 * MAX_DEPTH {
            return Err(problem(path, "the schema nests or recurses too deeply to produce a finite value"));
        }
        if let Some(reference) = node.get("$ref") {
            let target = self.resolve(reference, path)?;
            return self.fill(target, &format!("{path}/$ref"), depth + 1);
        }
        if let Some(value) = node.get("const") {
            return Ok(value.clone());
        }
        if let Some(options) = node.get("enum") {
            return match options.as_array() {
                Some(options) if !options.is_empty() => Ok(options[self.rng.random_range(0..options.len())].clone()),
                _ => Err(problem(path, "'enum' must be a non-empty array")),
            };
        }
        if let Some(branches) = node.get("anyOf") {
            let Some(branches) = branches.as_array().filter(|b| !b.is_empty()) else {
                return Err(problem(path, "'anyOf' must be a non-empty array"));
            };
            // Deep down, prefer a branch that cannot recurse, so the value stays finite.
            let index = if depth >= MAX_DEPTH {
                branches.iter().position(|b| !mentions_ref(b)).unwrap_or(0)
            } else {
                self.rng.random_range(0..branches.len())
            };
            return self.fill(&branches[index], &format!("{path}/anyOf/{index}"), depth + 1);
        }
        let kind = match node.get("type") {
            None if node.contains_key("properties") => "object",
            None if node.contains_key("items") => "array",
            None => "string",
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                if names.is_empty() {
                    return Err(problem(path, "'type' must name at least one type"));
                }
                // Deep down, null (when allowed) ends the recursion.
                if depth >= MAX_DEPTH && names.contains(&"null") {
                    "null"
                } else {
                    names[self.rng.random_range(0..names.len())]
                }
            }
            Some(_) => return Err(problem(path, "'type' must be a string or an array of strings")),
        };
        match kind {
            "object" => self.object(node, path, depth),
            "array" => self.array(node, path, depth),
            "string" => self.string(node, path),
            "integer" => self.integer(node, path),
            "number" => self.number(node, path),
            "boolean" => Ok(Value::Bool(self.rng.random())),
            "null" => Ok(Value::Null),
            other => Err(problem(path, format!("unknown type '{other}'"))),
        }
    }

    fn resolve(&self, reference: &Value, path: &str) -> Result<&'a Value, SchemaProblem> {
        let root: &'a Value = self.root;
        let Some(pointer) = reference.as_str().and_then(|r| r.strip_prefix('#')) else {
            return Err(problem(path, "only local references ('#/$defs/...') are supported"));
        };
        let decoded: String = pointer.replace("~1", "/").replace("~0", "~");
        root.pointer(&decoded).ok_or_else(|| problem(path, format!("reference '#{pointer}' points at nothing")))
    }

    fn object(&mut self, node: &Map<String, Value>, path: &str, depth: usize) -> Result<Value, SchemaProblem> {
        let mut out = Map::new();
        let properties = match node.get("properties") {
            None => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => return Err(problem(path, "'properties' must be an object")),
        };
        let required: Vec<&str> =
            node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for name in &required {
            if !properties.is_some_and(|p| p.contains_key(*name)) {
                return Err(problem(path, format!("required property '{name}' is not among 'properties'")));
            }
        }
        for (name, schema) in properties.into_iter().flatten() {
            // Deep down, optional properties are left out, so optional recursion ends.
            if depth >= MAX_DEPTH && !required.contains(&name.as_str()) {
                continue;
            }
            out.insert(name.clone(), self.fill(schema, &format!("{path}/properties/{name}"), depth + 1)?);
        }
        Ok(Value::Object(out))
    }

    fn array(&mut self, node: &Map<String, Value>, path: &str, depth: usize) -> Result<Value, SchemaProblem> {
        let min = bound(node, "minItems", path)?.unwrap_or(0);
        let max = bound(node, "maxItems", path)?.unwrap_or(min.max(3));
        if min > max {
            return Err(problem(path, format!("minItems {min} is above maxItems {max}")));
        }
        let len = if depth >= MAX_DEPTH { min } else { self.rng.random_range(min.max(1).min(max)..=max.min(min + 3)) };
        let items = node.get("items").cloned().unwrap_or(Value::Bool(true));
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            out.push(self.fill(&items, &format!("{path}/items"), depth + 1 + usize::from(i > 0))?);
        }
        Ok(Value::Array(out))
    }

    fn string(&mut self, node: &Map<String, Value>, path: &str) -> Result<Value, SchemaProblem> {
        let min = bound(node, "minLength", path)?.unwrap_or(0) as usize;
        let max = bound(node, "maxLength", path)?.map(|m| m as usize);
        if max.is_some_and(|max| min > max) {
            return Err(problem(path, format!("minLength {min} is above maxLength {}", max.unwrap_or(0))));
        }
        let formatted = match node.get("format").and_then(Value::as_str) {
            Some("date-time") => Some("2026-01-15T10:30:00Z".to_owned()),
            Some("date") => Some("2026-01-15".to_owned()),
            Some("time") => Some("10:30:00Z".to_owned()),
            Some("duration") => Some("PT1H30M".to_owned()),
            Some("email") => Some("user@example.com".to_owned()),
            Some("hostname") => Some("example.com".to_owned()),
            Some("ipv4") => Some("192.0.2.7".to_owned()),
            Some("ipv6") => Some("2001:db8::7".to_owned()),
            Some("uuid") => {
                let (a, b): (u64, u64) = (self.rng.random(), self.rng.random());
                Some(format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    b >> 52,
                    b & 0xffff_ffff_ffff
                ))
            }
            Some("uri") => Some("https://example.com/mock".to_owned()),
            _ => None,
        };
        if let Some(text) = formatted {
            if text.len() < min || max.is_some_and(|max| text.len() > max) {
                return Err(problem(path, "the string's format and its length bounds cannot both be met"));
            }
            return Ok(Value::String(text));
        }
        let words = self.rng.random_range(1..=4);
        let mut text = (0..words).map(|_| WORDS[self.rng.random_range(0..WORDS.len())]).collect::<Vec<_>>().join(" ");
        while text.len() < min {
            text.push(' ');
            text.push_str(WORDS[self.rng.random_range(0..WORDS.len())]);
        }
        if let Some(max) = max {
            text.truncate(max);
        }
        Ok(Value::String(pad(text, min)))
    }

    fn integer(&mut self, node: &Map<String, Value>, path: &str) -> Result<Value, SchemaProblem> {
        let (low, high) = numeric_range(node, path, true)?;
        let (low, high) = (low.ceil() as i64, high.floor() as i64);
        let step = match node.get("multipleOf") {
            None => 1,
            Some(m) => match m.as_i64() {
                Some(m) if m > 0 => m,
                _ => return Err(problem(path, "only a positive integer 'multipleOf' is supported")),
            },
        };
        let first = low.div_euclid(step) * step + if low.rem_euclid(step) == 0 { 0 } else { step };
        if first > high {
            return Err(problem(path, "no integer lies within the bounds"));
        }
        let steps = ((high - first) / step).min(1000);
        Ok(Value::from(first + step * self.rng.random_range(0..=steps)))
    }

    fn number(&mut self, node: &Map<String, Value>, path: &str) -> Result<Value, SchemaProblem> {
        if node.contains_key("multipleOf") {
            return Err(problem(path, "'multipleOf' is supported for integers only"));
        }
        let (low, high) = numeric_range(node, path, false)?;
        let value = if high > low { self.rng.random_range(low..high) } else { low };
        // Two decimals read like a model's numbers; stay inside the bounds after rounding.
        let rounded = (value * 100.0).round() / 100.0;
        let value = if rounded >= low && rounded <= high { rounded } else { value };
        Number::from_f64(value).map(Value::Number).ok_or_else(|| problem(path, "the bounds are not finite"))
    }
}

/// Pads `text` with `a` up to `min` bytes (after trimming a trailing space).
fn pad(text: String, min: usize) -> String {
    let mut text = text.trim_end().to_owned();
    if text.len() < min {
        text.extend(std::iter::repeat_n('a', min - text.len()));
    }
    text
}

fn mentions_ref(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(mentions_ref),
        Value::Array(a) => a.iter().any(mentions_ref),
        _ => false,
    }
}

fn bound(node: &Map<String, Value>, keyword: &str, path: &str) -> Result<Option<u64>, SchemaProblem> {
    match node.get(keyword) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= 10_000)
            .map(Some)
            .ok_or_else(|| problem(path, format!("'{keyword}' must be an integer between 0 and 10000"))),
    }
}

/// The closed range a number must lie in; exclusive bounds move inwards (by 1 for integers).
fn numeric_range(node: &Map<String, Value>, path: &str, integer: bool) -> Result<(f64, f64), SchemaProblem> {
    let get = |k: &str| -> Result<Option<f64>, SchemaProblem> {
        match node.get(k) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| problem(path, format!("'{k}' must be a number"))),
        }
    };
    let nudge = |x: f64, up: bool| {
        if integer {
            if up { x.floor() + 1.0 } else { x.ceil() - 1.0 }
        } else {
            let step = x.abs().max(1.0) * 1e-9;
            if up { x + step } else { x - step }
        }
    };
    let mut low = get("minimum")?.unwrap_or(f64::NEG_INFINITY);
    let mut high = get("maximum")?.unwrap_or(f64::INFINITY);
    if let Some(x) = get("exclusiveMinimum")? {
        low = low.max(nudge(x, true));
    }
    if let Some(x) = get("exclusiveMaximum")? {
        high = high.min(nudge(x, false));
    }
    // Unbounded sides get a readable default span.
    match (low.is_finite(), high.is_finite()) {
        (false, false) => (low, high) = (0.0, 100.0),
        (true, false) => high = low + 100.0,
        (false, true) => low = high - 100.0,
        (true, true) => {}
    }
    if low > high {
        return Err(problem(path, "the minimum is above the maximum"));
    }
    Ok((low, high))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn recursive_schemas_end_and_every_seed_stays_in_bounds() {
        let tree = json!({"type": "object", "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 5},
            "children": {"type": "array", "items": {"$ref": "#"}},
            "weight": {"type": "integer", "exclusiveMinimum": 2, "exclusiveMaximum": 6}
        }, "required": ["name", "children", "weight"]});
        for seed in 0..200 {
            let value = value_for(&tree, seed).unwrap();
            let mut stack = vec![&value];
            while let Some(node) = stack.pop() {
                let name = node["name"].as_str().unwrap();
                assert!((3..=5).contains(&name.len()), "{name:?}");
                assert!((3..=5).contains(&node["weight"].as_i64().unwrap()));
                stack.extend(node["children"].as_array().unwrap());
            }
        }
        assert_eq!(value_for(&tree, 9), value_for(&tree, 9), "deterministic");
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_with_its_place() {
        let pattern = json!({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}}});
        let problem = check(&pattern).unwrap_err();
        assert_eq!(problem.path, "#/properties/code");
        assert!(problem.message.contains("'pattern'"));
        let missing = json!({"type": "object", "properties": {}, "required": ["x"]});
        assert!(check(&missing).unwrap_err().message.contains("'x'"));
        let endless = json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
        assert!(check(&endless).is_err(), "a value that must contain itself cannot be finite");
        assert!(check(&json!({"$ref": "#/$defs/nope"})).unwrap_err().message.contains("points at nothing"));
        assert!(check(&json!({"type": "integer", "minimum": 3, "maximum": 4, "multipleOf": 5})).is_err());
    }
}
