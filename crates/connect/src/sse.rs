//! Server-sent events over reqwest, parsed by `eventsource-stream` (multi-
//! line `data:` joined, comments skipped), with what a long-lived stream
//! needs on top: liveness counted on bytes, so that `:` heartbeats and
//! comments keep a quiet stream alive while silence past `idle_timeout`
//! ends it; the last event id seen, for a reconnect's `Last-Event-ID`; and,
//! when asked, the `: error: ...` comments by which RESTCONF servers (RFC
//! 8040) report a stream's trouble, which the parser would drop.

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
    /// The server reported an error in a `: error:` comment (with
    /// [`SseStream::with_error_comments`]): its text.
    ServerError(String),
}

/// One response's events.
pub struct SseStream {
    events: Events,
    started: Instant,
    /// Milliseconds after `started` that the last bytes arrived.
    heard: Arc<AtomicU64>,
    idle_timeout: Duration,
    last_event_id: Option<String>,
    /// `: error:` comments seen, when asked for.
    errors: Option<Arc<std::sync::Mutex<ErrorComments>>>,
}

impl SseStream {
    /// The events of a `text/event-stream` response (its status already checked).
    pub fn new(response: reqwest::Response, idle_timeout: Duration) -> Self {
        Self::from_bytes(
            response
                .bytes_stream()
                .map(|r| r.map_err(|e| e.to_string())),
            idle_timeout,
            false,
        )
    }

    /// As [`SseStream::new`], also reporting `: error:` comments.
    pub fn with_error_comments(response: reqwest::Response, idle_timeout: Duration) -> Self {
        Self::from_bytes(
            response
                .bytes_stream()
                .map(|r| r.map_err(|e| e.to_string())),
            idle_timeout,
            true,
        )
    }

    /// The events of any byte stream, for tests and other HTTP clients;
    /// with `error_comments`, `: error:` comments are reported.
    pub fn from_bytes<B>(
        bytes: impl Stream<Item = Result<B, String>> + Send + 'static,
        idle_timeout: Duration,
        error_comments: bool,
    ) -> Self
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let started = Instant::now();
        let heard = Arc::new(AtomicU64::new(0));
        let touch = heard.clone();
        let errors: Option<Arc<std::sync::Mutex<ErrorComments>>> =
            error_comments.then(Arc::default);
        let scanner = errors.clone();
        let events = bytes
            .inspect(move |chunk| {
                touch.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                if let (Some(scanner), Ok(chunk)) = (&scanner, chunk) {
                    let mut scanner = scanner.lock().unwrap_or_else(|e| e.into_inner());
                    scanner.feed(chunk.as_ref());
                }
            })
            .eventsource()
            .map(|r| r.map_err(|e| e.to_string()));
        SseStream {
            events: Box::pin(events),
            started,
            heard,
            idle_timeout,
            last_event_id: None,
            errors,
        }
    }

    /// An error comment seen and not reported yet.
    fn server_error(&self) -> Option<String> {
        let errors = self.errors.as_ref()?;
        errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .found
            .take()
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
            if let Some(error) = self.server_error() {
                return Next::ServerError(error);
            }
            // Bytes that were not a whole event (a heartbeat) restart the wait.
            match tokio::time::timeout(left, self.events.next()).await {
                Err(_) => continue,
                // An error comment before the end says why it ended.
                Ok(None) => {
                    return match self.server_error() {
                        Some(error) => Next::ServerError(error),
                        None => Next::Ended("the server ended the stream".into()),
                    };
                }
                Ok(Some(Err(e))) => return Next::Ended(format!("stream error: {e}")),
                Ok(Some(Ok(event))) => return Next::Event(self.seen(event)),
            }
        }
    }

    /// An event already received, without waiting: to gather a burst.
    /// None once an error comment waits to be reported by [`SseStream::next`].
    pub fn next_now(&mut self) -> Option<Event> {
        if self
            .errors
            .as_ref()
            .is_some_and(|e| e.lock().unwrap_or_else(|e| e.into_inner()).found.is_some())
        {
            return None;
        }
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

/// Finds `: error: ...` comment lines in bytes fed in any pieces: a comment
/// is a line that starts with `:`. Only the comment's text is kept, and at
/// most [`ErrorComments::MAX_LINE`] bytes of it.
#[derive(Debug, Default)]
struct ErrorComments {
    /// Within a line, whether it is a comment; at a line's start, `None`.
    in_comment: Option<bool>,
    line: Vec<u8>,
    /// The first error not reported yet.
    found: Option<String>,
}

impl ErrorComments {
    const MAX_LINE: usize = 4096;

    fn feed(&mut self, mut bytes: &[u8]) {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.in_comment == Some(false) {
                // A field line (most bytes): on past its end at once.
                let Some(end) = memchr::memchr2(b'\n', b'\r', bytes) else {
                    return;
                };
                bytes = &bytes[end + 1..];
                self.in_comment = None;
                continue;
            }
            bytes = rest;
            if byte == b'\n' || byte == b'\r' {
                if self.in_comment == Some(true) {
                    self.comment_ended();
                }
                self.in_comment = None;
                continue;
            }
            match self.in_comment {
                None => {
                    self.in_comment = Some(byte == b':');
                    self.line.clear();
                }
                Some(true) if self.line.len() < Self::MAX_LINE => self.line.push(byte),
                Some(_) => {}
            }
        }
    }

    fn comment_ended(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        if let Some(error) = text.trim_start().strip_prefix("error:")
            && self.found.is_none()
        {
            self.found = Some(error.trim().to_string());
        }
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
            false,
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
        let mut sse = SseStream::from_bytes(rx, Duration::from_secs(10), false);
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
        let mut sse = SseStream::from_bytes(rx, Duration::from_secs(10), false);
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

    #[tokio::test]
    async fn an_error_comment_split_across_reads_is_reported_and_keepalives_are_not() {
        let mut sse = SseStream::from_bytes(
            chunks(&[
                ": keepalive test\n\ndata: {\"a\"",
                ": 1}\n\n: err",
                "or: notification stream NETCONF temporarily unavailable\n\n",
                "data: after\n\n",
            ]),
            Duration::from_secs(5),
            true,
        );
        let mut seen = Vec::new();
        loop {
            match sse.next().await {
                Next::Event(e) => seen.push(format!("event {}", e.data)),
                Next::ServerError(e) => seen.push(format!("error {e}")),
                Next::Ended(_) => break,
            }
        }
        // The error is reported once, by the next call after the bytes that
        // held it; a `:` inside data is not a comment.
        seen.sort();
        assert_eq!(
            seen,
            [
                "error notification stream NETCONF temporarily unavailable",
                "event after",
                "event {\"a\": 1}",
            ]
        );
    }

    /// What [`ErrorComments`] should find, line by line over the whole text.
    fn first_error_comment(text: &[u8]) -> Option<String> {
        let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n' || *b == b'\r').collect();
        lines.pop(); // after the last line end: not a whole line yet
        lines.into_iter().find_map(|line| {
            let comment = line.strip_prefix(b":")?;
            let kept = &comment[..comment.len().min(ErrorComments::MAX_LINE)];
            let text = String::from_utf8_lossy(kept);
            Some(text.trim_start().strip_prefix("error:")?.trim().to_string())
        })
    }

    /// Fuzz target: however the bytes are split into reads, the scanner
    /// finds the error comment a line-by-line reading of the whole finds.
    #[test]
    fn fuzz_error_comments_are_found_however_the_reads_split_them() {
        const PIECES: [&[u8]; 9] = [
            b":",
            b" error:",
            b"error: x",
            b"\n",
            b"\r\n",
            b"\r",
            b"data: y",
            b"\xc3\xa9",
            b" ",
        ];
        arbtest::arbtest(|u| {
            let mut text = Vec::new();
            for _ in 0..u.int_in_range(0..=24)? {
                match u.int_in_range(0..=3)? {
                    0 => text.push(u.arbitrary()?),
                    _ => text.extend_from_slice(u.choose(&PIECES)?),
                }
            }
            let mut scanner = ErrorComments::default();
            let mut rest = &text[..];
            while !rest.is_empty() {
                let (read, more) = rest.split_at(u.int_in_range(1..=rest.len())?);
                scanner.feed(read);
                rest = more;
            }
            assert_eq!(
                scanner.found,
                first_error_comment(&text),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            Ok(())
        });
    }
}
