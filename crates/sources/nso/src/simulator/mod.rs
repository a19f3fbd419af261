//! `netpipe simulate nso`: NSO's RESTCONF northbound on loopback, in NSO's
//! shapes. It lists its streams (`ietf-restconf-monitoring`), with JSON
//! locations under a prefix of its choosing (a client must use the location
//! announced), and serves each as server-sent events: notifications
//! pretty-printed over several `data:` lines as NSO writes them, some sharing
//! an `eventTime`, non-ASCII text split across writes. `ncs-alarms` and
//! `ncs-events` replay from `start-time` (inclusive); `NETCONF` has no
//! replay and answers 400 to it. On request: keepalive comments, streams
//! closed every N notifications, `: error:` comments, malformed data.
//! `GET /stats` says what it did.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use netpipe_core::Timestamp;
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::connect::STREAMS_PATH;

mod command;
mod samples;

pub use command::simulator;

/// Notifications per second per stream when neither a rate nor a count is given.
pub const DEFAULT_RATE: f64 = 10.0;

/// The streams the simulator publishes, and whether each replays.
pub const STREAMS: [(&str, bool); 3] = [
    ("NETCONF", false),
    ("ncs-alarms", true),
    ("ncs-events", true),
];

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub username: String,
    pub password: String,
    /// Notifications per second per stream; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Notifications per stream in all, then silence (and keepalives).
    pub count: Option<u64>,
    /// End each subscription after this many notifications.
    pub close_every: Option<u64>,
    /// Send `: error: ...` and end the subscription after this many notifications.
    pub error_every: Option<u64>,
    /// Every Nth notification's data is not JSON.
    pub malformed_every: Option<u64>,
    /// A `: keepalive` comment whenever a stream was quiet this long.
    pub keepalive: Option<Duration>,
    /// Where the streams' JSON locations are (NSO: `/restconf/streams`).
    pub location_prefix: String,
    /// Generate every stream's notifications (`count` of them) before
    /// serving, and serve them from the first to every subscriber: a
    /// benchmark then measures the client, not the generator.
    pub prefill: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            username: "admin".into(),
            password: "admin".into(),
            rate: None,
            count: None,
            close_every: None,
            error_every: None,
            malformed_every: None,
            keepalive: None,
            location_prefix: "/restconf/streams".into(),
            prefill: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Notifications written to subscribers (replays included).
    pub sent: AtomicU64,
    pub subscriptions: AtomicU64,
    /// Subscriptions with a `start-time` that replayed.
    pub replays: AtomicU64,
    pub refused: AtomicU64,
    pub errors: AtomicU64,
}

/// One stream's notifications so far (its replay log), as SSE messages.
#[derive(Default)]
struct Log {
    entries: Mutex<Vec<(Timestamp, Bytes)>>,
    grew: Notify,
    started: std::sync::OnceLock<()>,
}

struct State {
    config: SimulatorConfig,
    stats: Arc<Stats>,
    authorization: String,
    logs: Vec<(String, bool, Log)>,
}

type Body = BoxBody<Bytes, Infallible>;

pub async fn serve(
    listener: TcpListener,
    config: SimulatorConfig,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let credentials = format!("{}:{}", config.username, config.password);
    let state = Arc::new(State {
        authorization: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ),
        config,
        stats,
        logs: STREAMS
            .iter()
            .map(|(name, replay)| (name.to_string(), *replay, Log::default()))
            .collect(),
    });
    let address = listener.local_addr()?;
    if state.config.prefill && state.config.count.is_some() {
        for index in 0..state.logs.len() {
            let generator = state.clone();
            state.logs[index].2.started.get_or_init(|| ());
            generate(generator, index).await;
        }
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(request, state, address).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: Json) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/yang-data+json".parse().expect("static header"),
    );
    r
}

/// A RESTCONF error reply (RFC 8040 §7.1).
fn error(status: StatusCode, tag: &str, message: &str) -> Response<Body> {
    reply(
        status,
        json!({ "ietf-restconf:errors": { "error": [
            { "error-type": "protocol", "error-tag": tag, "error-message": message }
        ] } }),
    )
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<State>,
    address: std::net::SocketAddr,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    if request.method() == Method::GET && path == "/stats" {
        let s = &state.stats;
        return reply(
            StatusCode::OK,
            json!({
                "sent": s.sent.load(Ordering::SeqCst),
                "subscriptions": s.subscriptions.load(Ordering::SeqCst),
                "replays": s.replays.load(Ordering::SeqCst),
                "refused": s.refused.load(Ordering::SeqCst),
                "errors": s.errors.load(Ordering::SeqCst),
            }),
        );
    }
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(state.authorization.as_str());
    if !authorized {
        state.stats.refused.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::UNAUTHORIZED, "access-denied", "access denied");
    }
    if request.method() == Method::GET && path == STREAMS_PATH {
        return reply(StatusCode::OK, stream_list(&state, address));
    }
    let prefix = format!("{}/", state.config.location_prefix.trim_end_matches('/'));
    let Some(name) = path
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix("/json"))
    else {
        return error(StatusCode::NOT_FOUND, "invalid-value", "no such resource");
    };
    let Some(index) = state.logs.iter().position(|(n, _, _)| n == name) else {
        return error(StatusCode::NOT_FOUND, "invalid-value", "no such stream");
    };
    // Decoded as forms are: a `+` left unencoded would be a space.
    let start_time = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "start-time")
            .map(|(_, value)| value.into_owned())
    });
    let start = match start_time {
        None => None,
        Some(_) if !state.logs[index].1 => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid-value",
                "replay not supported for this stream",
            );
        }
        Some(text) => match Timestamp::parse_rfc3339(&text) {
            Some(t) => Some(t),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-value",
                    &format!("bad start-time: {text}"),
                );
            }
        },
    };
    state.stats.subscriptions.fetch_add(1, Ordering::SeqCst);
    if start.is_some() {
        state.stats.replays.fetch_add(1, Ordering::SeqCst);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(subscription(state.clone(), index, start, tx));
    let mut rx = rx;
    let body = StreamBody::new(
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|b| Ok::<_, Infallible>(Frame::data(b))),
    );
    let mut r = Response::new(BodyExt::boxed(body));
    r.headers_mut().insert(
        "content-type",
        "text/event-stream".parse().expect("static header"),
    );
    r
}

fn stream_list(state: &State, address: std::net::SocketAddr) -> Json {
    let prefix = state.config.location_prefix.trim_end_matches('/');
    let streams: Vec<Json> = state
        .logs
        .iter()
        .map(|(name, replay, _)| {
            let mut stream = json!({
                "name": name,
                "description": format!("the {name} stream"),
                "replay-support": replay,
                "access": [
                    { "encoding": "xml", "location": format!("http://{address}{prefix}/{name}/xml") },
                    { "encoding": "json", "location": format!("http://{address}{prefix}/{name}/json") },
                ],
            });
            if *replay {
                stream["replay-log-creation-time"] = json!("2026-01-01T00:00:00+00:00");
            }
            stream
        })
        .collect();
    json!({ "ietf-restconf-monitoring:streams": { "stream": streams } })
}

/// Generates stream `index`'s notifications into its log, from the first
/// subscription on.
async fn generate(state: Arc<State>, index: usize) {
    let (name, _, log) = &state.logs[index];
    let c = &state.config;
    // Without a count, a rate keeps the replay log from growing unbounded.
    let rate = c.rate.or(c.count.is_none().then_some(DEFAULT_RATE));
    let pause = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut time = Timestamp::now();
    let mut n = 0u64;
    while c.count.is_none_or(|count| n < count) {
        n += 1;
        // Every seventh shares its predecessor's time, as fast events do.
        if !n.is_multiple_of(7) {
            time = Timestamp(time.0 + 1_000);
        }
        let malformed = c.malformed_every.is_some_and(|m| n.is_multiple_of(m));
        let message = if malformed {
            Bytes::from_static(b"data: {\"ietf-restconf:notification\": not json\n\n")
        } else {
            sse_message(&samples::notification(name, n, time))
        };
        {
            let mut entries = log.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.push((time, message));
        }
        log.grew.notify_waiters();
        match pause {
            Some(pause) => tokio::time::sleep(pause).await,
            // As fast as subscribers take them, with a bounded log ahead.
            None => tokio::task::yield_now().await,
        }
    }
}

/// A notification as NSO writes it: pretty-printed, each line a `data:` line.
fn sse_message(notification: &Json) -> Bytes {
    let pretty = serde_json::to_string_pretty(notification).unwrap_or_default();
    let mut out = String::with_capacity(pretty.len() + 64);
    for line in pretty.lines() {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// One subscriber's stream: the replay from `start` (inclusive), then live.
async fn subscription(
    state: Arc<State>,
    index: usize,
    start: Option<Timestamp>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    let (name, _, log) = &state.logs[index];
    {
        let generator = state.clone();
        log.started
            .get_or_init(move || drop(tokio::spawn(generate(generator, index))));
    }
    let c = &state.config;
    let mut next = {
        let entries = log.entries.lock().unwrap_or_else(|e| e.into_inner());
        match start {
            Some(start) => entries.partition_point(|(t, _)| *t < start),
            // Prefilled: what was made before serving is what there is to read.
            None if c.prefill => 0,
            None => entries.len(),
        }
    };
    let mut on_this_subscription = 0u64;
    loop {
        let grew = log.grew.notified();
        let message = {
            let entries = log.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.get(next).map(|(_, m)| m.clone())
        };
        let Some(message) = message else {
            let quiet = c.keepalive.unwrap_or(Duration::from_secs(3600));
            if tokio::time::timeout(quiet, grew).await.is_err()
                && c.keepalive.is_some()
                && tx
                    .send(Bytes::from_static(b": keepalive\n\n"))
                    .await
                    .is_err()
            {
                return;
            }
            continue;
        };
        next += 1;
        if !send_split(&tx, message).await {
            return;
        }
        state.stats.sent.fetch_add(1, Ordering::SeqCst);
        on_this_subscription += 1;
        if c.error_every
            .is_some_and(|e| on_this_subscription.is_multiple_of(e))
        {
            state.stats.errors.fetch_add(1, Ordering::SeqCst);
            let comment =
                format!(": error: notification stream {name} temporarily unavailable\n\n");
            let _ = tx.send(Bytes::from(comment)).await;
            return;
        }
        if c.close_every
            .is_some_and(|e| on_this_subscription.is_multiple_of(e))
        {
            return;
        }
    }
}

/// Sends `message` in two writes, split inside its first multi-byte
/// character when it has one (a client must join UTF-8 across reads).
async fn send_split(tx: &tokio::sync::mpsc::Sender<Bytes>, message: Bytes) -> bool {
    match message.iter().position(|b| *b >= 0x80) {
        Some(at) => {
            tx.send(message.slice(..at + 1)).await.is_ok()
                && tx.send(message.slice(at + 1..)).await.is_ok()
        }
        None => tx.send(message).await.is_ok(),
    }
}
