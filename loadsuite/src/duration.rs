//! Human durations in scenario files and flags: `90s`, `5m`, `1h30m`, `250ms`, `1.5s`, or plain seconds.

use std::time::Duration;

/// Parses a duration; the error says what is accepted.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return to_duration(seconds, text);
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return Err(bad(text)),
            }
        };
        let value: f64 = number.parse().map_err(|_| bad(text))?;
        total += value * unit;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(bad(text));
    }
    to_duration(total, text)
}

/// The longest duration accepted anywhere (a run, a stage, a timeout, a think time): 30 days.
pub(crate) const MAX: Duration = Duration::from_secs(30 * 24 * 3600);

fn to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(bad(text));
    }
    if seconds > MAX.as_secs_f64() {
        return Err(format!("`{text}` is longer than the 30 days any duration may be; write a shorter one (e.g. 2h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn bad(text: &str) -> String {
    format!("`{text}` is not a duration; write e.g. 90s, 5m, 1h30m, 250ms or a number of seconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse("5 minutes").is_err() && parse("").is_err() && parse("-3").is_err());
    }
}
