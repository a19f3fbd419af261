//! `cargo run --release -p netpipe-bench`: runs each scenario a fixed number
//! of events, several times, and prints a markdown table of medians with the
//! goal each must meet. Scenarios run in-process on a single-threaded
//! runtime, so figures are per core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use netpipe_core::config::parse;
use netpipe_core::metrics::Metrics;
use netpipe_core::topology;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Runs per scenario; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Events per run.
    #[arg(long, default_value_t = 5_000_000)]
    events: u64,
    /// Also write the table to this file.
    #[arg(long, default_value = "target/bench-results.md")]
    out: std::path::PathBuf,
}

/// Runs a pipeline to completion on one core and returns its wall time.
fn time_pipeline(yaml: &str) -> anyhow::Result<Duration> {
    let registry = netpipe::components::registry();
    let pipeline =
        parse("bench.yaml", yaml, &registry, &|_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    runtime
        .block_on(topology::run(
            pipeline,
            Arc::new(Metrics::default()),
            CancellationToken::new(),
        ))
        .context("pipeline failed")?;
    Ok(start.elapsed())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

struct Row {
    scenario: String,
    figure: String,
    baseline: String,
    ratio: f64,
    goal: String,
    pass: bool,
}

fn core_path(args: &Args) -> anyhow::Result<Row> {
    let n = args.events;
    let pipeline = format!(
        "sources:\n  demo: {{ type: demo, count: {n} }}\nsinks:\n  sink: {{ type: blackhole, inputs: [demo] }}\n"
    );
    let runs = (0..args.runs)
        .map(|_| time_pipeline(&pipeline))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rate = n as f64 / median(runs).as_secs_f64();
    let goal = 5_000_000.0;
    Ok(Row {
        scenario: "core: demo → batching → blackhole (1 core)".into(),
        figure: format!("{:.2} M events/s", rate / 1e6),
        baseline: "goal 5 M events/s".into(),
        ratio: rate / goal,
        goal: "≥ 1.0".into(),
        pass: rate >= goal,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rows = vec![core_path(&args)?];
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut table = format!(
        "netpipe {} benchmarks, {} runs each (median), {cores} cores\n\n| scenario | netpipe | baseline | ratio | goal | pass |\n|---|---|---|---|---|---|\n",
        env!("CARGO_PKG_VERSION"),
        args.runs
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} |\n",
            r.scenario,
            r.figure,
            r.baseline,
            r.ratio,
            r.goal,
            if r.pass { "pass" } else { "FAIL" }
        ));
    }
    print!("{table}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &table)?;
    Ok(())
}
