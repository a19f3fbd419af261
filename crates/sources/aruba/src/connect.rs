//! Connections to Central: one task per (customer, topic) that validates the
//! key, connects, reads frames into events, and on close, error or silence
//! reconnects with exponential backoff and jitter, emitting a gap event for
//! the time it was away. Keys never reach logs or errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use netpipe_core::event::{Gap, dead_letter};
use netpipe_core::{BoxError, Source, SourceContext, SourceSender, Timestamp, async_trait};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};
use tracing::{info, warn};

use crate::decode::Decoder;
use crate::events::EventBuilder;
use crate::topic::Topic;

/// One connection's worth of configuration: a customer and a topic.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub username: Option<String>,
    pub key: String,
    pub topic: Topic,
    /// The entry's name in `customers_file`, when it came from there.
    pub file_entry: Option<String>,
}

pub struct ArubaSource {
    pub url: String,
    pub validate_url: String,
    pub entries: Vec<Entry>,
    pub customers_file: Option<Arc<PathBuf>>,
    pub split: bool,
    /// Every sink reading the source writes JSON: render it on arrival.
    pub render_json: bool,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub max_backoff: Duration,
    pub auth_retry: Duration,
    pub tls: Arc<rustls::ClientConfig>,
}

/// Why a connection attempt or a connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error(
        "the streaming key of customer `{0}` was rejected (HTTP 401) and validation gave no valid key"
    )]
    KeyRejected(String),
    #[error(
        "topic `{topic}` is not subscribed for customer `{customer}`: tick Subscribe for it on Central's Streaming page"
    )]
    Unsubscribed { customer: String, topic: Topic },
    #[error("{0}")]
    Transient(String),
}

/// An error and its causes, `outer: inner: root`: reqwest's own message
/// ("error sending request") says nothing of a refused certificate.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

pub fn tls_config(
    ca_file: Option<PathBuf>,
    insecure: bool,
) -> Result<Arc<rustls::ClientConfig>, BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    if insecure {
        warn!("insecure_skip_verify: server certificates are NOT checked");
        let verifier = Arc::new(insecure::AcceptAll(provider));
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        add_pem(&mut roots, &path)?;
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

fn add_pem(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), BoxError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
    for cert in certs {
        roots.add(cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?)?;
    }
    Ok(())
}

mod insecure {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    #[derive(Debug)]
    pub struct AcceptAll(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

/// What every connection task shares.
struct Shared {
    source: ArubaSource,
    http: reqwest::Client,
    decoder: Arc<Decoder>,
    file_lock: Mutex<()>,
}

#[async_trait]
impl Source for ArubaSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*self.tls).clone())
            .timeout(Duration::from_secs(30))
            .build()?;
        let entries = self.entries.clone();
        let shared = Arc::new(Shared {
            source: *self,
            http,
            decoder: Arc::new(Decoder::new()),
            file_lock: Mutex::new(()),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for entry in entries {
            let shared = shared.clone();
            let cx = Connection {
                name: cx.name.clone(),
                out: cx.out.clone(),
                shutdown: cx.shutdown.clone(),
                metrics: cx.metrics.clone(),
            };
            tasks.spawn(async move { cx.run(entry, shared).await });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    }
}

struct Connection {
    name: Arc<str>,
    out: SourceSender,
    shutdown: tokio_util::sync::CancellationToken,
    metrics: netpipe_core::metrics::ComponentMetrics,
}

impl Connection {
    async fn run(self, mut entry: Entry, shared: Arc<Shared>) -> Result<(), BoxError> {
        let s = &shared.source;
        let backoff = || {
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(s.max_backoff)
                .with_jitter()
                .without_max_times()
                .build()
        };
        let mut delays = backoff();
        let mut lost_at: Option<Timestamp> = None;
        let mut attempt = 0u64;
        while !self.shutdown.is_cancelled() {
            let outcome = self
                .connect_and_read(&mut entry, &shared, &mut lost_at)
                .await;
            let wait = match outcome {
                Ok(true) => {
                    // Received frames: the next outage starts a fresh backoff.
                    delays = backoff();
                    attempt = 0;
                    delays.next().unwrap_or_default()
                }
                Ok(false) => delays.next().unwrap_or(s.max_backoff),
                Err(
                    e @ (ConnectionError::KeyRejected(_) | ConnectionError::Unsubscribed { .. }),
                ) => {
                    self.metrics.errors.inc();
                    warn!(source = %self.name, customer = %entry.name, topic = %entry.topic, "{e}; retrying in {:?}", s.auth_retry);
                    s.auth_retry
                }
                Err(ConnectionError::Transient(e)) => {
                    self.metrics.errors.inc();
                    warn!(source = %self.name, customer = %entry.name, topic = %entry.topic, "{e}");
                    delays.next().unwrap_or(s.max_backoff)
                }
            };
            if self.shutdown.is_cancelled() {
                break;
            }
            attempt += 1;
            info!(source = %self.name, customer = %entry.name, topic = %entry.topic, attempt, "reconnecting in {wait:?}");
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        Ok(())
    }

    /// Asks Central for the current key; a renewed one replaces the old,
    /// in memory and in the customers file.
    async fn validate(&self, entry: &mut Entry, shared: &Shared) -> Result<(), ConnectionError> {
        let response = shared
            .http
            .get(&shared.source.validate_url)
            .header("Authorization", &entry.key)
            .send()
            .await
            .map_err(|e| {
                ConnectionError::Transient(format!(
                    "key validation request failed: {}",
                    with_causes(&e.without_url())
                ))
            })?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(ConnectionError::KeyRejected(entry.name.clone())),
            status => {
                return Err(ConnectionError::Transient(format!(
                    "key validation answered HTTP {status}"
                )));
            }
        }
        let text = response.text().await.map_err(|e| {
            ConnectionError::Transient(format!("key validation reply: {}", e.without_url()))
        })?;
        let body: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| ConnectionError::Transient("key validation reply is not JSON".into()))?;
        let Some(token) = body
            .get("token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
        else {
            return Err(ConnectionError::KeyRejected(entry.name.clone()));
        };
        if token != entry.key {
            info!(source = %self.name, customer = %entry.name, "received a renewed streaming key");
            entry.key = token.to_string();
            if let (Some(path), Some(file_entry)) =
                (&shared.source.customers_file, &entry.file_entry)
            {
                let _guard = shared.file_lock.lock().await;
                crate::customers_file::write_key(path, file_entry, token)
                    .map_err(|e| ConnectionError::Transient(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// One connection: returns whether any frame arrived.
    async fn connect_and_read(
        &self,
        entry: &mut Entry,
        shared: &Shared,
        lost_at: &mut Option<Timestamp>,
    ) -> Result<bool, ConnectionError> {
        let s = &shared.source;
        self.validate(entry, shared).await?;
        let mut ws = None;
        for retry in 0..2 {
            let mut request = s
                .url
                .as_str()
                .into_client_request()
                .map_err(|e| ConnectionError::Transient(format!("invalid url: {e}")))?;
            let headers = request.headers_mut();
            let header = |v: &str| {
                HeaderValue::from_str(v).map_err(|_| {
                    ConnectionError::Transient("a header value is not valid HTTP".into())
                })
            };
            headers.insert("Authorization", header(&entry.key)?);
            headers.insert("Topic", header(entry.topic.as_str())?);
            if let Some(user) = &entry.username {
                headers.insert("UserName", header(user)?);
            }
            let connector = Some(Connector::Rustls(s.tls.clone()));
            match connect_async_tls_with_config(request, None, true, connector).await {
                Ok((stream, _)) => {
                    ws = Some(stream);
                    break;
                }
                Err(WsError::Http(response)) => match response.status().as_u16() {
                    401 if retry == 0 => self.validate(entry, shared).await?,
                    401 => return Err(ConnectionError::KeyRejected(entry.name.clone())),
                    400 => {
                        return Err(ConnectionError::Unsubscribed {
                            customer: entry.name.clone(),
                            topic: entry.topic,
                        });
                    }
                    status => {
                        return Err(ConnectionError::Transient(format!(
                            "handshake answered HTTP {status}"
                        )));
                    }
                },
                Err(e) => return Err(ConnectionError::Transient(format!("cannot connect: {e}"))),
            }
        }
        let Some(mut ws) = ws else {
            return Err(ConnectionError::KeyRejected(entry.name.clone()));
        };
        info!(source = %self.name, customer = %entry.name, topic = %entry.topic, "connected");
        if let Some(from) = lost_at.take() {
            self.metrics.reconnects.inc();
            let scope = [
                ("customer", entry.name.as_str()),
                ("topic", entry.topic.as_str()),
            ];
            let gap = Gap {
                scope: &scope,
                from,
                to: Timestamp::now(),
                reason: "reconnected; Central keeps no replay",
            };
            self.out
                .send(vec![gap.into_event(&self.name)])
                .await
                .map_err(|e| ConnectionError::Transient(e.to_string()))?;
        }
        let mut builder = EventBuilder::new(
            shared.decoder.clone(),
            self.name.clone(),
            entry.topic,
            s.split,
        )
        .render_json(s.render_json);
        let origin = format!("aruba.{}", entry.topic);
        let mut ping = tokio::time::interval(s.ping_interval);
        let mut last_heard = Instant::now();
        let mut received_any = false;
        let reason = loop {
            let message = tokio::select! {
                _ = self.shutdown.cancelled() => {
                    let _ = ws.close(None).await;
                    return Ok(received_any);
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > s.idle_timeout {
                        break format!("no frame or pong for {:?}", s.idle_timeout);
                    }
                    if let Err(e) = ws.send(Message::Ping(Bytes::new())).await {
                        break format!("ping failed: {e}");
                    }
                    continue;
                }
                message = ws.next() => message,
            };
            last_heard = Instant::now();
            let frame = match message {
                Some(Ok(Message::Binary(frame))) => frame,
                Some(Ok(Message::Close(_))) | None => break "closed by the server".to_string(),
                Some(Ok(_)) => continue,
                Some(Err(e)) => break format!("connection error: {e}"),
            };
            received_any = true;
            self.metrics.events_in.inc();
            self.metrics.bytes_in.inc_by(frame.len() as u64);
            let events = match builder.events(frame.clone(), Timestamp::now()) {
                Ok(events) => events,
                Err(e) => {
                    self.metrics.dead_letters.inc();
                    vec![dead_letter(&self.name, &origin, &e.to_string(), frame)]
                }
            };
            self.out
                .send(events)
                .await
                .map_err(|e| ConnectionError::Transient(e.to_string()))?;
        };
        warn!(source = %self.name, customer = %entry.name, topic = %entry.topic, "disconnected: {reason}");
        *lost_at = Some(Timestamp::now());
        Ok(received_any)
    }
}
