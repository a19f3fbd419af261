//! Server-sent events over reqwest, parsed by `eventsource-stream` (multi-
//! line `data:` joined, comments skipped), with what a long-lived stream
//! needs on top: liveness counted on bytes, so that `:` heartbeats and
//! comments keep a quiet stream alive while silence past `idle_timeout`
//! ends it; and the last event id seen, for a reconnect's `Last-Event-ID`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use eventsource_stream::{Event, Eventsource};
use futures::{FutureExt, Stream, StreamExt};

type Events = Pin<Box<dyn Stream<Item = Result<Event, String>> + Send>>;

/// What [`SseStream::next`] came to.
#[derive(Debug)]
pub enum Next {
    Event(Event),
    /// The stream is over: the server ended it, it failed, or it was silent
    /// for `idle_timeout`; the text says which.
    Ended(String),
}

/// One response's events.
pub struct SseStream {
    events: Events,
    started: Instant,
    /// Milliseconds after `started` that the last bytes arrived.
    heard: Arc<AtomicU64>,
    idle_timeout: Duration,
    last_event_id: Option<String>,
}

impl SseStream {
    /// The events of a `text/event-stream` response (its status already checked).
    pub fn new(response: reqwest::Response, idle_timeout: Duration) -> Self {
        Self::from_bytes(
            response
                .bytes_stream()
                .map(|r| r.map_err(|e| e.to_string())),
            idle_timeout,
        )
    }

    /// The events of any byte stream, for tests and other HTTP clients.
    pub fn from_bytes<B>(
        bytes: impl Stream<Item = Result<B, String>> + Send + 'static,
        idle_timeout: Duration,
    ) -> Self
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let started = Instant::now();
        let heard = Arc::new(AtomicU64::new(0));
        let touch = heard.clone();
        let events = bytes
            .inspect(move |_| touch.store(started.elapsed().as_millis() as u64, Ordering::Relaxed))
            .eventsource()
            .map(|r| r.map_err(|e| e.to_string()));
        SseStream {
            events: Box::pin(events),
            started,
            heard,
            idle_timeout,
            last_event_id: None,
        }
    }

    /// The next event, waiting at most until `idle_timeout` of silence.
    /// Silence is counted from the later of the last bytes and this call:
    /// time the caller spent elsewhere (a pipeline's back-pressure) is not
    /// the server's silence.
    pub async fn next(&mut self) -> Next {
        let called = self.started.elapsed();
        loop {
            let heard = Duration::from_millis(self.heard.load(Ordering::Relaxed));
            let silent = self.started.elapsed().saturating_sub(heard.max(called));
            let Some(left) = self
                .idle_timeout
                .checked_sub(silent)
                .filter(|d| !d.is_zero())
            else {
                return Next::Ended(format!("nothing for {:?}", self.idle_timeout));
            };
            // Bytes that were not a whole event (a heartbeat) restart the wait.
            match tokio::time::timeout(left, self.events.next()).await {
                Err(_) => continue,
                Ok(None) => return Next::Ended("the server ended the stream".into()),
                Ok(Some(Err(e))) => return Next::Ended(format!("stream error: {e}")),
                Ok(Some(Ok(event))) => return Next::Event(self.seen(event)),
            }
        }
    }

    /// An event already received, without waiting: to gather a burst.
    pub fn next_now(&mut self) -> Option<Event> {
        match self.events.next().now_or_never() {
            Some(Some(Ok(event))) => Some(self.seen(event)),
            _ => None,
        }
    }

    /// The id of the last event that had one, for `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    fn seen(&mut self, event: Event) -> Event {
        if !event.id.is_empty() {
            self.last_event_id = Some(event.id.clone());
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<&'static [u8], String>> + use<> {
        stream::iter(parts.iter().map(|p| Ok(p.as_bytes())).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn events_split_across_reads_join_and_ids_are_kept() {
        let mut sse = SseStream::from_bytes(
            chunks(&[
                "id: 7\nevent: port\ndata: {\"a\":",
                "1}\ndata: x\n\n: heartbeat\n\n",
                "data: é",
                "\n\n",
            ]),
            Duration::from_secs(5),
        );
        let Next::Event(first) = sse.next().await else {
            panic!("no event")
        };
        assert_eq!(
            (first.event.as_str(), first.data.as_str()),
            ("port", "{\"a\":1}\nx")
        );
        let Next::Event(second) = sse.next().await else {
            panic!("no second event")
        };
        assert_eq!(second.data, "é");
        assert_eq!(sse.last_event_id(), Some("7"));
        assert!(matches!(sse.next().await, Next::Ended(reason) if reason.contains("ended")));
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_keep_a_stream_alive_and_silence_ends_it() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<&'static [u8], String>>();
        let mut sse = SseStream::from_bytes(rx, Duration::from_secs(10));
        let beats = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                tx.unbounded_send(Ok(b": keepalive\n\n".as_slice()))
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_secs(6)).await;
            tx.unbounded_send(Ok(b"data: late\n\n".as_slice())).unwrap();
            // Then silence, with the sender kept open.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        let next = sse.next().await;
        let Next::Event(event) = next else {
            panic!("heartbeats 6 s apart did not keep a 10 s stream alive: {next:?}")
        };
        assert_eq!(event.data, "late");
        let Next::Ended(reason) = sse.next().await else {
            panic!("silence did not end the stream")
        };
        assert!(reason.contains("nothing for 10s"), "{reason}");
        beats.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn time_spent_away_from_the_stream_is_not_silence() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<&'static [u8], String>>();
        let mut sse = SseStream::from_bytes(rx, Duration::from_secs(10));
        tx.unbounded_send(Ok(b"data: first\n\n".as_slice()))
            .unwrap();
        assert!(matches!(sse.next().await, Next::Event(_)));
        // The caller is held up 30 s (back-pressure); the server then sends.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            tx.unbounded_send(Ok(b"data: second\n\n".as_slice()))
                .unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let next = sse.next().await;
        assert!(
            matches!(&next, Next::Event(e) if e.data == "second"),
            "{next:?}"
        );
        late.abort();
    }
}
