//! The vendor sample's approach in Python, on the simulator's frames: a
//! venv with protobuf and grpcio-tools (whose bundled protoc compiles the
//! project's `proto/aruba/*.proto`), set up on first use under `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::scenarios::feeder_frames;

/// Messages the Python baseline decodes per run (it is about two orders of
/// magnitude slower than netpipe; rates are compared, not totals).
const MESSAGES: u64 = 2_000;

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let output = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn workdir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-python")
}

fn setup(dir: &Path) -> anyhow::Result<PathBuf> {
    let python = dir.join("venv/bin/python");
    if !python.exists() {
        eprintln!("setting up the Python baseline (venv with protobuf and grpcio-tools)...");
        run(Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join("venv")))?;
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "-q",
            "protobuf",
            "grpcio-tools",
        ]))?;
    }
    let pb2 = dir.join("pb2");
    std::fs::create_dir_all(&pb2)?;
    let protos = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/aruba");
    run(Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&protos)
        .arg(format!("--python_out={}", pb2.display()))
        .arg(protos.join("streaming.proto"))
        .arg(protos.join("monitoring.proto")))?;
    Ok(python)
}

/// The baseline venv's Python, with `requests` (the NSO row's client).
pub fn with_requests() -> anyhow::Result<PathBuf> {
    let dir = workdir();
    std::fs::create_dir_all(&dir)?;
    let python = setup(&dir)?;
    let has = Command::new(&python)
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        run(Command::new(&python).args(["-m", "pip", "install", "-q", "requests"]))?;
    }
    Ok(python)
}

/// The venv's Python, and a descriptor set of the project's `proto/arista`
/// event files (made by grpcio-tools' protoc) for the CloudVision client.
pub fn with_cloudvision_descriptors() -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = workdir();
    std::fs::create_dir_all(&dir)?;
    let python = setup(&dir)?;
    let descriptors = dir.join("cloudvision.pb");
    let protos = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    run(Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "--include_imports", "-I"])
        .arg(&protos)
        .arg(format!("--descriptor_set_out={}", descriptors.display()))
        .arg(protos.join("arista/event.v1/services.gen.proto")))?;
    Ok((python, descriptors))
}

/// The frames both sides decode (dense, or in the feeder's mix of sizes), length-prefixed.
pub fn frames_file(dir: &Path, mixed: bool) -> anyhow::Result<PathBuf> {
    let path = dir.join(match mixed {
        false => "monitoring.frames",
        true => "monitoring-mixed.frames",
    });
    let mut out = Vec::new();
    for frame in feeder_frames(64, mixed) {
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(&path, out)?;
    Ok(path)
}

/// Messages per second of the vendor sample's decode + MessageToDict +
/// json.dumps, on dense frames or on frames in a mix of sizes.
pub fn vendor_sample_rate(mixed: bool) -> anyhow::Result<f64> {
    let dir = workdir();
    std::fs::create_dir_all(&dir)?;
    let python = setup(&dir)?;
    let frames = frames_file(&dir, mixed)?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/vendor_sample.py");
    rate_of(
        Command::new(python)
            .arg(script)
            .arg(dir.join("pb2"))
            .arg(frames)
            .arg(MESSAGES.to_string()),
        "the Python baseline",
    )
}

/// The `rate` a Python baseline (`what`) prints as JSON.
pub fn rate_of(command: &mut Command, what: &str) -> anyhow::Result<f64> {
    let output = command.output()?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    result["rate"]
        .as_f64()
        .with_context(|| format!("no rate from {what}"))
}
