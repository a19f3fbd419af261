//! `netpipe simulate aruba`: the simulator's options and how it is served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use netpipe_core::BoxError;
use netpipe_core::simulate::{Simulator, serve_until_interrupted};

use super::{SimulatorConfig, Stats, serve};
use crate::topic::Topic;

/// Options of `netpipe simulate aruba`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// The streaming key clients must send.
    #[arg(long, default_value = "sim-key")]
    key: String,
    /// An old key that validation renews to --key.
    #[arg(long)]
    renew_from: Option<String>,
    /// After N messages of a topic in all, renew the key mid-session:
    /// connections close, and --key is refused with 401 and renewed by
    /// validation to `<key>-renewed`.
    #[arg(long, value_name = "N")]
    renew_after: Option<u64>,
    /// Messages per second per connection (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Messages per topic in all, then silence.
    #[arg(long)]
    count: Option<u64>,
    /// Frames in a mix of sizes (repeated fields with 0 to 3 elements), as
    /// traffic has them, rather than all dense (3 elements).
    #[arg(long)]
    mixed: bool,
    /// Close each connection after N messages.
    #[arg(long, value_name = "N")]
    drop_every: Option<u64>,
    /// Send a malformed frame every N messages.
    #[arg(long, value_name = "N")]
    malformed_every: Option<u64>,
    /// After N messages, a connection hangs: nothing sent, pings unanswered, never closed.
    #[arg(long, value_name = "N")]
    silent_after: Option<u64>,
    /// Refuse a topic with 400 Unsubscribed Topic (repeatable).
    #[arg(long, value_parser = |s: &str| s.parse::<Topic>())]
    unsubscribed: Vec<Topic>,
    /// Serve HTTPS and wss:// with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The `aruba` simulator, for the source's registry entry.
pub fn simulator() -> Simulator {
    Simulator::new(
        "aruba",
        "Aruba Central streaming: WebSocket at /streaming/api, key validation at /streaming/token/validate, counters at /stats.",
        simulate,
    )
}

async fn simulate(args: SimulateArgs) -> Result<(), BoxError> {
    let tls = match args.tls_cert.zip(args.tls_key) {
        Some((cert, key)) => Some(netpipe_connect::tls::server_config(&cert, &key)?),
        None => None,
    };
    let url = if tls.is_some() {
        "wss://{}/streaming/api"
    } else {
        "ws://{}/streaming/api"
    };
    let config = SimulatorConfig {
        key: args.key,
        renew_from: args.renew_from,
        renew_after: args.renew_after,
        rate: args.rate,
        count: args.count,
        mixed: args.mixed,
        drop_every: args.drop_every,
        malformed_every: args.malformed_every,
        silent_after: args.silent_after,
        unsubscribed: args.unsubscribed,
        tls,
    };
    serve_until_interrupted(args.listen, "Aruba Central", url, |listener| {
        serve(listener, config, Arc::new(Stats::default()))
    })
    .await
}
