//! The connections: list the streams (`ietf-restconf-monitoring`), then
//! follow each chosen stream at the JSON location the server announces,
//! all at once. A stream that ends (NSO closed it, silence past
//! `idle_timeout`, a `: error:` comment) is resubscribed after a backoff
//! with `start-time` = the last `eventTime` written, so NSO replays what was
//! missed; a stream without replay (none announced, or 400 on `start-time`)
//! is resubscribed without it and a `netpipe.gap` says what may be missing.
//! A 401 is a clear error naming the user and the URL (never the password),
//! retried after `auth_retry`. Backoff, gaps, TLS and the SSE stream are the
//! shared toolkit's ([`netpipe_connect`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use netpipe_connect::reconnect::sleep_unless_shutdown;
use netpipe_connect::sse::{Next, SseStream};
use netpipe_connect::{Ending, Reconnect, TlsOptions};
use netpipe_core::event::dead_letter;
use netpipe_core::{BoxError, Position, Secret, Source, SourceContext, async_trait};
use tracing::{info, warn};

use crate::checkpoint::{self, Written};
use crate::notification::{self, Resume, StreamInfo, start_time_text, stream_name};

/// Where a RESTCONF server lists its streams.
pub const STREAMS_PATH: &str = "/restconf/data/ietf-restconf-monitoring:restconf-state/streams";

/// Events sent into the pipeline at most per chunk while a burst arrives.
const BURST: usize = 512;

pub struct NsoSource {
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub streams: Option<Vec<String>>,
    pub checkpoint: Option<PathBuf>,
    pub idle_timeout: Duration,
    pub auth_retry: Duration,
    pub max_backoff: Duration,
    pub tls_options: TlsOptions,
    pub tls: Arc<rustls::ClientConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum NsoError {
    #[error(
        "stream `{stream}` is not among the streams NSO lists ({listed}): check `streams` and the server's `event-streams`"
    )]
    UnknownStream { stream: String, listed: String },
    #[error("stream `{0}` lists no JSON location: netpipe reads the JSON encoding")]
    NoJson(String),
}

/// How one attempt at a request ended, short of success.
enum Refused {
    /// HTTP 401.
    Credentials,
    /// HTTP 400 on a subscription with `start-time`: no replay.
    NoReplay,
    Failed(String),
}

impl NsoSource {
    fn rejected(&self) -> String {
        format!(
            "NSO at {} refused the credentials of `{}` (HTTP 401): check `username` and `password`",
            self.url, self.username
        )
    }

    /// The streams the server lists, or how the attempt ended.
    async fn list_streams(&self, http: &reqwest::Client) -> Result<Vec<StreamInfo>, Ending> {
        let failed = |reason: String| Ending::Failed(format!("listing streams: {reason}"));
        let response = http
            .get(format!("{}{STREAMS_PATH}", self.url))
            .basic_auth(&self.username, Some(self.password.expose()))
            .header("Accept", "application/yang-data+json")
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200..=299 => {}
            401 => return Err(Ending::Rejected(self.rejected())),
            status => return Err(failed(format!("HTTP {status}"))),
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        notification::streams(&body).map_err(failed)
    }

    /// The streams to follow: those asked for, or every one listed.
    async fn chosen_streams(
        &self,
        http: &reqwest::Client,
        cx: &SourceContext,
    ) -> Result<Option<Vec<StreamInfo>>, BoxError> {
        let mut reconnect = Reconnect::new(self.max_backoff, self.auth_retry);
        let listed = loop {
            let ending = match self.list_streams(http).await {
                Ok(listed) => break listed,
                Err(ending) => ending,
            };
            let wait = reconnect.wait_after(&ending, &self.url, &cx.metrics);
            if !sleep_unless_shutdown(wait, &cx.shutdown).await {
                return Ok(None);
            }
        };
        let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
        info!(streams = ?names, "NSO lists its streams");
        let chosen = match &self.streams {
            None => listed.clone(),
            Some(wanted) => wanted
                .iter()
                .map(|w| {
                    listed
                        .iter()
                        .find(|s| &s.name == w)
                        .cloned()
                        .ok_or_else(|| NsoError::UnknownStream {
                            stream: w.clone(),
                            listed: names.join(", "),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        for stream in &chosen {
            if stream.json_location.is_none() {
                return Err(NsoError::NoJson(stream.name.clone()).into());
            }
        }
        Ok(Some(chosen))
    }

    /// Follows one stream until shutdown.
    async fn follow(
        &self,
        http: &reqwest::Client,
        info: StreamInfo,
        mut resume: Resume,
        cx: &SourceContext,
        sent: &AtomicU64,
    ) {
        let stream: Arc<str> = Arc::from(stream_name(&info.name));
        let location = info.json_location.clone().unwrap_or_default();
        let what = format!("stream `{}`", info.name);
        let mut reconnect = Reconnect::new(self.max_backoff, self.auth_retry);
        let mut replay = info.replay;
        loop {
            let start_time = if replay { resume.resubscribe() } else { None };
            let ending = match self.subscribe(http, &location, start_time).await {
                Ok(response) => {
                    // With replay the time away is read again: no gap.
                    let gap = if replay {
                        reconnect.resumed(&cx.metrics);
                        None
                    } else {
                        reconnect.gap(
                            &cx.name,
                            &[("stream", info.name.as_str())],
                            "resubscribed; the stream has no replay, so notifications of the time away are missing",
                            &cx.metrics,
                        )
                    };
                    if let Some(gap) = gap
                        && cx.out.send(vec![gap]).await.is_err()
                    {
                        return;
                    }
                    match start_time {
                        Some(t) => {
                            info!(stream = %info.name, start_time = %start_time_text(t), "subscribed")
                        }
                        None => info!(stream = %info.name, "subscribed"),
                    }
                    match self.read(response, &stream, &mut resume, cx, sent).await {
                        Some(ending) => ending,
                        None => return,
                    }
                }
                Err(Refused::Credentials) => Ending::Rejected(self.rejected()),
                Err(Refused::NoReplay) => {
                    warn!(stream = %info.name, "NSO refused `start-time` (HTTP 400): the stream has no replay; resubscribing without it");
                    replay = false;
                    reconnect.lost();
                    continue;
                }
                Err(Refused::Failed(reason)) => Ending::Failed(reason),
            };
            let wait = reconnect.wait_after(&ending, &what, &cx.metrics);
            if !sleep_unless_shutdown(wait, &cx.shutdown).await {
                return;
            }
        }
    }

    async fn subscribe(
        &self,
        http: &reqwest::Client,
        location: &str,
        start_time: Option<netpipe_core::Timestamp>,
    ) -> Result<reqwest::Response, Refused> {
        let mut request = http
            .get(location)
            .basic_auth(&self.username, Some(self.password.expose()))
            .header("Accept", "text/event-stream");
        if let Some(start) = start_time {
            // reqwest encodes the query: the offset's `+` must not become a space.
            request = request.query(&[("start-time", start_time_text(start))]);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Refused::Failed(format!("subscribing: {}", e.without_url())))?;
        match response.status().as_u16() {
            200..=299 => Ok(response),
            401 => Err(Refused::Credentials),
            400 if start_time.is_some() => Err(Refused::NoReplay),
            status => Err(Refused::Failed(format!("subscribing: HTTP {status}"))),
        }
    }

    /// Reads one subscription until it ends; `None` on shutdown.
    async fn read(
        &self,
        response: reqwest::Response,
        stream: &Arc<str>,
        resume: &mut Resume,
        cx: &SourceContext,
        sent: &AtomicU64,
    ) -> Option<Ending> {
        let mut sse = SseStream::with_error_comments(response, self.idle_timeout);
        let mut delivered = false;
        loop {
            let first = tokio::select! {
                _ = cx.shutdown.cancelled() => return None,
                next = sse.next() => match next {
                    Next::Event(event) => event,
                    Next::Ended(reason) => return Some(Ending::Ended { reason, delivered }),
                    Next::ServerError(error) => {
                        return Some(Ending::Failed(format!("NSO reported: {error}")));
                    }
                },
            };
            delivered = true;
            let mut burst = vec![first];
            while burst.len() < BURST
                && let Some(event) = sse.next_now()
            {
                burst.push(event);
            }
            let mut events = Vec::with_capacity(burst.len());
            for sse_event in burst.into_iter().filter(|e| !e.data.is_empty()) {
                cx.metrics.events_in.inc();
                cx.metrics.bytes_in.inc_by(sse_event.data.len() as u64);
                match notification::notification(&cx.name, stream, &sse_event.data) {
                    Ok(read) => {
                        if let Some(mark) = resume.is_new(&read) {
                            events.push(read.event.with_position(Position {
                                partition: stream.clone(),
                                offset: mark.offset(),
                            }));
                        }
                    }
                    Err(e) => {
                        cx.metrics.dead_letters.inc();
                        events.push(dead_letter(
                            &cx.name,
                            stream,
                            &e.to_string(),
                            Bytes::from(sse_event.data),
                        ));
                    }
                }
            }
            sent.fetch_add(events.len() as u64, Ordering::Relaxed);
            if cx.out.send(events).await.is_err() {
                return None;
            }
        }
    }
}

#[async_trait]
impl Source for NsoSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        self.tls_options.warn_if_insecure(&cx.name);
        let http = TlsOptions::http_client(&self.tls)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let written = match &self.checkpoint {
            Some(path) => checkpoint::load(path)?,
            None => Written::new(),
        };
        let Some(streams) = self.chosen_streams(&http, &cx).await? else {
            return Ok(());
        };
        let saver = self.checkpoint.clone().map(|path| {
            checkpoint::keep_saving(
                path,
                written.clone(),
                cx.acks.clone(),
                checkpoint::SAVE_EVERY,
            )
        });
        let sent = AtomicU64::new(0);
        let followers = streams.into_iter().map(|info| {
            let resume = match written.get(&stream_name(&info.name)) {
                Some(mark) => Resume::after(*mark),
                None => Resume::default(),
            };
            self.follow(&http, info, resume, &cx, &sent)
        });
        futures::future::join_all(followers).await;
        let Some(path) = &self.checkpoint else {
            return Ok(());
        };
        // What was sent is written by the draining sinks (asked to write it
        // now: a Parquet sink would wait for its roll): wait for it, then
        // record where each stream is.
        let mut acks = cx.acks.clone();
        let flushed = cx.out.flush().await.is_ok();
        while flushed && acks.events() < sent.load(Ordering::Relaxed) {
            if acks.changed().await.is_none() {
                break;
            }
        }
        if let Some(saver) = saver {
            saver.abort();
            let _ = saver.await;
        }
        let mut now = written;
        now.extend(checkpoint::acknowledged(&acks));
        checkpoint::save(path, &now)?;
        info!(checkpoint = %path.display(), "checkpoint saved");
        Ok(())
    }
}
