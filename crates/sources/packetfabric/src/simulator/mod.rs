//! `netpipe simulate packetfabric`: the streaming-events API on loopback.
//! Login and logout, API-key auth, subscription bundles (validating types
//! and events), an SSE stream of every event kind with realistic values and
//! heartbeats, and on request: closing streams every N events, expiring
//! bundles, malformed data lines. `GET /stats` says what it did.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;

use crate::kinds::{self, PORT_EVENTS, REQUESTABLE_CUSTOMER, Type, VC_EVENTS};

mod command;

pub use command::simulator;

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub api_key: String,
    pub login: String,
    pub password: String,
    /// A login whose account requires MFA.
    pub mfa_login: String,
    /// Events per second per stream; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Events in all, then only heartbeats.
    pub count: Option<u64>,
    /// End each stream after this many events (as the 2-hour cap does).
    pub close_every: Option<u64>,
    /// Every Nth event's data is not JSON.
    pub malformed_every: Option<u64>,
    /// A bundle may be streamed this many times; then it answers 404.
    pub expire_after: Option<u64>,
    /// Logged-in sessions end when a stream does (`close_every`): the next
    /// request with their token is answered 401, as after a session timeout.
    pub end_sessions: bool,
    pub heartbeat: Duration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            api_key: "sim-api-key".into(),
            login: "sim-user".into(),
            password: "sim-password".into(),
            mfa_login: "mfa-user".into(),
            rate: None,
            count: None,
            close_every: None,
            malformed_every: None,
            expire_after: None,
            end_sessions: false,
            heartbeat: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub events: AtomicU64,
    pub malformed: AtomicU64,
    pub subscriptions: AtomicU64,
    pub streams: AtomicU64,
    pub logins: AtomicU64,
    pub logouts: AtomicU64,
}

struct Subscription {
    kinds: Vec<(String, String)>,
    streams: u64,
}

struct State {
    config: SimulatorConfig,
    stats: Arc<Stats>,
    sessions: Mutex<HashSet<String>>,
    subscriptions: Mutex<HashMap<String, Subscription>>,
    sent: AtomicU64,
}

type Body = BoxBody<Bytes, Infallible>;

fn reply(status: StatusCode, body: Json) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    r
}

fn new_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A realistic `data` object for a kind, the `n`th of its stream.
pub fn sample(stream_type: &str, category: &str, n: u64) -> Json {
    let now = chrono::Utc::now();
    let timestamp = match n % 3 {
        0 => now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        1 => now.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
        _ => now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
    };
    let kind = kinds::all()
        .into_iter()
        .find(|k| k.stream_type == stream_type && k.category == category);
    let mut data = serde_json::Map::new();
    for (name, t) in kind.map(|k| k.fields).unwrap_or_default() {
        let value = match (name.as_str(), t) {
            ("timestamp", _) => json!(timestamp),
            ("port_circuit_id", _) => json!(format!("PF-AP-LAB{}-{}", n % 3 + 1, 2999387 + n % 5)),
            ("vc_circuit_id", _) => json!(format!("PF-BC-ABC-QRS-{}-PF", 84274 + n % 4)),
            ("vlan", _) if n.is_multiple_of(2) => json!((100 + n % 50).to_string()),
            ("vlan", _) => json!(100 + n % 50),
            ("user", _) => json!(if n.is_multiple_of(4) {
                "system"
            } else {
                "hank.aaron"
            }),
            ("log_level", _) => json!(["info", "notice", "warning", "error"][n as usize % 4]),
            ("category", _) => json!(category),
            ("event", _) => json!(["login", "update", "create", "delete"][n as usize % 4]),
            ("message", _) => json!(format!("{category} change #{n} by hank.aaron")),
            (_, Type::Int) => json!(n.wrapping_mul(1_000_003) % 9_000_000_000),
            (_, Type::Float) => json!(-2.5 + (n % 100) as f64 * 0.05),
            (_, _) => json!(format!("{name}-{n}")),
        };
        data.insert(name, value);
    }
    if stream_type == "customer" && category == "auth" {
        data.insert(
            "ip_address".into(),
            json!(format!("192.0.2.{}", n % 250 + 1)),
        );
    }
    Json::Object(data)
}

fn allowed(stream_type: &str) -> Option<&'static [&'static str]> {
    match stream_type {
        "customer" => Some(&REQUESTABLE_CUSTOMER),
        "port" => Some(&PORT_EVENTS),
        "vc" => Some(&VC_EVENTS),
        _ => None,
    }
}

/// The kinds a bundle request asks for, or why it is refused.
fn kinds_of(body: &Json) -> Result<Vec<(String, String)>, String> {
    let streams = body
        .get("streams")
        .and_then(Json::as_array)
        .ok_or("`streams` is required")?;
    let mut out = Vec::new();
    for s in streams {
        let t = s
            .get("type")
            .and_then(Json::as_str)
            .ok_or("each stream needs a `type`")?;
        let all = allowed(t).ok_or_else(|| format!("invalid stream type `{t}`"))?;
        let events: Vec<String> = match s.get("events").and_then(Json::as_array) {
            Some(e) => e
                .iter()
                .filter_map(Json::as_str)
                .map(String::from)
                .collect(),
            None => all.iter().map(|e| e.to_string()).collect(),
        };
        if let Some(bad) = events.iter().find(|e| !all.contains(&e.as_str())) {
            return Err(format!("invalid event `{bad}` for stream type `{t}`"));
        }
        out.extend(events.into_iter().map(|e| (t.to_string(), e)));
    }
    Ok(out)
}

pub async fn serve(
    listener: TcpListener,
    config: SimulatorConfig,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let state = Arc::new(State {
        config,
        stats,
        sessions: Mutex::default(),
        subscriptions: Mutex::default(),
        sent: AtomicU64::new(0),
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(request, state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, state: Arc<State>) -> Response<Body> {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let authorized = token == state.config.api_key
        || state
            .sessions
            .lock()
            .map(|s| s.contains(&token))
            .unwrap_or(false);
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let stats = &state.stats;
    match (method, path.as_str()) {
        (Method::GET, "/stats") => reply(
            StatusCode::OK,
            json!({
                "events": stats.events.load(Ordering::SeqCst),
                "malformed": stats.malformed.load(Ordering::SeqCst),
                "subscriptions": stats.subscriptions.load(Ordering::SeqCst),
                "streams": stats.streams.load(Ordering::SeqCst),
                "logins": stats.logins.load(Ordering::SeqCst),
                "logouts": stats.logouts.load(Ordering::SeqCst),
            }),
        ),
        (Method::POST, "/v2/auth/login") => {
            let body: Json = body_json(request).await;
            let (login, password) = (
                body["login"].as_str().unwrap_or(""),
                body["password"].as_str().unwrap_or(""),
            );
            let c = &state.config;
            if login == c.mfa_login {
                return reply(
                    StatusCode::OK,
                    json!({ "token": new_id(), "mfa_enabled": true, "mfa_required": true }),
                );
            }
            if login != c.login || password != c.password {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    json!({ "message": "invalid credentials" }),
                );
            }
            let token = new_id();
            if let Ok(mut sessions) = state.sessions.lock() {
                sessions.insert(token.clone());
            }
            stats.logins.fetch_add(1, Ordering::SeqCst);
            reply(
                StatusCode::OK,
                json!({ "token": token, "mfa_enabled": false, "mfa_required": false, "should_sign_eula": false }),
            )
        }
        (Method::GET, "/v2/auth/logout") => {
            let removed = state
                .sessions
                .lock()
                .map(|mut s| s.remove(&token))
                .unwrap_or(false);
            if !removed {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    json!({ "message": "not logged in" }),
                );
            }
            stats.logouts.fetch_add(1, Ordering::SeqCst);
            reply(StatusCode::OK, json!({ "message": "logged out" }))
        }
        (_, _) if !authorized => reply(
            StatusCode::UNAUTHORIZED,
            json!({ "message": "invalid token" }),
        ),
        (Method::POST, "/v2/events") => match kinds_of(&body_json(request).await) {
            Ok(kinds) => {
                let uuid = new_id();
                if let Ok(mut subs) = state.subscriptions.lock() {
                    subs.insert(uuid.clone(), Subscription { kinds, streams: 0 });
                }
                stats.subscriptions.fetch_add(1, Ordering::SeqCst);
                reply(StatusCode::CREATED, json!({ "subscription_uuid": uuid }))
            }
            Err(message) => reply(StatusCode::BAD_REQUEST, json!({ "message": message })),
        },
        (Method::GET, p) if p.starts_with("/v2/events/") => {
            let uuid = p.trim_start_matches("/v2/events/").to_string();
            let kinds = {
                let Ok(mut subs) = state.subscriptions.lock() else {
                    return reply(StatusCode::INTERNAL_SERVER_ERROR, json!({}));
                };
                let expired = match subs.get_mut(&uuid) {
                    None => {
                        return reply(
                            StatusCode::NOT_FOUND,
                            json!({ "message": "unknown or expired subscription" }),
                        );
                    }
                    Some(sub) => {
                        sub.streams += 1;
                        state.config.expire_after.is_some_and(|n| sub.streams > n)
                    }
                };
                if expired {
                    subs.remove(&uuid);
                    return reply(
                        StatusCode::NOT_FOUND,
                        json!({ "message": "subscription expired" }),
                    );
                }
                subs[&uuid].kinds.clone()
            };
            stats.streams.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
            tokio::spawn(produce(state.clone(), kinds, tx));
            let body =
                StreamBody::new(tokio_stream_of(rx).map(|b| Ok::<_, Infallible>(Frame::data(b))));
            let mut r = Response::new(BodyExt::boxed(body));
            r.headers_mut().insert(
                "content-type",
                "text/event-stream".parse().expect("static header"),
            );
            r
        }
        _ => reply(StatusCode::NOT_FOUND, json!({ "message": "not found" })),
    }
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn body_json(request: Request<Incoming>) -> Json {
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Json::Null)
}

/// Writes one stream's SSE messages until the client leaves or `close_every` ends it.
async fn produce(
    state: Arc<State>,
    kinds: Vec<(String, String)>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    let c = &state.config;
    let mut on_this_stream = 0u64;
    let pause = c.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    loop {
        let n = state.sent.fetch_add(1, Ordering::SeqCst) + 1;
        if c.count.is_some_and(|count| n > count) {
            state.sent.fetch_sub(1, Ordering::SeqCst);
            // Quiet, but alive: heartbeats only.
            tokio::time::sleep(c.heartbeat).await;
            if tx.send(Bytes::from_static(b":\n\n")).await.is_err() {
                return;
            }
            continue;
        }
        let (t, category) = &kinds[(n as usize) % kinds.len()];
        let malformed = c.malformed_every.is_some_and(|m| n.is_multiple_of(m));
        let message = if malformed {
            format!("event: {t}|{category}\ndata: {{\"timestamp\": not json\n\n")
        } else {
            let data = sample(t, category, n);
            // Every fifth message spreads its JSON over several data lines.
            let data = if n.is_multiple_of(5) {
                serde_json::to_string_pretty(&data)
                    .unwrap_or_default()
                    .replace('\n', "\ndata: ")
            } else {
                data.to_string()
            };
            format!("event: {t}|{category}\ndata: {data}\n\n")
        };
        if tx.send(Bytes::from(message)).await.is_err() {
            return;
        }
        let counter = if malformed {
            &state.stats.malformed
        } else {
            &state.stats.events
        };
        counter.fetch_add(1, Ordering::SeqCst);
        on_this_stream += 1;
        if c.close_every
            .is_some_and(|e| on_this_stream.is_multiple_of(e))
        {
            if c.end_sessions {
                // Logged-in sessions end with the stream: the next request
                // with their token is answered 401.
                if let Ok(mut sessions) = state.sessions.lock() {
                    sessions.clear();
                }
            }
            return;
        }
        if let Some(pause) = pause {
            if pause > c.heartbeat && tx.send(Bytes::from_static(b":\n\n")).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    }
}
