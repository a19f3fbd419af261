//! `netpipe simulate <vendor>`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use netpipe_source_aruba::Topic;
use netpipe_source_aruba::simulator::{SimulatorConfig, Stats, serve};
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
    },
}

pub fn run(vendor: Vendor) -> ExitCode {
    let Vendor::Aruba {
        listen,
        key,
        renew_from,
        rate,
        count,
        drop_every,
        malformed_every,
        unsubscribed,
    } = vendor;
    let config = SimulatorConfig {
        key,
        renew_from,
        rate,
        count,
        drop_every,
        malformed_every,
        unsubscribed,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        info!(
            "Aruba Central simulator on ws://{}/streaming/api",
            listener.local_addr()?
        );
        tokio::select! {
            served = serve(listener, config, Arc::new(Stats::default())) => served,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("simulator failed on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}
