//! The connection state machine.
//!
//! Authenticate (API key, or login refusing MFA accounts), create a bundle,
//! stream it. When the stream ends (the 2-hour cap's clean EOF, an IO
//! error, or silence past `idle_timeout` with not even a heartbeat), GET the
//! same bundle again after a backoff; a 4xx on it means the bundle expired:
//! create a new one. A 401 means re-login (login mode) or a clear error (API
//! key mode). Each reconnect emits a `netpipe.gap` event: there is no replay.
//! Backoff, gaps, TLS and the SSE stream are the shared toolkit's
//! ([`netpipe_connect`]). Secrets never reach logs or errors.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netpipe_connect::reconnect::sleep_unless_shutdown;
use netpipe_connect::sse::{Next, SseStream};
use netpipe_connect::{Ending, Reconnect, TlsOptions};
use netpipe_core::event::dead_letter;
use netpipe_core::{BoxError, Event, Source, SourceContext, async_trait};
use serde_json::json;
use tracing::{info, warn};

use crate::config::{Credentials, StreamSpec};
use crate::decode::Decoder;

pub struct PacketFabricSource {
    pub base_url: String,
    pub credentials: Credentials,
    pub streams: Vec<StreamSpec>,
    pub idle_timeout: Duration,
    pub max_backoff: Duration,
    pub tls_options: TlsOptions,
    pub tls: Arc<rustls::ClientConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum PacketFabricError {
    #[error("PacketFabric rejected the API key (HTTP 401): check `api_key`")]
    KeyRejected,
    #[error(
        "PacketFabric rejected the login of `{login}` (HTTP {status}): check `login` and `password`"
    )]
    LoginRejected { login: String, status: u16 },
    #[error(
        "the PacketFabric account `{0}` requires MFA: use an API key (portal: Settings > API Keys) instead of login and password"
    )]
    MfaRequired(String),
    #[error("PacketFabric refused the subscription (HTTP {status}): {body}")]
    SubscriptionRefused { status: u16, body: String },
    #[error("PacketFabric keeps answering 401 after a fresh login")]
    SessionRejected,
}

/// Events sent into the pipeline at most per chunk while a burst arrives.
const BURST: usize = 512;

enum Attempt {
    /// The stream ran and ended; whether any event arrived.
    Ended(Ending),
    /// The bundle is gone (expired, or from another session): make a new one.
    Expired(u16),
    Unauthorized,
    Transient(String),
    Shutdown,
}

struct Session {
    http: reqwest::Client,
    token: Option<String>,
}

impl PacketFabricSource {
    async fn authenticate(&self, session: &mut Session) -> Result<(), BoxError> {
        let (login, password) = match &self.credentials {
            Credentials::ApiKey(key) => {
                session.token = Some(key.expose().to_string());
                return Ok(());
            }
            Credentials::Login { login, password } => (login, password),
        };
        let response = session
            .http
            .post(format!("{}/v2/auth/login", self.base_url))
            .json(&json!({ "login": login, "password": password.expose() }))
            .send()
            .await
            .map_err(|e| format!("login request failed: {}", e.without_url()))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(PacketFabricError::LoginRejected {
                login: login.clone(),
                status,
            }
            .into());
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("login reply: {}", e.without_url()))?;
        if body.get("mfa_required").and_then(|v| v.as_bool()) == Some(true) {
            return Err(PacketFabricError::MfaRequired(login.clone()).into());
        }
        let token = body
            .get("token")
            .and_then(|t| t.as_str())
            .ok_or("login reply has no token")?;
        session.token = Some(token.to_string());
        info!(login = %login, "logged in");
        Ok(())
    }

    async fn logout(&self, session: &Session) {
        let (Credentials::Login { login, .. }, Some(token)) = (&self.credentials, &session.token)
        else {
            return;
        };
        match session
            .http
            .get(format!("{}/v2/auth/logout", self.base_url))
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => info!(login = %login, "logged out"),
            Ok(r) => warn!(login = %login, "logout answered HTTP {}", r.status()),
            Err(e) => warn!(login = %login, "logout failed: {}", e.without_url()),
        }
    }

    /// `Ok(None)` means the token was rejected.
    async fn subscribe(&self, session: &Session) -> Result<Option<String>, BoxError> {
        let response = session
            .http
            .post(format!("{}/v2/events", self.base_url))
            .bearer_auth(session.token.as_deref().unwrap_or_default())
            .json(&json!({ "streams": self.streams }))
            .send()
            .await
            .map_err(|e| format!("subscription request failed: {}", e.without_url()))?;
        let status = response.status().as_u16();
        if status == 401 {
            return Ok(None);
        }
        if !response.status().is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(PacketFabricError::SubscriptionRefused { status, body }.into());
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("subscription reply: {}", e.without_url()))?;
        let uuid = body
            .get("subscription_uuid")
            .and_then(|u| u.as_str())
            .ok_or("subscription reply has no subscription_uuid")?;
        info!(subscription = %uuid, "subscribed");
        Ok(Some(uuid.to_string()))
    }

    async fn stream(
        &self,
        session: &Session,
        uuid: &str,
        cx: &SourceContext,
        decoder: &mut Decoder,
        reconnect: &mut Reconnect,
    ) -> Attempt {
        let request = session
            .http
            .get(format!("{}/v2/events/{uuid}", self.base_url))
            .bearer_auth(session.token.as_deref().unwrap_or_default())
            .header("Accept", "text/event-stream")
            .send();
        let response = tokio::select! {
            _ = cx.shutdown.cancelled() => return Attempt::Shutdown,
            r = request => match r {
                Ok(r) => r,
                Err(e) => return Attempt::Transient(format!("stream request failed: {}", e.without_url())),
            },
        };
        match response.status().as_u16() {
            200..=299 => {}
            401 => return Attempt::Unauthorized,
            status @ 400..=499 => return Attempt::Expired(status),
            status => return Attempt::Transient(format!("stream answered HTTP {status}")),
        }
        info!(subscription = %uuid, "streaming");
        let scope = [("subscription", uuid)];
        let reason = "reconnected; PacketFabric keeps no replay";
        if let Some(gap) = reconnect.gap(&cx.name, &scope, reason, &cx.metrics)
            && cx.out.send(vec![gap]).await.is_err()
        {
            return Attempt::Shutdown;
        }
        let mut events = SseStream::new(response, self.idle_timeout);
        let mut received = false;
        loop {
            let first = tokio::select! {
                _ = cx.shutdown.cancelled() => return Attempt::Shutdown,
                next = events.next() => match next {
                    Next::Event(event) => event,
                    Next::Ended(reason) => {
                        return Attempt::Ended(Ending::Ended { reason, delivered: received });
                    }
                    // Not asked for: PacketFabric reports errors as events.
                    Next::ServerError(reason) => return Attempt::Transient(reason),
                },
            };
            let mut burst = vec![first];
            while burst.len() < BURST {
                match events.next_now() {
                    Some(event) => burst.push(event),
                    None => break,
                }
            }
            received = true;
            let decoded: Vec<Event> = burst
                .into_iter()
                .map(|sse| {
                    cx.metrics.events_in.inc();
                    cx.metrics.bytes_in.inc_by(sse.data.len() as u64);
                    decoder.decode(&sse.event, &sse.data).unwrap_or_else(|e| {
                        cx.metrics.dead_letters.inc();
                        dead_letter(
                            &cx.name,
                            &format!("packetfabric {}", sse.event),
                            &e.to_string(),
                            Bytes::from(sse.data),
                        )
                    })
                })
                .collect();
            if cx.out.send(decoded).await.is_err() {
                return Attempt::Shutdown;
            }
        }
    }
}

#[async_trait]
impl Source for PacketFabricSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        self.tls_options.warn_if_insecure(&cx.name);
        let http = TlsOptions::http_client(&self.tls)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let mut session = Session { http, token: None };
        let mut decoder = Decoder::new(cx.name.clone());
        // PacketFabric's rejections end the run (a key is not renewed), so
        // the auth wait is never used.
        let mut reconnect = Reconnect::new(self.max_backoff, self.max_backoff);
        let mut subscription: Option<String> = None;
        let mut rejected_in_a_row = 0;
        let result: Result<(), BoxError> = loop {
            if cx.shutdown.is_cancelled() {
                break Ok(());
            }
            if session.token.is_none()
                && let Err(e) = self.authenticate(&mut session).await
            {
                break Err(e);
            }
            let uuid = match &subscription {
                Some(uuid) => uuid.clone(),
                None => match self.subscribe(&session).await {
                    Ok(Some(uuid)) => {
                        subscription = Some(uuid.clone());
                        uuid
                    }
                    Ok(None) => match self.credentials {
                        Credentials::ApiKey(_) => break Err(PacketFabricError::KeyRejected.into()),
                        Credentials::Login { .. } if rejected_in_a_row > 0 => {
                            break Err(PacketFabricError::SessionRejected.into());
                        }
                        Credentials::Login { .. } => {
                            rejected_in_a_row += 1;
                            session.token = None;
                            continue;
                        }
                    },
                    Err(e) if e.is::<PacketFabricError>() => break Err(e),
                    Err(e) => {
                        let ending = Ending::Failed(e.to_string());
                        let wait = reconnect.wait_after(&ending, &"subscribing", &cx.metrics);
                        if !sleep_unless_shutdown(wait, &cx.shutdown).await {
                            break Ok(());
                        }
                        continue;
                    }
                },
            };
            let what = format!("subscription {uuid}");
            let wait = match self
                .stream(&session, &uuid, &cx, &mut decoder, &mut reconnect)
                .await
            {
                Attempt::Shutdown => break Ok(()),
                Attempt::Ended(ending) => {
                    rejected_in_a_row = 0;
                    reconnect.wait_after(&ending, &what, &cx.metrics)
                }
                Attempt::Expired(status) => {
                    info!(subscription = %uuid, "subscription gone (HTTP {status}): creating a new one");
                    subscription = None;
                    Duration::ZERO
                }
                Attempt::Unauthorized => match self.credentials {
                    Credentials::ApiKey(_) => break Err(PacketFabricError::KeyRejected.into()),
                    Credentials::Login { .. } => {
                        info!("session ended: logging in again");
                        session.token = None;
                        subscription = None;
                        Duration::ZERO
                    }
                },
                Attempt::Transient(reason) => {
                    reconnect.wait_after(&Ending::Failed(reason), &what, &cx.metrics)
                }
            };
            if !sleep_unless_shutdown(wait, &cx.shutdown).await {
                break Ok(());
            }
        };
        self.logout(&session).await;
        result
    }
}
