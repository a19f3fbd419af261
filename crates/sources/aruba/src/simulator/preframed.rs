//! The simulator's unpaced streams when no fault is asked for: each topic's
//! frames are framed as WebSocket messages once, at start (by tungstenite),
//! and a stream writes runs of them straight to the socket. Written through
//! tungstenite instead, every frame is copied into its write buffer first;
//! a benchmark's client shares the machine's cores with the simulator, so
//! the simulator should cost little more than the copies into the socket.
//! Nothing is read while such a stream runs: a client's pings are answered
//! once its count is sent (until then the frames are the sign of life a
//! client watches for).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// A topic's frames as binary WebSocket messages, laid out end to end
/// enough times over that any run of up to `run` frames, starting at any of
/// them, is one slice.
#[derive(Debug)]
pub(super) struct Preframed {
    bytes: Bytes,
    /// Where each message starts in `bytes`, and where the last ends.
    starts: Vec<usize>,
    /// The distinct frames, cycled through.
    distinct: usize,
    run: usize,
}

impl Preframed {
    pub(super) fn new(frames: &[Bytes], run: u64) -> Self {
        let run = run as usize;
        let mut bytes = Vec::new();
        let mut starts = vec![0];
        for frame in frames.iter().cycle().take(frames.len() + run - 1) {
            Frame::message(frame.clone(), OpCode::Data(Data::Binary), true)
                .format(&mut bytes)
                .expect("writing into a Vec cannot fail");
            starts.push(bytes.len());
        }
        Preframed {
            bytes: bytes.into(),
            starts,
            distinct: frames.len(),
            run,
        }
    }

    /// The messages of the topic's frames `first`, `first + 1`, … (counted
    /// in all, from 1, as the stream counts them: frame `n` is the `n %
    /// distinct`-th), `len` of them, at most the run.
    fn messages(&self, first: u64, len: usize) -> &[u8] {
        let start = (first % self.distinct as u64) as usize;
        &self.bytes[self.starts[start]..self.starts[start + len.min(self.run)]]
    }

    /// Streams runs of messages until `count` messages of the topic went
    /// out in all (`sent` counts them across connections; `written` counts
    /// what was written): `false` when the socket failed (the client left).
    pub(super) async fn stream<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        sent: &AtomicU64,
        count: Option<u64>,
        written: &AtomicU64,
    ) -> bool {
        let run = self.run as u64;
        loop {
            let before = sent.fetch_add(run, Ordering::SeqCst);
            let last = count.map_or(before + run, |count| count.min(before + run));
            if last <= before {
                return true;
            }
            let len = (last - before) as usize;
            let messages = self.messages(before + 1, len);
            if out.write_all(messages).await.is_err() || out.flush().await.is_err() {
                return false;
            }
            written.fetch_add(len as u64, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// `streaming`'s answer, if it ends within five seconds (a stream that
    /// ignores its count goes on for as long as it is read).
    async fn within_seconds(streaming: impl Future<Output = bool>) -> Option<bool> {
        let limit = std::time::Duration::from_secs(5);
        tokio::time::timeout(limit, streaming).await.ok()
    }

    /// A WebSocket client reads the stream as the frames, in order, `count`
    /// of them (not a whole number of runs), and a later connection of the
    /// same topic finds the count spent and sends nothing.
    #[tokio::test]
    async fn a_client_reads_count_frames_and_a_later_connection_none() {
        const COUNT: u64 = 30;
        let frames: Vec<Bytes> = (0..5u8)
            .map(|i| Bytes::from(vec![i; 3000 + 700 * i as usize]))
            .collect();
        let preframed = Preframed::new(&frames, 7);
        let (sent, written) = (AtomicU64::new(0), AtomicU64::new(0));
        let (mut server, client) = tokio::io::duplex(1 << 20);
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let done = within_seconds(preframed.stream(&mut server, &sent, Some(COUNT), &written));
        assert_eq!(done.await, Some(true), "streaming went past the count");
        drop(server);
        for n in 1..=COUNT {
            let message = client.next().await.expect("a message").expect("a frame");
            assert_eq!(
                message,
                Message::Binary(frames[(n % 5) as usize].clone()),
                "{n}"
            );
        }
        assert!(!matches!(client.next().await, Some(Ok(Message::Binary(_)))));
        assert_eq!(written.load(Ordering::SeqCst), COUNT);

        let (mut later, _client) = tokio::io::duplex(1 << 20);
        let spent = within_seconds(preframed.stream(&mut later, &sent, Some(COUNT), &written));
        assert_eq!(
            spent.await,
            Some(true),
            "the later connection went on streaming"
        );
        assert_eq!(written.load(Ordering::SeqCst), COUNT);
    }

    /// Every run, wherever it starts, holds the frames the paced stream
    /// would send, each framed as tungstenite frames it.
    #[test]
    fn any_run_is_the_frames_in_their_order() {
        let frames: Vec<Bytes> = (0..5u8)
            .map(|i| Bytes::from(vec![i; 100 + 50 * i as usize]))
            .collect();
        let preframed = Preframed::new(&frames, 7);
        for first in 1..=12u64 {
            for len in 1..=7 {
                let mut expected = Vec::new();
                for n in first..first + len as u64 {
                    let frame = frames[(n % 5) as usize].clone();
                    Frame::message(frame, OpCode::Data(Data::Binary), true)
                        .format(&mut expected)
                        .unwrap();
                }
                assert_eq!(preframed.messages(first, len), expected, "{first}+{len}");
            }
        }
    }
}
