//! Connections to Central: one task per (customer, topic) that validates the
//! key, connects, reads frames into events, and on close, error or silence
//! reconnects as the shared toolkit says ([`netpipe_connect::Reconnect`]:
//! backoff with jitter, `auth_retry` after a rejected key), emitting a gap
//! event for the time it was away. Keys are [`Secret`]s: never in logs or
//! errors.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt as _, SinkExt, StreamExt};
use netpipe_connect::reconnect::sleep_unless_shutdown;
use netpipe_connect::{Ending, Reconnect, TlsOptions, with_causes};
use netpipe_core::event::dead_letter;
use netpipe_core::{
    BoxError, Event, Secret, Source, SourceContext, SourceSender, Timestamp, async_trait,
};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};
use tracing::info;

use crate::decode::Decoder;
use crate::events::EventBuilder;
use crate::topic::Topic;

/// Most frames, and bytes of frames, in one run: frames that arrived
/// together are decoded and sent on together, up to these. The bytes bound
/// what a chunk of dense frames holds once decoded.
const MAX_RUN_FRAMES: usize = 256;
const MAX_RUN_BYTES: usize = 512 * 1024;

/// Runs of frames read but not yet decoded, per connection (besides one
/// decoding on each of the runtime's cores): enough for the reading to stay
/// ahead of the decoding, few enough to bound memory.
const DECODE_QUEUE: usize = 2;

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection's worth of configuration: a customer and a topic.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub username: Option<String>,
    pub key: Secret,
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
    pub tls_options: TlsOptions,
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
        self.tls_options.warn_if_insecure(&cx.name);
        let http = TlsOptions::http_client(&self.tls)
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

#[derive(Clone)]
struct Connection {
    name: Arc<str>,
    out: SourceSender,
    shutdown: tokio_util::sync::CancellationToken,
    metrics: netpipe_core::metrics::ComponentMetrics,
}

impl Connection {
    async fn run(self, mut entry: Entry, shared: Arc<Shared>) -> Result<(), BoxError> {
        let s = &shared.source;
        let mut reconnect = Reconnect::new(s.max_backoff, s.auth_retry);
        while !self.shutdown.is_cancelled() {
            let Some(ending) = self
                .connect_and_read(&mut entry, &shared, &mut reconnect)
                .await
            else {
                break;
            };
            let what = format!(
                "source `{}`, customer `{}`, topic `{}`",
                self.name, entry.name, entry.topic
            );
            let wait = reconnect.wait_after(&ending, &what, &self.metrics);
            if !sleep_unless_shutdown(wait, &self.shutdown).await {
                break;
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
            .header("Authorization", entry.key.expose())
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
        if token != entry.key.expose() {
            info!(source = %self.name, customer = %entry.name, "received a renewed streaming key");
            entry.key = Secret::new(token);
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

    /// One connection, until it ends (how) or the pipeline stops (`None`).
    async fn connect_and_read(
        &self,
        entry: &mut Entry,
        shared: &Shared,
        reconnect: &mut Reconnect,
    ) -> Option<Ending> {
        match self.read(entry, shared, reconnect).await {
            Ok(ending) => ending,
            Err(e @ (ConnectionError::KeyRejected(_) | ConnectionError::Unsubscribed { .. })) => {
                Some(Ending::Rejected(e.to_string()))
            }
            Err(ConnectionError::Transient(e)) => Some(Ending::Failed(e)),
        }
    }

    async fn read(
        &self,
        entry: &mut Entry,
        shared: &Shared,
        reconnect: &mut Reconnect,
    ) -> Result<Option<Ending>, ConnectionError> {
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
            headers.insert("Authorization", header(entry.key.expose())?);
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
        let scope = [
            ("customer", entry.name.as_str()),
            ("topic", entry.topic.as_str()),
        ];
        let reason = "reconnected; Central keeps no replay";
        if let Some(gap) = reconnect.gap(&self.name, &scope, reason, &self.metrics) {
            self.out
                .send(vec![gap])
                .await
                .map_err(|e| ConnectionError::Transient(e.to_string()))?;
        }
        let builder = EventBuilder::new(
            shared.decoder.clone(),
            self.name.clone(),
            entry.topic,
            s.split,
        )
        .render_json(s.render_json);
        let (frames, decoding) = self.decode_beside(builder, format!("aruba.{}", entry.topic));
        let ending = self.read_frames(&mut ws, frames, s).await;
        // Every frame read is decoded and sent on before the connection is
        // over, whatever ended it: the next one's gap event comes after them.
        match decoding.await {
            Ok(Ok(())) => Ok(ending),
            Ok(Err(e)) => Err(ConnectionError::Transient(e)),
            Err(e) => Err(ConnectionError::Transient(format!(
                "the decoding task failed: {e}"
            ))),
        }
    }

    /// A task that decodes the runs of frames sent to it and sends their
    /// events on, in order: frames are checked (or rendered) on every core
    /// of the runtime, a run on each, while the socket is read.
    fn decode_beside(
        &self,
        builder: EventBuilder,
        origin: String,
    ) -> (mpsc::Sender<Vec<Bytes>>, JoinHandle<Result<(), String>>) {
        let (frames, mut runs) = mpsc::channel::<Vec<Bytes>>(DECODE_QUEUE);
        let connection = self.clone();
        let origin: Arc<str> = origin.into();
        let decoders = tokio::runtime::Handle::current().metrics().num_workers();
        let decoding = tokio::spawn(async move {
            // Builders not decoding, and runs decoding in the order they came.
            let mut idle = vec![builder; decoders.max(1)];
            let mut decoding: VecDeque<JoinHandle<(EventBuilder, Vec<Event>)>> = VecDeque::new();
            let mut open = true;
            while open || !decoding.is_empty() {
                tokio::select! {
                    biased;
                    done = async { decoding.front_mut().expect("a run decoding").await },
                        if !decoding.is_empty() =>
                    {
                        decoding.pop_front();
                        let (builder, events) = done.map_err(|e| e.to_string())?;
                        idle.push(builder);
                        connection.out.send(events).await.map_err(|e| e.to_string())?;
                    }
                    run = runs.recv(), if open && !idle.is_empty() => {
                        let Some(run) = run else {
                            open = false;
                            continue;
                        };
                        let mut builder = idle.pop().expect("an idle builder");
                        let (connection, origin) = (connection.clone(), origin.clone());
                        decoding.push_back(tokio::spawn(async move {
                            let mut events = Vec::with_capacity(run.len());
                            for frame in run {
                                connection.frame_events(&mut builder, &origin, frame, &mut events);
                            }
                            (builder, events)
                        }));
                    }
                }
            }
            Ok(())
        });
        (frames, decoding)
    }

    /// Reads frames until the connection ends (how) or the pipeline stops
    /// (`None`), handing each run of frames that arrived together to `frames`.
    async fn read_frames(
        &self,
        ws: &mut WebSocket,
        frames: mpsc::Sender<Vec<Bytes>>,
        s: &ArubaSource,
    ) -> Option<Ending> {
        let mut ping = tokio::time::interval(s.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut received_any = false;
        let reason = loop {
            let message = tokio::select! {
                _ = self.shutdown.cancelled() => {
                    let _ = ws.close(None).await;
                    return None;
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
            // The frames that have arrived by now make one run: one send,
            // one chunk, however many frames the socket holds.
            let mut run = Vec::new();
            let mut run_bytes = 0;
            let mut next = Some(message);
            let mut ended = None;
            while let Some(message) = next.take() {
                match message {
                    Some(Ok(Message::Binary(frame))) => {
                        run_bytes += frame.len();
                        run.push(frame);
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        ended = Some("closed by the server".to_string());
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        ended = Some(format!("connection error: {e}"));
                        break;
                    }
                }
                if run.len() < MAX_RUN_FRAMES && run_bytes < MAX_RUN_BYTES {
                    next = ws.next().now_or_never();
                }
            }
            received_any |= !run.is_empty();
            if !run.is_empty() && frames.send(run).await.is_err() {
                // The decoding task ended: its error says why.
                break "the pipeline stopped taking events".to_string();
            }
            // A send that waited was the pipeline's back-pressure, not the
            // server's silence: the idle clock starts after it.
            last_heard = Instant::now();
            if let Some(reason) = ended {
                break reason;
            }
        };
        Some(Ending::Ended {
            reason,
            delivered: received_any,
        })
    }

    /// The events of `frame`, or its dead letter, appended to `events`.
    fn frame_events(
        &self,
        builder: &mut EventBuilder,
        origin: &str,
        frame: Bytes,
        events: &mut Vec<Event>,
    ) {
        self.metrics.events_in.inc();
        self.metrics.bytes_in.inc_by(frame.len() as u64);
        match builder.events(frame.clone(), Timestamp::now()) {
            Ok(built) => events.extend(built),
            Err(e) => {
                self.metrics.dead_letters.inc();
                events.push(dead_letter(&self.name, origin, &e.to_string(), frame));
            }
        }
    }
}
