//! `leadstream token issue | list | revoke`: the query API's `/v1/tokens` from the command line,
//! with a read-write token of the workspace. The query API is the one place tokens are made (it
//! keeps their hashes in the store and every instance refreshes from there), so the command is
//! a client of it and works the same in both modes.

use serde_json::{Value, json};

pub enum Call {
    Issue {
        base: String,
        token: String,
        name: String,
        read_write: bool,
        expires_in_days: Option<u32>,
    },
    List {
        base: String,
        token: String,
    },
    Revoke {
        base: String,
        token: String,
        id: String,
    },
}

/// Makes the call; the text to print, or the API's error (its message and field).
pub async fn run(call: Call) -> anyhow::Result<String> {
    let client = leadstream_platform::webhook::client();
    let url = |base: &str, path: &str| format!("{}{path}", base.trim_end_matches('/'));
    let (request, base) = match &call {
        Call::Issue {
            base,
            token,
            name,
            read_write,
            expires_in_days,
        } => {
            let mut body = json!({
                "name": name,
                "scope": if *read_write { "read_write" } else { "read" },
            });
            if let Some(days) = expires_in_days {
                body["expires_in_days"] = json!(days);
            }
            (
                client
                    .post(url(base, "/v1/tokens"))
                    .bearer_auth(token)
                    .json(&body),
                base,
            )
        }
        Call::List { base, token } => {
            (client.get(url(base, "/v1/tokens")).bearer_auth(token), base)
        }
        Call::Revoke { base, token, id } => (
            client
                .delete(url(base, &format!("/v1/tokens/{id}")))
                .bearer_auth(token),
            base,
        ),
    };
    let answer = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{base}: {e}"))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let field = body["error"]["field"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        anyhow::bail!(
            "the query API answered {}: {}{field}",
            status.as_u16(),
            body["message"].as_str().unwrap_or("no message")
        );
    }
    Ok(match call {
        Call::Issue { .. } => format!(
            "token {} ({}), shown once:\n{}",
            body["id"].as_str().unwrap_or(""),
            body["scope"].as_str().unwrap_or(""),
            body["token"].as_str().unwrap_or("")
        ),
        Call::List { .. } => {
            let mut lines = vec!["id\tname\tscope\tlast four".to_string()];
            for t in body["tokens"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "{}\t{}\t{}\t…{}",
                    t["id"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or(""),
                    t["scope"].as_str().unwrap_or(""),
                    t["hint"].as_str().unwrap_or("")
                ));
            }
            lines.join("\n")
        }
        Call::Revoke { id, .. } => format!("token {id} revoked"),
    })
}
