//! The CloudVision row: the simulator's events (encoded before the clock
//! starts, served from memory) read over gRPC by the `cloudvision` source
//! into a blackhole, against the vendor's approach in Python (grpcio, the
//! event messages, `MessageToDict` and `json.dumps` per response) on the
//! same stream.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use netpipe_source_cloudvision::simulator::{SimulatorConfig, serve};

use super::serve::{serve_on_a_thread, wait_until_serving};
use super::{ENDLESS_BATCH, run_pipeline};

/// Events netpipe reads per run.
const NETPIPE_EVENTS: usize = 50_000;
/// Events the Python client reads per run (rates are compared).
const PYTHON_EVENTS: usize = 10_000;

/// A simulator holding `events` events, encoded before it serves.
fn simulator(events: usize) -> anyhow::Result<SocketAddr> {
    let config = SimulatorConfig {
        token: "sim-token".into(),
        events,
        updates: 0,
        devices: 1,
        interval: Duration::from_secs(3600),
        drop_after: None,
        proto_path: Vec::new(),
        models: Vec::new(),
    };
    let address = serve_on_a_thread(move |listener| async move {
        let _ = serve(listener, config, None).await;
    })?;
    wait_until_serving(address)
}

pub fn netpipe() -> anyhow::Result<f64> {
    let address = simulator(NETPIPE_EVENTS)?;
    let yaml = format!(
        "sources:\n  cv: {{ type: cloudvision, url: 'http://{address}', token: sim-token, resources: [{{ model: arista.event.v1.Event }}] }}\nsinks:\n  sink: {{ type: blackhole, inputs: [cv], {ENDLESS_BATCH} }}\n"
    );
    let took = run_pipeline(&yaml, "sink", NETPIPE_EVENTS as u64, 1)?;
    Ok(NETPIPE_EVENTS as f64 / took.as_secs_f64())
}

pub fn python_client() -> anyhow::Result<f64> {
    let address = simulator(PYTHON_EVENTS)?;
    let (python, descriptors) = crate::python::with_cloudvision_descriptors()?;
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/cloudvision_client.py");
    crate::python::rate_of(
        Command::new(python)
            .arg(script)
            .arg(address.to_string())
            .arg(descriptors)
            .args(["sim-token", &PYTHON_EVENTS.to_string()]),
        "the Python client",
    )
}
