//! The listening side: accepts bridges (over TLS when configured), checks
//! each one's hello and token, reads its notification lines a burst at a
//! time, and writes each connection's acknowledgements back as the sinks
//! write. An event's position is its connection and sequence number, so a
//! connection's acknowledgements come back in order. At shutdown, what was
//! read is acknowledged before the connections close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use netpipe_core::ack::Acknowledgements;
use netpipe_core::event::dead_letter;
use netpipe_core::metrics::ComponentMetrics;
use netpipe_core::{BoxError, Position, Secret, Source, SourceContext, SourceSender, async_trait};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::line::{self, hello_token};

/// The longest line read: a commit diff with its changes can be large.
const MAX_LINE: usize = 16 << 20;

/// Lines sent into the pipeline at most per chunk while a burst arrives.
const BURST: usize = 512;

/// How long a bridge has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);

pub struct BridgeSource {
    pub listen: SocketAddr,
    pub token: Option<Secret>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What every connection shares.
struct Shared {
    name: Arc<str>,
    token: Option<Secret>,
    out: SourceSender,
    acks: Acknowledgements,
    metrics: ComponentMetrics,
    shutdown: CancellationToken,
    /// Ends the acknowledgement writers, once what was read is acknowledged.
    stop_acks: CancellationToken,
    sent: AtomicU64,
}

#[async_trait]
impl Source for BridgeSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.listen))?;
        info!(listen = %self.listen, tls = self.tls.is_some(), "waiting for NSO bridges");
        let acceptor = self.tls.clone().map(TlsAcceptor::from);
        let shared = Arc::new(Shared {
            name: cx.name.clone(),
            token: self.token.clone(),
            out: cx.out.clone(),
            acks: cx.acks.clone(),
            metrics: cx.metrics.clone(),
            shutdown: cx.shutdown.clone(),
            stop_acks: CancellationToken::new(),
            sent: AtomicU64::new(0),
        });
        let mut connections = tokio::task::JoinSet::new();
        let mut count = 0u64;
        loop {
            let (stream, peer) = tokio::select! {
                _ = cx.shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn!("cannot accept a bridge: {e}");
                        continue;
                    }
                },
            };
            count += 1;
            let partition: Arc<str> = Arc::from(format!("{peer}#{count}"));
            let shared = shared.clone();
            let acceptor = acceptor.clone();
            connections.spawn(async move {
                match acceptor {
                    None => serve(stream, peer, partition, &shared).await,
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls) => serve(tls, peer, partition, &shared).await,
                        Err(e) => warn!(%peer, "TLS handshake with a bridge failed: {e}"),
                    },
                }
            });
        }
        while connections.join_next().await.is_some() {}
        // What was read is written by the draining sinks (asked to write it
        // now): acknowledge it to the bridges before the connections close.
        let mut acks = cx.acks.clone();
        let flushed = cx.out.flush().await.is_ok();
        while flushed && acks.events() < shared.sent.load(Ordering::Relaxed) {
            if acks.changed().await.is_none() {
                break;
            }
        }
        shared.stop_acks.cancel();
        Ok(())
    }
}

/// One bridge's connection, until it leaves or netpipe stops.
async fn serve<S>(stream: S, peer: SocketAddr, partition: Arc<str>, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE));
    let hello = match tokio::time::timeout(HELLO_WITHIN, lines.next()).await {
        Ok(Some(Ok(line))) => hello_token(&line),
        _ => Err("no hello".to_string()),
    };
    let refusal = match (&hello, &shared.token) {
        (Err(e), _) => Some(e.clone()),
        (Ok(given), Some(token)) if given.as_deref() != Some(token.expose()) => {
            Some("the bridge's token is not the one configured (`token`)".to_string())
        }
        _ => None,
    };
    if let Some(reason) = refusal {
        shared.metrics.errors.inc();
        warn!(%peer, "refused a bridge: {reason}");
        let reply = serde_json::json!({ "error": reason }).to_string();
        let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        return;
    }
    if write.write_all(b"{\"welcome\":{}}\n").await.is_err() {
        return;
    }
    info!(%peer, "a bridge connected");
    // Goes on after the bridge's last line, until its acknowledgements are
    // written or the bridge is gone.
    tokio::spawn(acknowledge(
        write,
        shared.acks.clone(),
        partition.clone(),
        shared.stop_acks.clone(),
    ));
    loop {
        let first = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            line = lines.next() => line,
        };
        let mut burst = Vec::with_capacity(BURST);
        let mut next = first;
        while let Some(read) = next.take() {
            match read {
                Ok(line) => burst.push(line),
                Err(e) => {
                    shared.metrics.errors.inc();
                    warn!(%peer, "reading the bridge's lines: {e}");
                    break;
                }
            }
            if burst.len() < BURST {
                next = lines.next().now_or_never().flatten();
            }
        }
        if burst.is_empty() {
            info!(%peer, "the bridge left");
            break;
        }
        let events = burst
            .into_iter()
            .map(|text| {
                shared.metrics.events_in.inc();
                shared.metrics.bytes_in.inc_by(text.len() as u64);
                match line::notification(&shared.name, &text) {
                    Ok(read) => read.event.with_position(Position {
                        partition: partition.clone(),
                        offset: read.seq,
                    }),
                    Err(e) => {
                        shared.metrics.dead_letters.inc();
                        dead_letter(
                            &shared.name,
                            &format!("bridge {peer}"),
                            &e,
                            Bytes::from(text),
                        )
                    }
                }
            })
            .collect::<Vec<_>>();
        shared
            .sent
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        if shared.out.send(events).await.is_err() {
            break;
        }
    }
}

/// Writes `{"ack": N}` lines as `partition`'s acknowledged sequence number
/// advances, until `stop` or the bridge is gone.
async fn acknowledge<W: AsyncWrite + Unpin>(
    mut write: W,
    mut acks: Acknowledgements,
    partition: Arc<str>,
    stop: CancellationToken,
) {
    let mut told = 0;
    loop {
        if let Some(&seq) = acks.partitions().get(&partition)
            && seq > told
        {
            if write
                .write_all(format!("{{\"ack\":{seq}}}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            told = seq;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = acks.changed() => if changed.is_none() { return },
        }
    }
}
