//! `netpipe simulate aruba`: a stand-in for Central's streaming service on
//! loopback, for tests, demos and benchmarks. It serves the WebSocket
//! endpoint (checking the `Authorization` and `Topic` headers) and the
//! key-validation endpoint on one port, streams realistic frames of every
//! topic, and on request drops connections, sends malformed frames, renews
//! a key or refuses a topic. `GET /stats` says what it has sent.

mod command;
pub mod fill;
mod preframed;

pub use command::simulator;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::topic::Topic;
use fill::FrameMaker;
use preframed::Preframed;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The streaming key it accepts.
    pub key: String,
    /// An old key that validation renews to `key` (and that the WebSocket refuses with 401).
    pub renew_from: Option<String>,
    /// After this many messages of a topic in all, Central renews the key
    /// mid-session: connections close, `key` becomes an old key that the
    /// WebSocket refuses with 401 and validation renews to `<key>-renewed`.
    pub renew_after: Option<u64>,
    /// Messages per second per connection; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Close each connection after this many messages.
    pub drop_every: Option<u64>,
    /// Every Nth message is a malformed frame.
    pub malformed_every: Option<u64>,
    /// After N messages a connection goes dead without closing: nothing is
    /// sent or read (pings go unanswered), as a server that hung would.
    pub silent_after: Option<u64>,
    /// Stop sending a topic after this many messages of it in all (connections stay open, silent).
    pub count: Option<u64>,
    /// Stream frames in a mix of sizes ([`mixed_frames`]) rather than dense ones.
    pub mixed: bool,
    /// Topics answered with `400 Unsubscribed Topic`.
    pub unsubscribed: Vec<Topic>,
    /// Serve HTTPS and `wss://` with this certificate instead of plain text.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            key: "sim-key".into(),
            renew_from: None,
            renew_after: None,
            rate: None,
            drop_every: None,
            malformed_every: None,
            silent_after: None,
            count: None,
            mixed: false,
            unsubscribed: Vec::new(),
            tls: None,
        }
    }
}

/// What the simulator has done, for tests to compare against.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames: AtomicU64,
    pub malformed: AtomicU64,
    pub connections: AtomicU64,
    pub validations: AtomicU64,
}

impl Stats {
    fn json(&self) -> String {
        format!(
            r#"{{"frames":{},"malformed":{},"connections":{},"validations":{}}}"#,
            self.frames.load(Ordering::SeqCst),
            self.malformed.load(Ordering::SeqCst),
            self.connections.load(Ordering::SeqCst),
            self.validations.load(Ordering::SeqCst)
        )
    }
}

/// Distinct frames made per topic at start; streaming cycles through them.
const FRAMES_PER_TOPIC: u64 = 32;

/// Frames written at a time when streaming as fast as possible.
const UNPACED_RUN: u64 = 64;

/// Realistic frames of a topic, as the simulator streams them: dense, every
/// repeated field with three elements.
pub fn sample_frames(topic: Topic, n: u64) -> Vec<Bytes> {
    frames_of(topic, n, |_| fill::ELEMENTS)
}

/// Frames of a topic in a mix of sizes, as traffic has them: the repeated
/// fields of one frame in four have no element, of the next one, then two,
/// then three.
pub fn mixed_frames(topic: Topic, n: u64) -> Vec<Bytes> {
    frames_of(topic, n, |seq| seq % (fill::ELEMENTS + 1))
}

fn frames_of(topic: Topic, n: u64, elements: impl Fn(u64) -> u64) -> Vec<Bytes> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    (0..n)
        .map(|seq| {
            let maker = FrameMaker::new(topic).with_elements(elements(seq));
            Bytes::from(maker.frame(seq, now))
        })
        .collect()
}

struct State {
    config: SimulatorConfig,
    /// The key was renewed mid-session ([`SimulatorConfig::renew_after`]).
    renewed: std::sync::atomic::AtomicBool,
    stats: Arc<Stats>,
    frames: HashMap<Topic, Vec<Bytes>>,
    /// The frames framed once, when streams are unpaced and faultless.
    preframed: HashMap<Topic, Preframed>,
    sent: HashMap<Topic, AtomicU64>,
}

impl SimulatorConfig {
    /// Streams go out as fast as the socket takes them, every frame as it
    /// was made: nothing to decide frame by frame.
    fn unpaced_and_faultless(&self) -> bool {
        self.rate.is_none()
            && self.drop_every.is_none()
            && self.malformed_every.is_none()
            && self.silent_after.is_none()
            && self.renew_after.is_none()
    }
}

type Body = Full<Bytes>;

fn reply(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

/// Serves until the listener fails; returns the stats handle at once via `stats`.
pub async fn serve(
    listener: TcpListener,
    config: SimulatorConfig,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let make = match config.mixed {
        true => mixed_frames,
        false => sample_frames,
    };
    let frames: HashMap<Topic, Vec<Bytes>> = Topic::ALL
        .into_iter()
        .map(|t| (t, make(t, FRAMES_PER_TOPIC)))
        .collect();
    let preframed = match config.unpaced_and_faultless() {
        true => frames
            .iter()
            .map(|(topic, frames)| (*topic, Preframed::new(frames, UNPACED_RUN)))
            .collect(),
        false => HashMap::new(),
    };
    let sent = Topic::ALL
        .into_iter()
        .map(|t| (t, AtomicU64::new(0)))
        .collect();
    let state = Arc::new(State {
        config,
        renewed: Default::default(),
        stats,
        frames,
        preframed,
        sent,
    });
    let acceptor = state.config.tls.clone().map(TlsAcceptor::from);
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                // A failed handshake (an untrusting client) ends that connection only.
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, state).await;
                    }
                }
                None => serve_connection(stream, state).await,
            }
        });
    }
}

async fn serve_connection<S>(stream: S, state: Arc<State>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(request, state)) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

fn handle(request: Request<Incoming>, state: Arc<State>) -> Response<Body> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization").unwrap_or_default();
    let config = &state.config;
    // The key streams take, and those validation renews to it.
    let renewed = state.renewed.load(Ordering::SeqCst);
    let key = match renewed {
        true => format!("{}-renewed", config.key),
        false => config.key.clone(),
    };
    let renewable =
        |k: &str| config.renew_from.as_deref() == Some(k) || (renewed && k == config.key);
    match request.uri().path() {
        "/stats" => reply(StatusCode::OK, &state.stats.json()),
        "/streaming/token/validate" => {
            state.stats.validations.fetch_add(1, Ordering::SeqCst);
            if authorization == key || renewable(&authorization) {
                reply(StatusCode::OK, &format!(r#"{{"token":"{key}"}}"#))
            } else {
                reply(StatusCode::UNAUTHORIZED, "Unauthorized\n")
            }
        }
        "/streaming/api" => {
            if authorization != key {
                return reply(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            }
            let topic = match header("topic").as_deref().map(str::parse::<Topic>) {
                Some(Ok(topic)) if !config.unsubscribed.contains(&topic) => topic,
                _ => return reply(StatusCode::BAD_REQUEST, "Unsubscribed Topic\n"),
            };
            let Some(key) = header("sec-websocket-key") else {
                return reply(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade\n");
            };
            let accept = derive_accept_key(key.as_bytes());
            tokio::spawn(stream_frames(request, state.clone(), topic));
            let mut response = reply(StatusCode::SWITCHING_PROTOCOLS, "");
            let headers = response.headers_mut();
            headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(&accept) {
                headers.insert(SEC_WEBSOCKET_ACCEPT, v);
            }
            response
        }
        _ => reply(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn stream_frames(request: Request<Incoming>, state: Arc<State>, topic: Topic) {
    let Ok(upgraded) = hyper::upgrade::on(request).await else {
        return;
    };
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    state.stats.connections.fetch_add(1, Ordering::SeqCst);
    // Written past tungstenite, which has written and read nothing yet; what
    // follows (pongs, a close) goes through it as usual.
    if let Some(preframed) = state.preframed.get(&topic) {
        let (sent, frames) = (&state.sent[&topic], &state.stats.frames);
        if !preframed
            .stream(ws.get_mut(), sent, state.config.count, frames)
            .await
        {
            return;
        }
    }
    let (mut sink, mut incoming) = ws.split();
    // Read so pings are answered and a client close is noticed.
    let mut reader = tokio::spawn(async move { while let Some(Ok(_)) = incoming.next().await {} });
    let config = &state.config;
    let frames = &state.frames[&topic];
    let mut ticker = config
        .rate
        .map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r)));
    let mut sent = 0u64;
    let renewed_at_start = state.renewed.load(Ordering::SeqCst);
    loop {
        let total = state.sent[&topic].fetch_add(1, Ordering::SeqCst) + 1;
        if config.count.is_some_and(|c| total > c) {
            // Stay connected and silent, as a quiet Central would.
            let _ = sink.flush().await;
            let _ = reader.await;
            return;
        }
        if let Some(t) = &mut ticker {
            t.tick().await;
        }
        sent += 1;
        let malformed = config
            .malformed_every
            .is_some_and(|n| total.is_multiple_of(n));
        let frame = if malformed {
            Bytes::from_static(b"\x12\x0amonitoring\x1a\xff\xff\xff\x0f\x01")
        } else {
            frames[(total % frames.len() as u64) as usize].clone()
        };
        // Paced frames go out one by one; unpaced ones are written a run at
        // a time, so that a benchmark measures the client, not the writes.
        let flush = ticker.is_some() || sent.is_multiple_of(UNPACED_RUN);
        let written = match flush {
            true => sink.send(Message::Binary(frame)).await,
            false => sink.feed(Message::Binary(frame)).await,
        };
        if written.is_err() {
            break;
        }
        let counter = if malformed {
            &state.stats.malformed
        } else {
            &state.stats.frames
        };
        counter.fetch_add(1, Ordering::SeqCst);
        if config.renew_after == Some(total) {
            state.renewed.store(true, Ordering::SeqCst);
        }
        // Connections made with the old key close when it is renewed.
        let renewed = !renewed_at_start && state.renewed.load(Ordering::SeqCst);
        if renewed || config.drop_every.is_some_and(|n| sent.is_multiple_of(n)) {
            let _ = sink.close().await;
            break;
        }
        if config.silent_after.is_some_and(|n| sent >= n) {
            // Hung: no frames, no reading (so no pongs), no close.
            let _ = sink.flush().await;
            reader.abort();
            std::future::pending::<()>().await;
        }
    }
    // A graceful close: wait for the client's close reply, so the socket is
    // not reset under frames the client has yet to read.
    if tokio::time::timeout(Duration::from_secs(5), &mut reader)
        .await
        .is_err()
    {
        reader.abort();
    }
}
