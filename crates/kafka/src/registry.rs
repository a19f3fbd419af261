//! The few schema-registry calls netpipe makes: the sink registers a
//! subject's schema (which returns the id of an identical one if it
//! exists); the source fetches the schema a value's id names.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// A Confluent-compatible schema registry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistry {
    /// Base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
}

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
        let request = self
            .http
            .post(format!("{}/subjects/{topic}-value/versions", self.url))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .json(&json!({ "schema": schema }));
        let body = self
            .answer(request, &format!("registering `{topic}-value`"))
            .await?;
        body.get("id")
            .and_then(|id| id.as_u64())
            .map(|id| id as u32)
            .ok_or_else(|| self.error(format!("no id in the reply {body}")))
    }

    /// The schema (Avro, as JSON text) registered under `id`.
    pub async fn schema(&self, id: u32) -> Result<String, RegistryError> {
        let request = self.http.get(format!("{}/schemas/ids/{id}", self.url));
        let body = self.answer(request, &format!("schema id {id}")).await?;
        body.get("schema")
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.error(format!("no schema in the reply {body}")))
    }

    /// The JSON the registry answers `request` (`what` it was) with.
    async fn answer(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.error(e.without_url().to_string()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| self.error(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(self.error(format!("{what} answered HTTP {status}: {body}")));
        }
        Ok(body)
    }

    fn error(&self, detail: String) -> RegistryError {
        RegistryError {
            url: self.url.clone(),
            detail,
        }
    }
}
