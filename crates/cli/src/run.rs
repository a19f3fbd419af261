//! `netpipe run` and `netpipe validate`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use netpipe_core::config::{self, Registry};
use netpipe_core::metrics::{ComponentKind, Metrics};
use netpipe_core::topology;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::metrics_server;

pub fn validate(files: &[PathBuf], no_env: bool, registry: &Registry) -> ExitCode {
    let mut failed = false;
    for file in files {
        match config::load_with(file, registry, no_env) {
            Ok(pipeline) => {
                for note in &pipeline.notes {
                    eprintln!("{note}");
                }
                println!("{}: ok", file.display());
            }
            Err(errors) => {
                failed = true;
                eprintln!("{errors}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// First SIGINT/SIGTERM: stop the sources and drain. Second: exit at once.
async fn watch_signals(shutdown: CancellationToken) {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        warn!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    for round in 0.. {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        if round == 0 {
            info!("stopping: draining in-flight events (signal again to exit at once)");
            shutdown.cancel();
        } else {
            warn!("second signal: exiting without draining");
            std::process::exit(130);
        }
    }
}

pub fn run(
    file: &Path,
    metrics_addr: Option<SocketAddr>,
    drain_timeout: Duration,
    registry: &Registry,
) -> ExitCode {
    match config::load(file, registry) {
        Ok(pipeline) => run_pipeline(pipeline, metrics_addr, drain_timeout),
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// Options of `netpipe replay`.
pub struct ReplayArgs {
    pub paths: Vec<PathBuf>,
    pub to: PathBuf,
    pub speed: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub checkpoint: Option<PathBuf>,
    pub drain_timeout: Duration,
}

/// `netpipe replay PATH... --to SINKS.yaml`: the sinks file with a `replay`
/// source (type `parquet`) added after its own lines, so errors in it keep
/// their line numbers.
pub fn replay(args: ReplayArgs, registry: &Registry) -> ExitCode {
    let text = match std::fs::read_to_string(&args.to) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read the sinks file: {e}", args.to.display());
            return ExitCode::FAILURE;
        }
    };
    // JSON strings are YAML strings: paths and times stay literal.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let paths: Vec<String> = args
        .paths
        .iter()
        .map(|p| quote(&absolute(p).display().to_string()))
        .collect();
    let speed = if args.speed == "max" || args.speed.parse::<f64>().is_ok() {
        args.speed.clone()
    } else {
        quote(&args.speed)
    };
    let mut source = format!(
        "\nsources:\n  replay:\n    type: parquet\n    path: [{}]\n    speed: {}\n",
        paths.join(", "),
        speed
    );
    for (key, value) in [("start", &args.start), ("end", &args.end)] {
        if let Some(v) = value {
            source.push_str(&format!("    {key}: {}\n", quote(v)));
        }
    }
    if let Some(c) = &args.checkpoint {
        source.push_str(&format!(
            "    checkpoint: {}\n",
            quote(&absolute(c).display().to_string())
        ));
    }
    let file = args.to.display().to_string();
    let options = config::ParseOptions {
        base_dir: args
            .to
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        lookup: &|name| std::env::var(name).ok(),
        unset_env_is_note: false,
    };
    match config::parse_with(&file, &(text + &source), registry, &options) {
        Ok(pipeline) => run_pipeline(pipeline, None, args.drain_timeout),
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// How often a drain says what it still waits for.
const DRAIN_REPORT_EVERY: Duration = Duration::from_secs(5);

/// Once shutdown begins: says every few seconds which sinks still have
/// events to write, and after `deadline` ends the run, non-zero. What was
/// not written was never acknowledged, so a source that replays (a Parquet
/// replay's checkpoint) sends it again next time.
async fn watch_drain(
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    sinks: Vec<(String, Vec<String>)>,
    deadline: Duration,
) {
    shutdown.cancelled().await;
    let started = tokio::time::Instant::now();
    let unwritten = || -> Vec<String> {
        sinks
            .iter()
            .filter_map(|(sink, inputs)| {
                let sent: u64 = inputs
                    .iter()
                    .map(|i| metrics.component(ComponentKind::Source, i).events_out.get())
                    .sum();
                let written = metrics
                    .component(ComponentKind::Sink, sink)
                    .events_out
                    .get();
                (sent > written).then(|| format!("`{sink}` ({} events)", sent - written))
            })
            .collect()
    };
    let mut report = tokio::time::interval_at(started + DRAIN_REPORT_EVERY, DRAIN_REPORT_EVERY);
    loop {
        tokio::select! {
            _ = report.tick() => {
                let waiting = unwritten();
                if !waiting.is_empty() {
                    let seconds = |d: Duration| d.as_secs_f64().round() as u64;
                    warn!(
                        "still draining after {}s: waiting for {}; exiting in {}s without them",
                        seconds(started.elapsed()),
                        waiting.join(", "),
                        seconds(deadline.saturating_sub(started.elapsed()))
                    );
                }
            }
            _ = tokio::time::sleep_until(started + deadline) => {
                error!(
                    "the drain did not finish within {deadline:?} (--drain-timeout): exiting with {} unwritten and not acknowledged",
                    unwritten().join(", ")
                );
                eprint!("{}", metrics.summary());
                std::process::exit(3);
            }
        }
    }
}

fn run_pipeline(
    pipeline: config::PipelineConfig,
    metrics_addr: Option<SocketAddr>,
    drain_timeout: Duration,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Arc::new(Metrics::default());
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        let sinks = pipeline
            .sinks
            .iter()
            .map(|s| (s.name.clone(), s.inputs.clone()))
            .collect();
        tokio::spawn(watch_drain(
            shutdown.clone(),
            metrics.clone(),
            sinks,
            drain_timeout,
        ));
        if let Some(addr) = metrics_addr.or(pipeline.metrics.as_ref().map(|m| m.address)) {
            metrics_server::serve(addr, metrics.clone()).await?;
        }
        topology::run(pipeline, metrics.clone(), shutdown).await?;
        Ok::<_, anyhow::Error>(())
    });
    eprint!("{}", metrics.summary());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
