//! The NSO row: the simulator's `ncs-alarms` stream (notifications made
//! before the clock starts, served from memory) read by the `nso` source
//! into a blackhole, against a Python client (requests + json) reading the
//! same stream.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use netpipe_source_nso::simulator::{SimulatorConfig, Stats, serve};

use super::serve::{serve_on_a_thread, wait_until_serving};
use super::{ENDLESS_BATCH, run_pipeline};

/// Notifications netpipe reads per run.
const NETPIPE_NOTIFICATIONS: u64 = 40_000;
/// Notifications the Python client reads per run (rates are compared).
const PYTHON_NOTIFICATIONS: u64 = 4_000;

/// A simulator whose streams hold `count` notifications each, made before serving.
fn simulator(count: u64) -> anyhow::Result<SocketAddr> {
    let address = serve_on_a_thread(move |listener| async move {
        let config = SimulatorConfig {
            count: Some(count),
            prefill: true,
            ..SimulatorConfig::default()
        };
        let _ = serve(listener, config, Arc::new(Stats::default())).await;
    })?;
    wait_until_serving(address)
}

pub fn netpipe() -> anyhow::Result<f64> {
    let address = simulator(NETPIPE_NOTIFICATIONS)?;
    let yaml = format!(
        "sources:\n  nso: {{ type: nso, url: 'http://{address}', username: admin, password: admin, streams: [ncs-alarms] }}\nsinks:\n  sink: {{ type: blackhole, inputs: [nso], {ENDLESS_BATCH} }}\n"
    );
    let took = run_pipeline(&yaml, "sink", NETPIPE_NOTIFICATIONS, 1)?;
    Ok(NETPIPE_NOTIFICATIONS as f64 / took.as_secs_f64())
}

pub fn python_client() -> anyhow::Result<f64> {
    let address = simulator(PYTHON_NOTIFICATIONS)?;
    let python = crate::python::with_requests()?;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/nso_client.py");
    crate::python::rate_of(
        Command::new(python)
            .arg(script)
            .arg(format!("http://{address}/restconf/streams/ncs-alarms/json"))
            .args(["admin", "admin", &PYTHON_NOTIFICATIONS.to_string()]),
        "the Python client",
    )
}
