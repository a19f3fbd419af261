//! `netpipe simulate cloudvision`: its options, and TLS for its listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use netpipe_core::BoxError;
use netpipe_core::simulate::{Simulator, serve_until_interrupted};
use netpipe_core::units::HumanDuration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use super::{SimulatorConfig, serve};

/// Options of `netpipe simulate cloudvision`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8768")]
    listen: SocketAddr,
    /// The token it accepts (`authorization: Bearer ...`).
    #[arg(long, default_value = "sim-token")]
    token: String,
    /// Events in the current state.
    #[arg(long, default_value_t = 20)]
    events: usize,
    /// Updates after the current state (acknowledgements; the last is a delete).
    #[arg(long, default_value_t = 10)]
    updates: usize,
    /// Devices in the `analytics` dataset.
    #[arg(long, default_value_t = 3)]
    devices: usize,
    /// Wait between live updates.
    #[arg(long, default_value = "100ms", value_parser = HumanDuration::parse)]
    interval: HumanDuration,
    /// Directories of `.proto` files for --model (repeat for several).
    #[arg(long)]
    proto_path: Vec<PathBuf>,
    /// Also serve this resource model's Subscribe (from --proto-path), --events entities made from its descriptors.
    #[arg(long)]
    model: Vec<String>,
    /// End each stream with UNAVAILABLE after N messages.
    #[arg(long, value_name = "N")]
    drop_after: Option<u64>,
    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The `cloudvision` simulator, for the source's registry entry.
pub fn simulator() -> Simulator {
    Simulator::new(
        "cloudvision",
        "Arista CloudVision over gRPC: EventService Subscribe/GetAll with partial_eq_filter, RouterV1 GetAndSubscribe with NEAT values, a bearer token, TLS; counters and received filters at /stats.",
        simulate,
    )
}

async fn simulate(args: SimulateArgs) -> Result<(), BoxError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(netpipe_connect::tls::server_config(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = SimulatorConfig {
        token: args.token,
        events: args.events,
        updates: args.updates,
        devices: args.devices,
        interval: args.interval.0,
        drop_after: args.drop_after,
        proto_path: args.proto_path,
        models: args.model,
    };
    serve_until_interrupted(
        args.listen,
        "CloudVision gRPC",
        &format!("{scheme}://{{}}"),
        |listener| serve(listener, config, tls),
    )
    .await
}

/// A TLS connection tonic can serve.
pub struct Tls(TlsStream<TcpStream>);

impl tonic::transport::server::Connected for Tls {
    type ConnectInfo = ();

    fn connect_info(&self) {}
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// TLS connections accepted on `listener`; a failed handshake (a client
/// that does not trust the certificate) is passed over.
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> impl Stream<Item = Result<Tls, std::io::Error>> {
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    futures::stream::unfold((listener, acceptor), |(listener, acceptor)| async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            if let Ok(tls) = acceptor.accept(tcp).await {
                return Some((Ok(Tls(tls)), (listener, acceptor)));
            }
        }
    })
}
