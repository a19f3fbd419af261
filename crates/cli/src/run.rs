//! `netpipe run` and `netpipe validate`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use netpipe_core::config::{self, Registry};
use netpipe_core::metrics::Metrics;
use netpipe_core::topology;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::metrics_server;

pub fn validate(files: &[PathBuf], registry: &Registry) -> ExitCode {
    let mut failed = false;
    for file in files {
        match config::load(file, registry) {
            Ok(_) => println!("{}: ok", file.display()),
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

pub fn run(file: &Path, metrics_addr: Option<SocketAddr>, registry: &Registry) -> ExitCode {
    let pipeline = match config::load(file, registry) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
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
