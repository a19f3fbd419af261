//! `netpipe simulate packetfabric`: the simulator's options and how it is served.

use std::net::SocketAddr;
use std::sync::Arc;

use netpipe_core::BoxError;
use netpipe_core::simulate::{Simulator, serve_until_interrupted};

use super::{SimulatorConfig, Stats, serve};

/// Options of `netpipe simulate packetfabric`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8766")]
    listen: SocketAddr,
    /// The API key it accepts.
    #[arg(long, default_value = "sim-api-key")]
    api_key: String,
    /// The login it accepts (with --password).
    #[arg(long, default_value = "sim-user")]
    login: String,
    /// The password of --login.
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
    /// End logged-in sessions with each stream (--close-every): their token then gets 401.
    #[arg(long)]
    end_sessions: bool,
}

/// The `packetfabric` simulator, for the source's registry entry.
pub fn simulator() -> Simulator {
    Simulator::new(
        "packetfabric",
        "PacketFabric streaming events: login/logout, POST /v2/events, SSE at GET /v2/events/{uuid}, counters at /stats.",
        simulate,
    )
}

async fn simulate(args: SimulateArgs) -> Result<(), BoxError> {
    let config = SimulatorConfig {
        api_key: args.api_key,
        login: args.login,
        password: args.password,
        mfa_login: args.mfa_login,
        rate: args.rate,
        count: args.count,
        close_every: args.close_every,
        malformed_every: args.malformed_every,
        expire_after: args.expire_after,
        end_sessions: args.end_sessions,
        ..SimulatorConfig::default()
    };
    serve_until_interrupted(args.listen, "PacketFabric", "http://{}", |listener| {
        serve(listener, config, Arc::new(Stats::default()))
    })
    .await
}
