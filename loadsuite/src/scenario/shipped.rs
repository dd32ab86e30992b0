//! The scenarios shipped with the project (`scenarios/*.toml`), compiled in so `loadsuite run NAME`
//! works from any directory and inside a `FROM scratch` image.

/// (name, file text), in the order `loadsuite scenarios` lists them.
pub const SHIPPED: &[(&str, &str)] = &[
    ("baseline", include_str!("../../../scenarios/baseline.toml")),
    ("api-progressive", include_str!("../../../scenarios/api-progressive.toml")),
    ("rag-progressive", include_str!("../../../scenarios/rag-progressive.toml")),
    ("mcp-progressive", include_str!("../../../scenarios/mcp-progressive.toml")),
    ("light", include_str!("../../../scenarios/light.toml")),
    ("medium", include_str!("../../../scenarios/medium.toml")),
    ("heavy", include_str!("../../../scenarios/heavy.toml")),
    ("spike", include_str!("../../../scenarios/spike.toml")),
    ("soak", include_str!("../../../scenarios/soak.toml")),
    ("agent", include_str!("../../../scenarios/agent.toml")),
    ("agent-progressive", include_str!("../../../scenarios/agent-progressive.toml")),
    ("stress", include_str!("../../../scenarios/stress.toml")),
    ("concurrency", include_str!("../../../scenarios/concurrency.toml")),
    ("model-churn", include_str!("../../../scenarios/model-churn.toml")),
    ("gateway-features", include_str!("../../../scenarios/gateway-features.toml")),
    ("repro-unknown-model", include_str!("../../../scenarios/repro-unknown-model.toml")),
];

/// The text of a shipped scenario.
pub fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_is_valid() {
        for (name, text) in SHIPPED {
            let scenario = crate::scenario::parse(text, name, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(scenario.name, *name);
            assert!(!scenario.description.is_empty(), "{name} has a description");
            // "N users" in the description (as `loadsuite scenarios` shows it) is a stage's users.
            let stages: Vec<u32> = match &scenario.plan {
                crate::plan::Plan::Closed { stages } => stages.iter().map(|s| s.users).collect(),
                crate::plan::Plan::Open { .. } => Vec::new(),
            };
            let words: Vec<&str> = scenario.description.split_whitespace().collect();
            for pair in words.windows(2).filter(|w| w[1].starts_with("user")) {
                if let Ok(n) = pair[0].replace(',', "").parse::<u32>() {
                    assert!(stages.contains(&n), "{name}: the description says {n} users; the stages have {stages:?}");
                }
            }
        }
    }
}
