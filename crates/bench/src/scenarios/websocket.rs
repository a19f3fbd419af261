//! The WebSocket scenarios: the frame feeder (the Aruba simulator serving
//! frames made before it answers, as fast as the socket takes them) read
//! by netpipe into a blackhole or stdout, beside a client that only
//! receives, or the vendor sample on the same frames.

use super::*;

/// The frame feeder: the Aruba simulator on a thread and runtime of its
/// own, streaming `count` monitoring messages (dense, or in a mix of
/// sizes) as fast as the socket takes them. Its frames are made before it
/// serves and written a run at a time, so what it costs is little more
/// than the copies into the socket.
pub(super) fn feeder(count: u64, mixed: bool) -> anyhow::Result<SocketAddr> {
    serve::wait_until_serving(simulator(count, None, mixed)?)
}

/// `n` frames as the feeder makes them: dense, or in a mix of sizes.
pub fn feeder_frames(n: u64, mixed: bool) -> Vec<Bytes> {
    match mixed {
        false => sample_frames(Topic::Monitoring, n),
        true => mixed_frames(Topic::Monitoring, n),
    }
}

/// The mean size of the feeder's dense frames.
pub(super) fn dense_frame_bytes() -> f64 {
    mean_len(&feeder_frames(32, false))
}

/// The mean size of the feeder's frames in a mix of sizes.
pub(super) fn mixed_frame_bytes() -> f64 {
    mean_len(&feeder_frames(32, true))
}

fn mean_len(frames: &[Bytes]) -> f64 {
    frames.iter().map(Bytes::len).sum::<usize>() as f64 / frames.len() as f64
}

/// The Aruba simulator, at `rate` messages per second or as fast as it can.
pub(super) fn simulator(count: u64, rate: Option<f64>, mixed: bool) -> anyhow::Result<SocketAddr> {
    serve_on_a_thread(move |listener| async move {
        let config = SimulatorConfig {
            count: Some(count),
            rate,
            mixed,
            ..SimulatorConfig::default()
        };
        let _ = serve(listener, config, Arc::new(Stats::default())).await;
    })
}

pub(super) fn aruba_source(address: SocketAddr) -> String {
    format!(
        "  central:\n    type: aruba_central\n    url: ws://{address}/streaming/api\n    customers: [{{ name: bench, key: sim-key, topic: monitoring }}]\n"
    )
}

/// The feeder's `count` frames (dense or mixed) read by netpipe into a sink
/// whose options are `sink` (its type first), on `threads` runtime
/// threads: frames/s.
pub(super) fn from_feeder(
    count: u64,
    mixed: bool,
    sink: &str,
    threads: usize,
) -> anyhow::Result<f64> {
    let address = feeder(count, mixed)?;
    let yaml = format!(
        "sources:\n{}sinks:\n  sink: {{ {sink}, inputs: [central], {ENDLESS_BATCH} }}\n",
        aruba_source(address)
    );
    Ok(count as f64 / run_pipeline(&yaml, "sink", count, threads)?.as_secs_f64())
}

pub(super) fn websocket_netpipe(mixed: bool) -> anyhow::Result<f64> {
    from_feeder(WS_MESSAGES, mixed, "type: blackhole", 2)
}

/// Frames the stdout row reads: rendering JSON is about 20 µs a dense frame.
const STDOUT_MESSAGES: u64 = 50_000;

/// The stdout row's pipeline, run by [`websocket_stdout`] in a process whose
/// stdout it reads.
pub(super) fn websocket_to_stdout(mixed: bool) -> anyhow::Result<f64> {
    from_feeder(STDOUT_MESSAGES, mixed, "type: stdout", 2)
}

/// `netpipe run` as a user pipes it: the pipeline runs in a process of its
/// own whose stdout this one reads, counting lines as `| wc -l` does (the
/// newlines of each read, no line copied but the last of each read). That
/// process's last line is its `{rate, rss_kib}`: both are the figures.
pub fn websocket_stdout(mixed: bool) -> anyhow::Result<serde_json::Value> {
    use std::io::Read as _;
    let side = match mixed {
        false => "websocket_stdout:pipeline",
        true => "websocket_stdout_mixed:pipeline",
    };
    let mut pipeline = Command::new(std::env::current_exe()?)
        .args(["--child", side])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut out = pipeline.stdout.take().context("stdout")?;
    let mut read = vec![0; 1 << 20];
    // The line being read when a read ended, and the last complete line.
    let (mut lines, mut partial, mut last) = (0u64, Vec::new(), Vec::new());
    loop {
        let chunk = match out.read(&mut read)? {
            0 => break,
            n => &read[..n],
        };
        let Some(end) = memchr::memrchr(b'\n', chunk) else {
            partial.extend_from_slice(chunk);
            continue;
        };
        lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        last.clear();
        match memchr::memrchr(b'\n', &chunk[..end]) {
            Some(before) => last.extend_from_slice(&chunk[before + 1..end]),
            None => {
                last.extend_from_slice(&partial);
                last.extend_from_slice(&chunk[..end]);
            }
        }
        partial.clear();
        partial.extend_from_slice(&chunk[end + 1..]);
    }
    anyhow::ensure!(pipeline.wait()?.success(), "the pipeline failed");
    // Every event arrived, then the figures.
    anyhow::ensure!(
        lines == STDOUT_MESSAGES + 1,
        "{lines} lines for {STDOUT_MESSAGES} events"
    );
    Ok(serde_json::from_slice(&last)?)
}

pub(super) fn websocket_baseline(mixed: bool) -> anyhow::Result<f64> {
    receive(mixed, |_| Ok(()))
}

/// Not a row: the least a client that keeps netpipe's promise must do,
/// receiving each frame and checking it whole as it arrives (the arrival
/// check of netpipe's Aruba source: envelope, then the payload's key, time
/// and size), on one task, building nothing. `--child
/// websocket:checking` (or `websocket_mixed:checking`) prints its rate.
pub(super) fn websocket_checking(mixed: bool) -> anyhow::Result<f64> {
    let decoder = Decoder::new();
    let summarizer = decoder
        .codec()
        .summarizer(decoder.topic_plan(Topic::Monitoring));
    receive(mixed, move |frame| {
        let envelope = decoder.decode_envelope(&frame, Topic::Monitoring)?;
        decoder.codec().summarize(&summarizer, &envelope.data)?;
        Ok(())
    })
}

/// A tokio-tungstenite client on one task reading [`WS_MESSAGES`] frames
/// from the feeder, each handed to `each`: frames/s.
fn receive(mixed: bool, mut each: impl FnMut(Bytes) -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let address = feeder(WS_MESSAGES, mixed)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let start = Instant::now();
        let mut request = format!("ws://{address}/streaming/api").into_client_request()?;
        request
            .headers_mut()
            .insert("Authorization", "sim-key".parse()?);
        request.headers_mut().insert("Topic", "monitoring".parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        let mut received = 0;
        while received < WS_MESSAGES {
            match ws.next().await {
                Some(Ok(Message::Binary(frame))) => {
                    each(frame)?;
                    received += 1;
                }
                Some(Ok(_)) => {}
                other => bail!("connection ended early: {other:?}"),
            }
        }
        let _ = ws.close(None).await;
        Ok(WS_MESSAGES as f64 / start.elapsed().as_secs_f64())
    })
}
