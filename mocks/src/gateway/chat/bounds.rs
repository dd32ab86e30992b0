//! The published spec's bounds on a chat request's sampling options, enforced as OpenAI enforces
//! them (the answer does not depend on these options, but a request the real API refuses must not
//! pass the mock): `temperature` 0-2, `top_p` 0-1, penalties -2..2, `top_logprobs` 0-20, at most
//! 4 `stop` strings, an integer `seed`, `logit_bias` values -100..100.

use serde_json::{Map, Value};

use crate::gateway::errors::ApiError;

/// Most `stop` sequences.
const MAX_STOP: usize = 4;

fn range(body: &Map<String, Value>, field: &str, low: f64, high: f64, integer: bool) -> Result<(), ApiError> {
    let Some(value) = body.get(field).filter(|v| !v.is_null()) else { return Ok(()) };
    let (kind, expected) = if integer { ("integer", "an integer") } else { ("decimal", "a number") };
    let number = match value {
        Value::Number(n) if !integer || n.is_i64() || n.is_u64() => n.as_f64().unwrap_or(f64::NAN),
        other => return Err(ApiError::wrong_type(field, expected, other)),
    };
    let shown = value.to_string();
    if number < low {
        return Err(ApiError::invalid(
            format!(
                "Invalid '{field}': {kind} below minimum value. Expected a value >= {low}, but got {shown} instead."
            ),
            Some(field),
            Some(&format!("{kind}_below_min_value")),
        ));
    }
    if number > high {
        return Err(ApiError::invalid(
            format!(
                "Invalid '{field}': {kind} above maximum value. Expected a value <= {high}, but got {shown} instead."
            ),
            Some(field),
            Some(&format!("{kind}_above_max_value")),
        ));
    }
    Ok(())
}

/// Every bound above, first problem first.
pub(crate) fn check(body: &Map<String, Value>) -> Result<(), ApiError> {
    range(body, "temperature", 0.0, 2.0, false)?;
    range(body, "top_p", 0.0, 1.0, false)?;
    range(body, "presence_penalty", -2.0, 2.0, false)?;
    range(body, "frequency_penalty", -2.0, 2.0, false)?;
    range(body, "top_logprobs", 0.0, 20.0, true)?;
    range(body, "seed", i64::MIN as f64, i64::MAX as f64, true)?;
    match body.get("stop") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(stops)) => {
            if stops.len() > MAX_STOP {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP}, but got an array with length {} instead.",
                        stops.len()
                    ),
                    Some("stop"),
                    Some("array_above_max_length"),
                ));
            }
            if let Some((i, other)) = stops.iter().enumerate().find(|(_, s)| !s.is_string()) {
                return Err(ApiError::wrong_type(&format!("stop[{i}]"), "a string", other));
            }
        }
        Some(other) => return Err(ApiError::wrong_type("stop", "a string or an array of strings", other)),
    }
    match body.get("logit_bias") {
        None | Some(Value::Null) => {}
        Some(Value::Object(biases)) => {
            for (token, bias) in biases {
                let ok = bias.as_i64().is_some_and(|b| (-100..=100).contains(&b));
                if !ok || token.parse::<u64>().is_err() {
                    return Err(ApiError::invalid(
                        format!(
                            "Invalid value for 'logit_bias': token '{token}' has bias {bias}; keys must be token ids and biases integers from -100 to 100."
                        ),
                        Some("logit_bias"),
                        Some("invalid_value"),
                    ));
                }
            }
        }
        Some(other) => return Err(ApiError::wrong_type("logit_bias", "an object", other)),
    }
    Ok(())
}
