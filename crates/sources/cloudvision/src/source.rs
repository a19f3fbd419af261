//! The running `cloudvision` source: one gRPC channel, one follower per
//! subscription. Each follower subscribes, reads until the stream ends,
//! and subscribes again with backoff (a `netpipe.gap` for resource
//! streams, which cannot resume; Connector streams resume from the last
//! notification's time). A refused token is one line per `auth_retry`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use netpipe_connect::TlsOptions;
use netpipe_connect::reconnect::{Ending, Reconnect, sleep_unless_shutdown};
use netpipe_core::event::dead_letter;
use netpipe_core::typed_json::TypedJson;
use netpipe_core::{BoxError, Event, Payload, Record, Secret, Source, SourceContext, Timestamp};
use prost::Message as _;
use tonic::{Code, Status, Streaming};
use tracing::info;

use crate::connector::{self, NotificationBatch};
use crate::models::{EVENT_MODEL, Model, compile};
use crate::resource::{Entities, INITIAL_SYNC_COMPLETE};
use crate::{grpc, resource};

/// Responses read before the events they make are sent on, when more are
/// already waiting.
const BURST: usize = 256;

/// Messages read together, and how the stream ended after them, if it did:
/// `Some(None)` at its end, `Some(Some(status))` on an error.
#[derive(Default)]
struct Burst {
    messages: Vec<Bytes>,
    end: Option<Option<Status>>,
}

pub struct CloudVisionSource {
    pub url: String,
    pub token: Secret,
    pub codec: Arc<netpipe_protobuf::Codec>,
    pub resources: Vec<ResourceSubscription>,
    pub datasets: Vec<DatasetSubscription>,
    pub max_message_size: usize,
    pub auth_retry: Duration,
    pub max_backoff: Duration,
    pub tls_options: TlsOptions,
    pub tls: Arc<rustls::ClientConfig>,
}

pub struct ResourceSubscription {
    model: Model,
    request: Bytes,
    stream: Arc<str>,
}

impl ResourceSubscription {
    pub fn new(model: Model, request: Vec<u8>, stream: Option<String>) -> Self {
        let stream = Arc::from(stream.unwrap_or_else(|| model.stream.clone()).as_str());
        ResourceSubscription {
            model,
            request: Bytes::from(request),
            stream,
        }
    }
}

pub struct DatasetSubscription {
    dataset_type: String,
    name: String,
    path: Vec<String>,
    stream: Arc<str>,
    /// Types the values, when the user gave a schema.
    values: Option<TypedJson>,
}

impl DatasetSubscription {
    pub fn new(
        dataset_type: &str,
        name: &str,
        path: &[String],
        stream: Option<String>,
        schema: Option<&serde_json::Value>,
    ) -> Self {
        let stream = stream.unwrap_or_else(|| connector::stream_name(name, path));
        DatasetSubscription {
            dataset_type: dataset_type.to_string(),
            name: name.to_string(),
            path: path.to_vec(),
            stream: Arc::from(stream.as_str()),
            values: schema.map(|s| TypedJson::new(Some(s))),
        }
    }
}

/// The schemas of the built-in model's stream.
pub fn stream_schemas() -> Vec<(String, serde_json::Value)> {
    let pool = compile(&[]).expect("the built-in .proto files compile");
    let model = Model::find(&pool, EVENT_MODEL).expect("the built-in model");
    let codec = netpipe_protobuf::Codec::new(
        &pool,
        netpipe_protobuf::Rules::NONE,
        netpipe_protobuf::Readers::NONE,
    );
    let index = codec.index_of(model.response.full_name()).expect("indexed");
    let schema = netpipe_protobuf::avro::message_schema(codec.plans(), index, "cloudvision", &[]);
    vec![(model.stream, schema)]
}

/// A response's payload, checked when it arrived.
#[derive(Debug)]
struct ResponseCodec {
    codec: Arc<netpipe_protobuf::Codec>,
    index: usize,
}

const CHECKED: &str = "response checked when it arrived";

impl netpipe_core::Codec for ResponseCodec {
    fn decode(&self, bytes: &Bytes) -> Record {
        self.codec.decode(self.index, bytes, bytes).expect(CHECKED)
    }

    fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>) {
        self.codec
            .write_json(self.index, bytes, out)
            .expect(CHECKED);
    }
}

/// How a call's status ends the subscription `what`.
fn ending(status: Status, url: &str, what: &str, delivered: bool) -> Ending {
    let message = status.message();
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => Ending::Rejected(format!(
            "{url} refused the token ({:?}: {message})",
            status.code()
        )),
        Code::InvalidArgument => Ending::Failed(format!(
            "{what}: the server refused the subscription: {message}"
        )),
        Code::Unimplemented => Ending::Failed(format!("{what}: not served by {url} ({message})")),
        Code::Unavailable
        | Code::Cancelled
        | Code::Aborted
        | Code::DeadlineExceeded
        | Code::Unknown
        | Code::Internal
            if delivered =>
        {
            Ending::Ended {
                reason: format!("{:?}: {message}", status.code()),
                delivered,
            }
        }
        code => Ending::Failed(format!("{what}: {code:?}: {message}")),
    }
}

impl CloudVisionSource {
    /// Reads the next message, and any more already waiting, and how the
    /// stream ended if it did meanwhile; `None` on shutdown.
    async fn burst(stream: &mut Streaming<Bytes>, cx: &SourceContext) -> Option<Burst> {
        let mut burst = Burst::default();
        let mut next = tokio::select! {
            _ = cx.shutdown.cancelled() => return None,
            message = stream.message() => Some(message),
        };
        while let Some(read) = next.take() {
            match read {
                Ok(Some(message)) => burst.messages.push(message),
                Ok(None) => burst.end = Some(None),
                Err(status) => burst.end = Some(Some(status)),
            }
            if burst.end.is_none() && burst.messages.len() < BURST {
                next = stream.message().now_or_never();
            }
        }
        Some(burst)
    }

    /// Follows one subscription (`what`, for the log) until shutdown: opens
    /// the call to `path` (`request` makes its message, each time), `opened` says what to send first,
    /// `convert` turns what the server sends into events; after an ending,
    /// waits as the reconnect policy says and opens it again.
    async fn follow(
        &self,
        channel: &tonic::transport::Channel,
        cx: &SourceContext,
        (what, path): (&str, &str),
        mut request: impl FnMut() -> Bytes,
        mut opened: impl FnMut(&mut Reconnect) -> Vec<Event>,
        mut convert: impl FnMut(Vec<Bytes>) -> Vec<Event>,
    ) {
        let mut reconnect = Reconnect::new(self.max_backoff, self.auth_retry);
        loop {
            let ending = match grpc::open(
                channel,
                path,
                request(),
                &self.token,
                self.max_message_size,
            )
            .await
            {
                Err(status) => ending(status, &self.url, what, false),
                Ok(mut stream) => {
                    let first = opened(&mut reconnect);
                    if !first.is_empty() && cx.out.send(first).await.is_err() {
                        return;
                    }
                    info!("{what}: subscribed");
                    let mut delivered = false;
                    loop {
                        let Some(Burst { messages, end }) = Self::burst(&mut stream, cx).await
                        else {
                            return;
                        };
                        delivered |= !messages.is_empty();
                        for message in &messages {
                            cx.metrics.events_in.inc();
                            cx.metrics.bytes_in.inc_by(message.len() as u64);
                        }
                        let events = convert(messages);
                        if !events.is_empty() && cx.out.send(events).await.is_err() {
                            return;
                        }
                        match end {
                            None => continue,
                            Some(None) => {
                                break Ending::Ended {
                                    reason: "the server ended the stream".into(),
                                    delivered,
                                };
                            }
                            Some(Some(status)) => break ending(status, &self.url, what, delivered),
                        }
                    }
                }
            };
            let wait = reconnect.wait_after(&ending, &what, &cx.metrics);
            if !sleep_unless_shutdown(wait, &cx.shutdown).await {
                return;
            }
        }
    }

    async fn follow_resource(
        &self,
        channel: &tonic::transport::Channel,
        sub: &ResourceSubscription,
        cx: &SourceContext,
    ) {
        let model = sub.model.value.full_name();
        let what = format!("`{model}` subscription");
        let index = self
            .codec
            .index_of(sub.model.response.full_name())
            .expect("indexed");
        let key_index = match sub.model.value.get_field_by_name("key").map(|f| f.kind()) {
            Some(prost_reflect::Kind::Message(key)) => self.codec.index_of(key.full_name()),
            _ => None,
        };
        let summarizer = self.codec.summarizer(index);
        let payload_codec: Arc<dyn netpipe_core::Codec> = Arc::new(ResponseCodec {
            codec: self.codec.clone(),
            index,
        });
        // Shared by the closures below, never across an await.
        let entities = std::sync::Mutex::new(Entities::new(sub.model.value.clone()));
        let entities = || entities.lock().unwrap_or_else(|e| e.into_inner());
        let opened = |reconnect: &mut Reconnect| {
            entities().subscribed();
            reconnect
                .gap(
                    &cx.name,
                    &[("model", model)],
                    "resubscribed: the current state is read again, changes made while away are not",
                    &cx.metrics,
                )
                .into_iter()
                .collect()
        };
        let convert = |messages: Vec<Bytes>| {
            let mut events = Vec::with_capacity(messages.len());
            for message in messages {
                let applied = entities().apply(&message);
                let changes = match applied {
                    Ok(changes) => changes,
                    Err(e) => {
                        cx.metrics.dead_letters.inc();
                        events.push(dead_letter(&cx.name, &sub.stream, &e, message));
                        continue;
                    }
                };
                if resource::response(&message).is_ok_and(|r| r.operation == INITIAL_SYNC_COMPLETE)
                {
                    info!(stream = %sub.stream, "initial state complete");
                }
                for change in changes {
                    let bytes = change.response;
                    if let Err(e) = self.codec.summarize(&summarizer, &bytes) {
                        cx.metrics.dead_letters.inc();
                        events.push(dead_letter(&cx.name, &sub.stream, &e.to_string(), bytes));
                        continue;
                    }
                    let key = key_index.and_then(|k| {
                        let mut json = Vec::new();
                        self.codec.write_json(k, &change.key, &mut json).ok()?;
                        String::from_utf8(json).ok()
                    });
                    let time = change.time.map_or_else(Timestamp::now, Timestamp);
                    let size = bytes.len();
                    let payload = Payload::encoded(bytes, payload_codec.clone());
                    events.push(
                        Event::sized(cx.name.clone(), sub.stream.clone(), time, payload, size)
                            .with_key(key.map(|k| Arc::from(k.as_str()))),
                    );
                }
            }
            events
        };
        let request = || sub.request.clone();
        self.follow(
            channel,
            cx,
            (&what, &sub.model.subscribe_path),
            request,
            opened,
            convert,
        )
        .await;
    }

    async fn follow_dataset(
        &self,
        channel: &tonic::transport::Channel,
        sub: &DatasetSubscription,
        cx: &SourceContext,
    ) {
        let what = format!("dataset `{}` path {:?}", sub.name, sub.path);
        // The newest notification's time: a resubscription starts there, and
        // what its current state repeats from before is passed over.
        let newest = AtomicU64::new(0);
        let resuming = AtomicU64::new(0);
        let request = || {
            resuming.store(newest.load(Relaxed), Relaxed);
            Bytes::from(
                connector::request(
                    &sub.dataset_type,
                    &sub.name,
                    &sub.path,
                    newest.load(Relaxed),
                )
                .encode_to_vec(),
            )
        };
        // Resumed from the newest time seen: nothing is missing, no gap.
        let opened = |reconnect: &mut Reconnect| {
            reconnect.resumed(&cx.metrics);
            Vec::new()
        };
        let convert = |messages: Vec<Bytes>| {
            let mut events = Vec::new();
            for message in messages {
                let batch = match NotificationBatch::decode(message.clone()) {
                    Ok(batch) => batch,
                    Err(e) => {
                        cx.metrics.dead_letters.inc();
                        events.push(dead_letter(&cx.name, &sub.stream, &e.to_string(), message));
                        continue;
                    }
                };
                if connector::ends_current_state(&batch) {
                    info!(stream = %sub.stream, "current state read; live updates follow");
                }
                for notification in &batch.notifications {
                    let at = notification.timestamp.as_ref().map_or(0, |t| {
                        (t.seconds.max(0) as u64)
                            .saturating_mul(1_000_000_000)
                            .saturating_add(t.nanos.max(0) as u64)
                    });
                    if at < resuming.load(Relaxed) {
                        continue;
                    }
                    newest.fetch_max(at, Relaxed);
                    match connector::events(
                        &cx.name,
                        &sub.stream,
                        &sub.name,
                        notification,
                        sub.values.as_ref(),
                    ) {
                        Ok(read) => events.extend(read),
                        Err(unreadable) => {
                            cx.metrics.dead_letters.inc();
                            events.push(dead_letter(
                                &cx.name,
                                &sub.stream,
                                &unreadable.error,
                                unreadable.raw,
                            ));
                        }
                    }
                }
            }
            events
        };
        self.follow(
            channel,
            cx,
            (&what, connector::GET_AND_SUBSCRIBE),
            request,
            opened,
            convert,
        )
        .await;
    }
}

#[netpipe_core::async_trait]
impl Source for CloudVisionSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        self.tls_options.warn_if_insecure(&cx.name);
        let channel = grpc::channel(&self.url, &self.tls)?;
        let resources = self
            .resources
            .iter()
            .map(|sub| self.follow_resource(&channel, sub, &cx).boxed());
        let datasets = self
            .datasets
            .iter()
            .map(|sub| self.follow_dataset(&channel, sub, &cx).boxed());
        futures::future::join_all(resources.chain(datasets)).await;
        Ok(())
    }
}
