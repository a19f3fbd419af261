//! `netpipe simulate <vendor>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use netpipe_source_aruba::Topic;
use netpipe_source_aruba::simulator::{SimulatorConfig, Stats, serve, tls_config};
use netpipe_source_packetfabric::simulator as pf;
use tracing::{error, info};

#[derive(Subcommand)]
pub enum Vendor {
    /// Aruba Central streaming: WebSocket at /streaming/api, key validation at
    /// /streaming/token/validate, counters at /stats.
    Aruba {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: SocketAddr,
        /// The streaming key clients must send.
        #[arg(long, default_value = "sim-key")]
        key: String,
        /// An old key that validation renews to --key.
        #[arg(long)]
        renew_from: Option<String>,
        /// Messages per second per connection (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Messages per topic in all, then silence.
        #[arg(long)]
        count: Option<u64>,
        /// Close each connection after N messages.
        #[arg(long, value_name = "N")]
        drop_every: Option<u64>,
        /// Send a malformed frame every N messages.
        #[arg(long, value_name = "N")]
        malformed_every: Option<u64>,
        /// Refuse a topic with 400 Unsubscribed Topic (repeatable).
        #[arg(long, value_parser = |s: &str| s.parse::<Topic>())]
        unsubscribed: Vec<Topic>,
        /// Serve HTTPS and wss:// with this PEM certificate chain (with --tls-key).
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// PacketFabric streaming events: login/logout, POST /v2/events, SSE at
    /// GET /v2/events/{uuid}, counters at /stats.
    Packetfabric {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8766")]
        listen: SocketAddr,
        /// The API key it accepts.
        #[arg(long, default_value = "sim-api-key")]
        api_key: String,
        /// The login it accepts (with --password).
        #[arg(long, default_value = "sim-user")]
        login: String,
        #[arg(long, default_value = "sim-password")]
        password: String,
        /// A login whose account requires MFA.
        #[arg(long, default_value = "mfa-user")]
        mfa_login: String,
        /// Events per second per stream (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Events in all, then heartbeats only.
        #[arg(long)]
        count: Option<u64>,
        /// End each stream after N events.
        #[arg(long, value_name = "N")]
        close_every: Option<u64>,
        /// Make every Nth event's data not JSON.
        #[arg(long, value_name = "N")]
        malformed_every: Option<u64>,
        /// A bundle may be streamed N times, then answers 404 (expired).
        #[arg(long, value_name = "N")]
        expire_after: Option<u64>,
    },
}

pub fn run(vendor: Vendor) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (listen, result) = match vendor {
        Vendor::Aruba {
            listen,
            key,
            renew_from,
            rate,
            count,
            drop_every,
            malformed_every,
            unsubscribed,
            tls_cert,
            tls_key,
        } => {
            let tls = match tls_cert.zip(tls_key) {
                Some((cert, key)) => match tls_config(&cert, &key) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        error!("{e}");
                        return ExitCode::FAILURE;
                    }
                },
                None => None,
            };
            let url = if tls.is_some() {
                "wss://{}/streaming/api"
            } else {
                "ws://{}/streaming/api"
            };
            let config = SimulatorConfig {
                key,
                renew_from,
                rate,
                count,
                drop_every,
                malformed_every,
                unsubscribed,
                tls,
            };
            (
                listen,
                runtime.block_on(serve_until_interrupted(listen, "Aruba Central", url, |l| {
                    serve(l, config, Arc::new(Stats::default()))
                })),
            )
        }
        Vendor::Packetfabric {
            listen,
            api_key,
            login,
            password,
            mfa_login,
            rate,
            count,
            close_every,
            malformed_every,
            expire_after,
        } => {
            let config = pf::SimulatorConfig {
                api_key,
                login,
                password,
                mfa_login,
                rate,
                count,
                close_every,
                malformed_every,
                expire_after,
                ..pf::SimulatorConfig::default()
            };
            (
                listen,
                runtime.block_on(serve_until_interrupted(
                    listen,
                    "PacketFabric",
                    "http://{}",
                    |l| pf::serve(l, config, Arc::new(pf::Stats::default())),
                )),
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("simulator failed on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_interrupted<F, Fut>(
    listen: SocketAddr,
    vendor: &str,
    url: &str,
    serve: F,
) -> std::io::Result<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let url = url.replace("{}", &listener.local_addr()?.to_string());
    info!("{vendor} simulator on {url}");
    tokio::select! {
        served = serve(listener) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
