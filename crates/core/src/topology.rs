//! Runs a checked pipeline: builds every component, wires sources to the
//! batchers of the sinks that read them, and drains everything on shutdown.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::BoxError;
use crate::ack::Chunk;
use crate::batch::{Batch, Written, run_batcher};
use crate::buffer::{BufferConfig, DiskBuffer};
use crate::config::PipelineConfig;
use crate::metrics::{ComponentKind, Metrics};
use crate::sink::{EndOfOutput, Sink};
use crate::source::{BuildContext, Closed, Source, SourceContext, SourceSender};

/// Chunks that may wait in front of each sink's batcher. With the batch being
/// filled and the one being written, this bounds what a slow sink holds.
const CHUNKS_PER_SINK: usize = 8;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{kind} `{component}` could not start: {error}")]
    Build {
        kind: &'static str,
        component: String,
        error: BoxError,
    },
    #[error("{}", failures.iter().map(|(c, e)| format!("`{c}` failed: {e}")).collect::<Vec<_>>().join("; "))]
    Failed { failures: Vec<(String, BoxError)> },
}

/// Runs until every source has ended and every sink has drained, or until
/// `shutdown` is cancelled and the same drain has happened.
pub async fn run(
    pipeline: PipelineConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let context = |name: &str, kind: ComponentKind| BuildContext {
        metrics: metrics.component(kind, name),
        ..pipeline.build_context(name)
    };
    let mut sources: Vec<(String, Box<dyn Source>)> = Vec::new();
    for spec in &pipeline.sources {
        let source = spec
            .config
            .build(&context(&spec.name, ComponentKind::Source))
            .map_err(|error| RunError::Build {
                kind: "source",
                component: spec.name.clone(),
                error,
            })?;
        sources.push((spec.name.clone(), source));
    }
    let mut sinks: Vec<(String, Box<dyn Sink>)> = Vec::new();
    for spec in &pipeline.sinks {
        let sink = spec
            .config
            .build(&context(&spec.name, ComponentKind::Sink))
            .await
            .map_err(|error| RunError::Build {
                kind: "sink",
                component: spec.name.clone(),
                error,
            })?;
        sinks.push((spec.name.clone(), sink));
    }

    let mut disk_buffers = Vec::new();
    for spec in &pipeline.sinks {
        disk_buffers.push(match &spec.buffer {
            BufferConfig::Memory => None,
            BufferConfig::Disk { path, max_size } => Some(
                DiskBuffer::open(&spec.name, &pipeline.base_dir.join(path), max_size.0 as u64)
                    .map_err(|error| RunError::Build {
                        kind: "sink",
                        component: spec.name.clone(),
                        error: Box::new(error),
                    })?,
            ),
        });
    }

    let mut inputs_of: HashMap<&str, Vec<mpsc::Sender<Arc<Chunk>>>> = HashMap::new();
    let mut batchers = JoinSet::new();
    let mut buffers = JoinSet::new();
    let mut sink_tasks = JoinSet::new();
    for (((name, sink), spec), disk_buffer) in
        sinks.into_iter().zip(&pipeline.sinks).zip(disk_buffers)
    {
        let (chunk_tx, mut chunk_rx) = mpsc::channel(CHUNKS_PER_SINK);
        let (batch_tx, batch_rx) = mpsc::channel(1);
        for input in &spec.inputs {
            inputs_of
                .entry(input.as_str())
                .or_default()
                .push(chunk_tx.clone());
        }
        let component = metrics.component(ComponentKind::Sink, &name);
        if let Some(disk_buffer) = disk_buffer {
            let (buffered_tx, buffered_rx) = mpsc::channel(CHUNKS_PER_SINK);
            let input = std::mem::replace(&mut chunk_rx, buffered_rx);
            disk_buffer
                .start(
                    input,
                    buffered_tx,
                    component.clone(),
                    metrics.buffer_bytes(&name),
                    shutdown.clone(),
                    &mut buffers,
                )
                .map_err(|error| RunError::Build {
                    kind: "sink",
                    component: name.clone(),
                    error: Box::new(error),
                })?;
        }
        let written = Written {
            events: component.events_out,
            bytes: component.bytes_out,
            latency: metrics.batch_latency(&name),
        };
        let build_events = sink.reads_events();
        batchers.spawn(run_batcher(
            chunk_rx,
            batch_tx,
            spec.batch,
            build_events,
            Some(written),
        ));
        let metrics = metrics.clone();
        sink_tasks.spawn(async move {
            let result = drive_sink(&name, sink, batch_rx, &metrics).await;
            (name, result)
        });
    }
    // A failed sink stops the sources at once; the other sinks still drain.
    let sinks_done = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut failures: Vec<(String, BoxError)> = Vec::new();
            while let Some(done) = sink_tasks.join_next().await {
                let failure = match done {
                    Ok((_, Ok(()))) => continue,
                    Ok((name, Err(e))) if e.is::<EndOfOutput>() => {
                        info!(sink = %name, "{e}; stopping");
                        shutdown.cancel();
                        continue;
                    }
                    Ok((name, Err(e))) => (name, e),
                    Err(e) => ("sink task".to_string(), Box::new(e) as BoxError),
                };
                shutdown.cancel();
                failures.push(failure);
            }
            failures
        })
    };

    let mut source_tasks = JoinSet::new();
    for (name, source) in sources {
        let component = metrics.component(ComponentKind::Source, &name);
        let outputs = inputs_of.remove(name.as_str()).unwrap_or_default();
        let (out, acks) = SourceSender::new(outputs, component.clone());
        let cx = SourceContext {
            name: Arc::from(name.as_str()),
            out,
            shutdown: shutdown.clone(),
            acks,
            metrics: component.clone(),
        };
        source_tasks.spawn(async move {
            let result = match source.run(cx).await {
                // The pipeline closed under it because a sink failed: that
                // sink's error is the one to report.
                Err(e) if e.is::<Closed>() => Ok(()),
                other => other,
            };
            match &result {
                Ok(()) => info!(source = %name, "source finished"),
                Err(e) => {
                    component.errors.inc();
                    error!(source = %name, "source stopped: {e}");
                }
            }
            (name, result)
        });
    }
    drop(inputs_of);

    let mut failures: Vec<(String, BoxError)> = Vec::new();
    while let Some(done) = source_tasks.join_next().await {
        match done {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(e))) => failures.push((name, e)),
            Err(e) => failures.push(("source task".into(), Box::new(e))),
        }
    }
    match sinks_done.await {
        Ok(sink_failures) => failures.extend(sink_failures),
        Err(e) => failures.push(("sink supervisor".into(), Box::new(e))),
    }
    while batchers.join_next().await.is_some() {}
    while let Some(done) = buffers.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(("disk buffer".into(), Box::new(e))),
            Err(e) => failures.push(("disk buffer".into(), Box::new(e))),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(RunError::Failed { failures })
    }
}

async fn drive_sink(
    name: &str,
    mut sink: Box<dyn Sink>,
    mut batches: mpsc::Receiver<Batch>,
    metrics: &Metrics,
) -> Result<(), BoxError> {
    let m = metrics.component(ComponentKind::Sink, name);
    loop {
        let deadline = sink.deadline();
        let batch = tokio::select! {
            batch = batches.recv() => batch,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                if let Err(e) = sink.tick().await {
                    m.errors.inc();
                    error!(sink = %name, "sink failed: {e}");
                    return Err(e);
                }
                continue;
            }
        };
        let Some(batch) = batch else { break };
        if batch.is_flush() {
            if let Err(e) = sink.flush().await {
                m.errors.inc();
                error!(sink = %name, "sink failed: {e}");
                return Err(e);
            }
            continue;
        }
        // Written counts and latency advance when the batch is acknowledged.
        m.events_in.inc_by(batch.len() as u64);
        m.bytes_in.inc_by(batch.byte_size() as u64);
        if let Err(e) = sink.write(batch).await {
            if e.is::<EndOfOutput>() {
                return Err(e);
            }
            m.errors.inc();
            error!(sink = %name, "sink failed: {e}");
            return Err(e);
        }
    }
    sink.close().await.inspect_err(|e| {
        m.errors.inc();
        error!(sink = %name, "sink failed to close: {e}");
    })
}
