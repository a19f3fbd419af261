//! The few schema-registry calls netpipe makes: register a subject's schema
//! (which returns the id of an identical one if it exists).

use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("schema registry at {url}: {detail}")]
pub struct RegistryError {
    url: String,
    detail: String,
}

pub struct RegistryClient {
    http: reqwest::Client,
    url: String,
}

impl RegistryClient {
    pub fn new(url: &str) -> Self {
        RegistryClient {
            http: reqwest::Client::new(),
            url: url.trim_end_matches('/').to_string(),
        }
    }

    /// The id of `schema` under subject `<topic>-value`, registering it if new.
    pub async fn register(&self, topic: &str, schema: &str) -> Result<u32, RegistryError> {
        let error = |detail: String| RegistryError {
            url: self.url.clone(),
            detail,
        };
        let response = self
            .http
            .post(format!("{}/subjects/{topic}-value/versions", self.url))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .json(&json!({ "schema": schema }))
            .send()
            .await
            .map_err(|e| error(e.without_url().to_string()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| error(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(error(format!(
                "registering `{topic}-value` answered HTTP {status}: {body}"
            )));
        }
        body.get("id")
            .and_then(|id| id.as_u64())
            .map(|id| id as u32)
            .ok_or_else(|| error(format!("no id in the reply {body}")))
    }
}
