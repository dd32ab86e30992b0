//! `loadsuite issue`: turns a regression verdict into a GitHub issue. `--dry-run` prints the REST
//! payload; with `GITHUB_TOKEN` it posts to `GITHUB_API_URL` (default `https://api.github.com`),
//! and comments on an existing open issue with the same fingerprint instead of opening a duplicate.

use serde_json::{Value, json};

/// The label every issue filed by loadsuite carries (used to find earlier ones).
pub const LABEL: &str = "loadsuite";

/// Why filing failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The verdict file is not usable.
    #[error("{0}")]
    Verdict(String),
    /// The GitHub API refused or was unreachable.
    #[error("GitHub API: {0}")]
    Api(String),
}

/// What to file.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuePayload {
    /// Title.
    pub title: String,
    /// Markdown body (ends with the fingerprint marker).
    pub body: String,
    /// Labels.
    pub labels: Vec<String>,
    /// Stable identity of the regression (scenario + regressed endpoints + severities).
    pub fingerprint: String,
}

fn marker(fingerprint: &str) -> String {
    format!("<!-- loadsuite-fingerprint: {fingerprint} -->")
}

/// Builds the issue for a verdict; `None` when the verdict is not a regression.
pub fn payload(verdict: &Value) -> Result<Option<IssuePayload>, IssueError> {
    if verdict["format"] != "loadsuite-verdict" {
        return Err(IssueError::Verdict("not a loadsuite verdict.json (format `loadsuite-verdict`)".into()));
    }
    let fails = |v: &Value| v["verdict"] == "regression" || v["verdict"] == "target_missed";
    if !fails(&verdict["overall"]) {
        return Ok(None);
    }
    let scenario = verdict["scenario"].as_str().unwrap_or("?");
    let what = if verdict["overall"]["verdict"] == "regression" { "regression" } else { "target missed" };
    let severity = verdict["overall"]["severity"].as_str().unwrap_or("major");
    let regressed: Vec<&Value> =
        verdict["endpoints"].as_array().into_iter().flatten().filter(|e| fails(&e["verdict"])).collect();
    let mut endpoint_names: Vec<&str> = regressed.iter().filter_map(|e| e["endpoint"].as_str()).collect();
    endpoint_names.sort_unstable();
    endpoint_names.dedup();
    let mut identity: Vec<String> = regressed
        .iter()
        .map(|e| {
            format!(
                "{}|{}|{}",
                e["stage"],
                e["endpoint"].as_str().unwrap_or(""),
                e["verdict"]["severity"].as_str().unwrap_or("")
            )
        })
        .collect();
    identity.sort();
    let fingerprint = format!("{:016x}", common::fnv1a(format!("{scenario}\n{}", identity.join("\n")).as_bytes()));
    let mut body = format!(
        "Load test `{scenario}`: **{what}** ({severity}).\n\n| stage | endpoint | verdict | finding |\n|---:|---|---|---|\n"
    );
    for e in &regressed {
        let finding = e["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| fails(&c["verdict"]))
            .map(|c| format!("{}: {}", c["name"].as_str().unwrap_or(""), c["detail"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("; ");
        let label = match e["verdict"]["severity"].as_str() {
            Some(severity) => format!("regression ({severity})"),
            None => "target missed".to_owned(),
        };
        body.push_str(&format!(
            "| {} | `{}` | {label} | {} |\n",
            e["stage"].as_u64().unwrap_or(0) + 1,
            e["endpoint"].as_str().unwrap_or(""),
            finding.replace('|', "\\|")
        ));
    }
    let run_findings: Vec<String> = verdict["run_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| fails(&c["verdict"]))
        .map(|c| format!("- {}: {}\n", c["name"].as_str().unwrap_or(""), c["detail"].as_str().unwrap_or("")))
        .collect();
    if !run_findings.is_empty() {
        body.push_str("\n### The run\n\n");
        run_findings.iter().for_each(|f| body.push_str(f));
    }
    let diagnosis: Vec<&str> =
        verdict["diagnosis"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !diagnosis.is_empty() {
        body.push_str("\n### Diagnosis\n\n");
        for line in diagnosis {
            body.push_str(&format!("- {line}\n"));
        }
    }
    let recommendations: Vec<&str> =
        verdict["recommendations"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !recommendations.is_empty() {
        body.push_str("\n### Recommendations\n\n");
        for line in recommendations {
            body.push_str(&format!("- {line}\n"));
        }
    }
    body.push_str(&format!(
        "\nRun: `{}`; baseline: `{}`.\n\n{}\n",
        verdict["run"].as_str().unwrap_or("?"),
        verdict["baseline"].as_str().unwrap_or("none"),
        marker(&fingerprint)
    ));
    Ok(Some(IssuePayload {
        title: format!("Load test {what} ({severity}): {scenario}, {} endpoint(s)", endpoint_names.len()),
        body,
        labels: vec![LABEL.into(), "performance".into(), format!("severity:{severity}")],
        fingerprint,
    }))
}

/// What `file` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    /// A new issue (its number).
    Opened(u64),
    /// A comment on an existing issue (its number).
    Commented(u64),
}

/// One GitHub REST call: sends, fails on an error status, returns the JSON answer (or null).
async fn call(request: reqwest::RequestBuilder) -> Result<Value, IssueError> {
    let api_error = |e: reqwest::Error| IssueError::Api(e.to_string());
    let response = request.send().await.map_err(api_error)?.error_for_status().map_err(api_error)?;
    Ok(response.json().await.unwrap_or(Value::Null))
}

/// Files the issue, or comments on the open one with the same fingerprint.
pub async fn file(api: &str, repo: &str, token: &str, issue: &IssuePayload) -> Result<Filed, IssueError> {
    let client = reqwest::Client::new();
    let api = api.trim_end_matches('/');
    let request = |method: reqwest::Method, url: String| {
        client
            .request(method, url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "loadsuite")
    };
    let open = call(request(
        reqwest::Method::GET,
        format!("{api}/repos/{repo}/issues?state=open&labels={LABEL}&per_page=100"),
    ))
    .await?;
    let existing = open
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["body"].as_str().is_some_and(|b| b.contains(&marker(&issue.fingerprint))));
    if let Some(existing) = existing {
        let number = existing["number"].as_u64().unwrap_or(0);
        let body = json!({"body": format!("The same regression again.\n\n{}", issue.body)});
        call(request(reqwest::Method::POST, format!("{api}/repos/{repo}/issues/{number}/comments")).json(&body))
            .await?;
        return Ok(Filed::Commented(number));
    }
    let body = json!({"title": issue.title, "body": issue.body, "labels": issue.labels});
    let created = call(request(reqwest::Method::POST, format!("{api}/repos/{repo}/issues")).json(&body)).await?;
    Ok(Filed::Opened(created["number"].as_u64().unwrap_or(0)))
}

/// `loadsuite issue`: reads `verdict`, and prints the payload (`dry_run`) or files it with the
/// token (`GITHUB_TOKEN`, `GITHUB_API_URL`). Returns what to tell the user.
pub async fn issue(verdict: &std::path::Path, repo: &str, dry_run: bool) -> Result<String, IssueError> {
    let text = std::fs::read_to_string(verdict)
        .map_err(|e| IssueError::Verdict(format!("cannot read {}: {e}", verdict.display())))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| IssueError::Verdict(format!("{}: {e}", verdict.display())))?;
    let Some(issue) = payload(&value).map_err(|e| IssueError::Verdict(format!("{}: {e}", verdict.display())))? else {
        return Ok(format!("no regression in {}: nothing to file", verdict.display()));
    };
    if !repo.contains('/') {
        return Err(IssueError::Verdict(format!("--repo {repo}: write OWNER/NAME")));
    }
    if dry_run {
        let body = json!({"title": issue.title, "body": issue.body, "labels": issue.labels});
        return Ok(format!("POST /repos/{repo}/issues\n{}", serde_json::to_string_pretty(&body).unwrap_or_default()));
    }
    let token = std::env::var("GITHUB_TOKEN")
        .map_err(|_| IssueError::Verdict("GITHUB_TOKEN is not set: export it, or use --dry-run".into()))?;
    let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
    Ok(match file(&api, repo, &token, &issue).await? {
        Filed::Opened(n) => format!("opened issue #{n} in {repo}"),
        Filed::Commented(n) => format!("commented on open issue #{n} in {repo} (same fingerprint)"),
    })
}
