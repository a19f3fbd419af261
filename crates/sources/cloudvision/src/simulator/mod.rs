//! `netpipe simulate cloudvision`: a CloudVision stand-in speaking gRPC
//! (tonic, h2c or TLS) with the vendor's messages:
//!
//! - `arista.event.v1.EventService/Subscribe`: every event as `INITIAL`
//!   (only those matching a `partial_eq_filter`, OR of ANDs, as CloudVision
//!   filters), `INITIAL_SYNC_COMPLETE`, then updates (acknowledgements) and
//!   a delete, one per `--interval`; `GetAll` ends after the current state;
//! - `RouterV1/GetAndSubscribe`: the `analytics` devices at the path asked
//!   for, NEAT-encoded (nested maps, float32 and float64, a pointer, a map
//!   with an integer key), the `GetRequest: EOF` marker, then a status
//!   change and a delete; a `start` skips what is older;
//! - a token checked on every call (`UNAUTHENTICATED` otherwise);
//! - `--drop-after N` ends each stream with `UNAVAILABLE` after N messages;
//! - `GET /stats` (HTTP/1.1): calls, refusals, messages sent, and each
//!   subscription's filters as JSON.
//!
//! The state lives across connections: a stream dropped and opened again
//! finds the events as its updates left them.

mod command;
mod script;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::body::Body;
use tonic::server::{Grpc, ServerStreamingService};

pub use command::simulator;
use script::{BASE_SECONDS, Devices, Events, time_bytes};

use crate::connector::{self, GetAndSubscribeRequest};
use crate::grpc::RawCodec;
use crate::resource::{self, DELETED, INITIAL, INITIAL_SYNC_COMPLETE};

/// What the simulator serves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub token: String,
    pub events: usize,
    pub updates: usize,
    pub devices: usize,
    pub interval: Duration,
    pub drop_after: Option<u64>,
    /// Directories of `.proto` files for `models`.
    pub proto_path: Vec<std::path::PathBuf>,
    /// Other resource models served, with `events` entities each made from their descriptors.
    pub models: Vec<String>,
}

#[derive(Default)]
struct Stats {
    calls: AtomicU64,
    refused: AtomicU64,
    sent: AtomicU64,
    filters: Mutex<Vec<serde_json::Value>>,
}

struct Shared {
    config: SimulatorConfig,
    events: Events,
    /// `--model`s: the subscribe path, the model, its entities.
    others: Vec<(String, crate::models::Model, Vec<DynamicMessage>)>,
    codec: netpipe_protobuf::Codec,
    /// Each event as it stands (none once deleted), and its last change;
    /// made on first use (a benchmark's state is never updated).
    state: Mutex<Vec<Option<(DynamicMessage, i64)>>>,
    /// Updates applied so far (across connections).
    next_update: Mutex<usize>,
    /// The first state's `INITIAL`s, encoded once: what an unfiltered
    /// subscription before any update sends (benchmarks measure the client).
    first_state: Vec<Bytes>,
    stats: Stats,
}

type Calls = ReceiverStream<Result<Bytes, Status>>;
type Answer = Pin<Box<dyn Future<Output = Result<tonic::Response<Calls>, Status>> + Send>>;

impl Shared {
    fn new(config: SimulatorConfig) -> Result<Arc<Shared>, String> {
        let pool = crate::models::compile(&config.proto_path)?;
        let events = Events::new(&pool, config.events.max(1), config.updates);
        let mut others = Vec::new();
        for name in &config.models {
            let model = crate::models::Model::find(&pool, name)?;
            let entities = (0..config.events)
                .map(|i| script::generic(&model.value, i))
                .collect();
            others.push((model.subscribe_path.clone(), model, entities));
        }
        let first_state = (0..events.count())
            .map(|i| {
                let (entity, at) = events.initial(i);
                initial_response(&entity, at)
            })
            .collect();
        Ok(Arc::new(Shared {
            first_state,
            others,
            codec: netpipe_protobuf::Codec::new(
                &pool,
                netpipe_protobuf::Rules::NONE,
                netpipe_protobuf::Readers::NONE,
            ),
            events,
            config,
            state: Mutex::new(Vec::new()),
            next_update: Mutex::new(0),
            stats: Stats::default(),
        }))
    }

    /// The events as they stand, made from the script on first use.
    fn state(&self) -> std::sync::MutexGuard<'_, Vec<Option<(DynamicMessage, i64)>>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.is_empty() {
            *state = (0..self.events.count())
                .map(|i| Some(self.events.initial(i)))
                .collect();
        }
        state
    }

    fn authorized<T>(&self, request: &tonic::Request<T>) -> Result<(), Status> {
        self.stats.calls.fetch_add(1, Ordering::SeqCst);
        let expected = format!("Bearer {}", self.config.token);
        match request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some(given) if given == expected => Ok(()),
            _ => {
                self.stats.refused.fetch_add(1, Ordering::SeqCst);
                Err(Status::unauthenticated("invalid token"))
            }
        }
    }

    /// The filters of a `<model>StreamRequest`, recorded as JSON.
    fn filters(
        &self,
        model: &prost_reflect::MessageDescriptor,
        request: &[u8],
    ) -> Result<Vec<DynamicMessage>, Status> {
        let request_type = model
            .parent_pool()
            .get_message_by_name(&format!("{}StreamRequest", model.full_name()))
            .ok_or_else(|| Status::unimplemented("no request type"))?;
        let read = DynamicMessage::decode(request_type, request)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let filters: Vec<DynamicMessage> = read
            .get_field_by_name("partial_eq_filter")
            .and_then(|l| {
                l.as_list()
                    .map(|l| l.iter().filter_map(|v| v.as_message().cloned()).collect())
            })
            .unwrap_or_default();
        let index = self.codec.index_of(model.full_name()).expect("indexed");
        let as_json: Vec<serde_json::Value> = filters
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                let _ = self.codec.write_json(index, &f.encode_to_vec(), &mut out);
                serde_json::from_slice(&out).unwrap_or_default()
            })
            .collect();
        self.stats
            .filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(json!(as_json));
        Ok(filters)
    }
}

/// `entity` as an `INITIAL` response changed at `seconds`.
fn initial_response(entity: &DynamicMessage, seconds: i64) -> Bytes {
    let time = time_bytes(seconds);
    Bytes::from(resource::encode_response(
        &entity.encode_to_vec(),
        Some(&time),
        INITIAL,
    ))
}

/// Whether `entity` equals every field `filter` sets, for one of `filters`.
fn passes(entity: &DynamicMessage, filters: &[DynamicMessage]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            f.fields()
                .all(|(field, value)| entity.get_field(&field).as_ref() == value)
        })
}

/// Sends responses until the stream's end or its `--drop-after`.
struct Sender {
    tx: mpsc::Sender<Result<Bytes, Status>>,
    sent: u64,
    drop_after: Option<u64>,
    shared: Arc<Shared>,
}

impl Sender {
    /// False once the client is gone or the stream was dropped.
    async fn send(&mut self, message: impl Into<Bytes>) -> bool {
        if self.drop_after.is_some_and(|n| self.sent >= n) {
            let _ = self
                .tx
                .send(Err(Status::unavailable("stream dropped by the simulator")))
                .await;
            return false;
        }
        self.sent += 1;
        self.shared.stats.sent.fetch_add(1, Ordering::SeqCst);
        self.tx.send(Ok(message.into())).await.is_ok()
    }
}

impl Sender {
    /// Sends a state: its `INITIAL`s, then the sync marker.
    async fn state(&mut self, initial: Vec<Bytes>) -> bool {
        for response in initial {
            if !self.send(response).await {
                return false;
            }
        }
        let mut sync = Vec::new();
        prost::encoding::int32::encode(3, &INITIAL_SYNC_COMPLETE, &mut sync);
        self.send(sync).await
    }
}

/// A call's answer: what `body`, on a task of its own, sends.
fn streaming<Fut>(shared: &Arc<Shared>, body: impl FnOnce(Sender) -> Fut) -> tonic::Response<Calls>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let out = Sender {
        tx,
        sent: 0,
        drop_after: shared.config.drop_after,
        shared: shared.clone(),
    };
    tokio::spawn(body(out));
    tonic::Response::new(ReceiverStream::new(rx))
}

#[derive(Clone)]
struct EventCall {
    shared: Arc<Shared>,
    subscribe: bool,
}

impl ServerStreamingService<Bytes> for EventCall {
    type Response = Bytes;
    type ResponseStream = Calls;
    type Future = Answer;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Answer {
        let (shared, subscribe) = (self.shared.clone(), self.subscribe);
        Box::pin(async move {
            shared.authorized(&request)?;
            let filters = shared.filters(shared.events.model(), request.get_ref())?;
            Ok(streaming(&shared.clone(), |mut out| async move {
                let untouched = filters.is_empty()
                    && *shared.next_update.lock().unwrap_or_else(|e| e.into_inner()) == 0;
                let initial: Vec<Bytes> = if untouched {
                    shared.first_state.clone()
                } else {
                    let state = shared.state();
                    state
                        .iter()
                        .flatten()
                        .filter(|(e, _)| passes(e, &filters))
                        .map(|(entity, at)| initial_response(entity, *at))
                        .collect()
                };
                if !out.state(initial).await || !subscribe {
                    return;
                }
                loop {
                    tokio::time::sleep(shared.config.interval).await;
                    let next = {
                        let mut next = shared.next_update.lock().unwrap_or_else(|e| e.into_inner());
                        (*next < shared.events.updates()).then(|| {
                            *next += 1;
                            *next - 1
                        })
                    };
                    let Some(u) = next else {
                        // Nothing more: the stream stays open, quiet.
                        out.tx.closed().await;
                        return;
                    };
                    let (i, patch, operation, at) = shared.events.update(u);
                    let matched = {
                        let mut state = shared.state();
                        let matched = state[i].as_ref().is_some_and(|(e, _)| passes(e, &filters));
                        if operation == DELETED {
                            state[i] = None;
                        } else if let Some((entity, time)) = &mut state[i] {
                            let _ = entity.merge(patch.encode_to_vec().as_slice());
                            *time = at;
                        }
                        matched
                    };
                    let response = resource::encode_response(
                        &patch.encode_to_vec(),
                        Some(&time_bytes(at)),
                        operation,
                    );
                    if matched && !out.send(response).await {
                        return;
                    }
                }
            }))
        })
    }
}

/// A `--model`'s Subscribe: its entities as `INITIAL`, the sync, then quiet.
#[derive(Clone)]
struct ModelCall {
    shared: Arc<Shared>,
    model: usize,
}

impl ServerStreamingService<Bytes> for ModelCall {
    type Response = Bytes;
    type ResponseStream = Calls;
    type Future = Answer;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Answer {
        let (shared, model) = (self.shared.clone(), self.model);
        Box::pin(async move {
            shared.authorized(&request)?;
            let (_, served, entities) = &shared.others[model];
            let filters = shared.filters(&served.value, request.get_ref())?;
            let initial: Vec<Bytes> = entities
                .iter()
                .enumerate()
                .filter(|(_, e)| passes(e, &filters))
                .map(|(i, e)| initial_response(e, BASE_SECONDS + i as i64))
                .collect();
            Ok(streaming(&shared, |mut out| async move {
                if out.state(initial).await {
                    out.tx.closed().await;
                }
            }))
        })
    }
}

#[derive(Clone)]
struct RouterCall {
    shared: Arc<Shared>,
}

impl ServerStreamingService<Bytes> for RouterCall {
    type Response = Bytes;
    type ResponseStream = Calls;
    type Future = Answer;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Answer {
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.authorized(&request)?;
            let read = GetAndSubscribeRequest::decode(request.get_ref().clone())
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let query = read
                .query
                .first()
                .ok_or_else(|| Status::invalid_argument("no query"))?;
            let dataset = query
                .dataset
                .clone()
                .ok_or_else(|| Status::invalid_argument("no dataset"))?;
            let path = query
                .paths
                .first()
                .map(|p| p.path_elements.clone())
                .unwrap_or_default();
            let start = read.start;
            let devices = Devices {
                count: shared.config.devices.max(1),
            };
            let interval = shared.config.interval;
            Ok(streaming(&shared, |mut out| async move {
                let newer = |n: &connector::Notification| {
                    n.timestamp
                        .as_ref()
                        .is_some_and(|t| (t.seconds as u64) * 1_000_000_000 >= start)
                };
                let mut current = vec![devices.current(&path)];
                current.retain(newer);
                if !out
                    .send(Devices::batch(&dataset, current, false).encode_to_vec())
                    .await
                    || !out
                        .send(Devices::batch(&dataset, Vec::new(), true).encode_to_vec())
                        .await
                {
                    return;
                }
                for n in 0.. {
                    let Some(live) = devices.live(n, &path) else {
                        break;
                    };
                    tokio::time::sleep(interval).await;
                    if newer(&live)
                        && !out
                            .send(Devices::batch(&dataset, vec![live], false).encode_to_vec())
                            .await
                    {
                        return;
                    }
                }
                out.tx.closed().await;
            }))
        })
    }
}

/// The simulator as one HTTP service: the gRPC calls by path, and `/stats`.
#[derive(Clone)]
struct Service {
    shared: Arc<Shared>,
}

impl tower::Service<http::Request<Body>> for Service {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec);
            Ok(match request.uri().path() {
                "/stats" => {
                    let stats = &shared.stats;
                    let body = json!({
                        "calls": stats.calls.load(Ordering::SeqCst),
                        "refused": stats.refused.load(Ordering::SeqCst),
                        "sent": stats.sent.load(Ordering::SeqCst),
                        "filters": *stats.filters.lock().unwrap_or_else(|e| e.into_inner()),
                    });
                    http::Response::new(Body::new(
                        http_body_util::Full::new(Bytes::from(body.to_string()))
                            .map_err(|never| match never {}),
                    ))
                }
                "/arista.event.v1.EventService/Subscribe" => {
                    grpc.server_streaming(
                        EventCall {
                            shared,
                            subscribe: true,
                        },
                        request,
                    )
                    .await
                }
                "/arista.event.v1.EventService/GetAll" => {
                    grpc.server_streaming(
                        EventCall {
                            shared,
                            subscribe: false,
                        },
                        request,
                    )
                    .await
                }
                connector::GET_AND_SUBSCRIBE => {
                    grpc.server_streaming(RouterCall { shared }, request).await
                }
                other => match shared.others.iter().position(|(path, _, _)| path == other) {
                    Some(model) => {
                        grpc.server_streaming(ModelCall { shared, model }, request)
                            .await
                    }
                    None => Status::unimplemented(format!("{other} is not simulated")).into_http(),
                },
            })
        })
    }
}

/// Serves on `listener` until it fails; TLS when `tls` is given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimulatorConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let service = Service {
        shared: Shared::new(config).map_err(std::io::Error::other)?,
    };
    let server = tonic::transport::Server::builder().accept_http1(true);
    let served = match tls {
        None => {
            server
                .serve_with_incoming(
                    service,
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                )
                .await
        }
        Some(tls) => {
            server
                .serve_with_incoming(service, command::tls_incoming(listener, tls))
                .await
        }
    };
    served.map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_pass_what_equals_every_field_of_one() {
        let shared = Shared::new(SimulatorConfig {
            token: "t".into(),
            events: 8,
            updates: 0,
            devices: 1,
            interval: Duration::from_millis(1),
            drop_after: None,
            proto_path: Vec::new(),
            models: Vec::new(),
        })
        .unwrap();
        let model = shared.events.model().clone();
        let filter: Vec<crate::filter::Filter> =
            serde_json::from_str(r#"[{"severity": "CRITICAL"}]"#).unwrap();
        let critical = crate::filter::request(&model, &filter).unwrap();
        let filters = shared.filters(&model, &critical).unwrap();
        let state = shared.state();
        let passed = state
            .iter()
            .flatten()
            .filter(|(e, _)| passes(e, &filters))
            .count();
        assert_eq!(passed, 2, "severity cycles INFO..CRITICAL over 8 events");
        assert!(passes(&state[0].as_ref().unwrap().0, &[]));
    }
}
