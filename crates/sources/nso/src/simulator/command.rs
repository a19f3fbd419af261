//! `netpipe simulate nso`: the simulator's options and how it is served.

use std::net::SocketAddr;
use std::sync::Arc;

use netpipe_core::BoxError;
use netpipe_core::simulate::{Simulator, serve_until_interrupted};
use netpipe_core::units::HumanDuration;

use super::{SimulatorConfig, Stats, serve};

/// Options of `netpipe simulate nso`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8767")]
    listen: SocketAddr,
    /// The user it accepts (HTTP Basic).
    #[arg(long, default_value = "admin")]
    username: String,
    /// That user's password.
    #[arg(long, default_value = "admin")]
    password: String,
    /// Notifications per second per stream (default: 10, or as fast as possible with --count).
    #[arg(long)]
    rate: Option<f64>,
    /// Notifications per stream in all, then silence.
    #[arg(long)]
    count: Option<u64>,
    /// End each subscription after N notifications.
    #[arg(long, value_name = "N")]
    close_every: Option<u64>,
    /// Send `: error: ...` and end each subscription after N notifications.
    #[arg(long, value_name = "N")]
    error_every: Option<u64>,
    /// Make every Nth notification's data not JSON.
    #[arg(long, value_name = "N")]
    malformed_every: Option<u64>,
    /// Send `: keepalive` comments on a stream quiet this long (e.g. 5s).
    #[arg(long, value_parser = HumanDuration::parse)]
    keepalive: Option<HumanDuration>,
    /// Path under which the streams' JSON locations are announced.
    #[arg(long, default_value = "/restconf/streams")]
    location_prefix: String,
    /// Generate the --count notifications of every stream before serving (benchmarks).
    #[arg(long)]
    prefill: bool,
}

/// The `nso` simulator, for the source's registry entry.
pub fn simulator() -> Simulator {
    Simulator::new(
        "nso",
        "Cisco NSO RESTCONF: the stream list, streams NETCONF (no replay), ncs-alarms and ncs-events (replay by start-time) as server-sent events, counters at /stats.",
        simulate,
    )
}

async fn simulate(args: SimulateArgs) -> Result<(), BoxError> {
    let config = SimulatorConfig {
        username: args.username,
        password: args.password,
        rate: args.rate,
        count: args.count,
        close_every: args.close_every,
        error_every: args.error_every,
        malformed_every: args.malformed_every,
        keepalive: args.keepalive.map(|k| k.0),
        location_prefix: args.location_prefix,
        prefill: args.prefill,
    };
    serve_until_interrupted(args.listen, "NSO RESTCONF", "http://{}", |listener| {
        serve(listener, config, Arc::new(Stats::default()))
    })
    .await
}
