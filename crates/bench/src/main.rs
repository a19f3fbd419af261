//! `cargo run --release -p netpipe-bench`: each scenario runs a fixed number
//! of events, netpipe and its baseline alike, several times, each run in a
//! process of its own (so peak memory is the run's own); the table gives the
//! medians, their ratio and the goal. It builds what it needs, starts the
//! simulators in-process and tansu as a child, and sets up a Python venv
//! for the vendor-sample baseline.

mod python;
mod scenarios;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Runs per side of each scenario; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only these scenarios (core, decode_blackhole, decode, decode_transcode, decode_records, websocket, websocket_mixed, websocket_stdout, websocket_stdout_mixed, nso, cloudvision, kafka, kafka_mixed, parquet, parquet_mixed, parquet_rows, parquet_s3, kafka_source, kafka_parquet, kafka_parquet_two, replay, replay_kafka, latency, frozen).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the table here.
    #[arg(long, default_value = "target/bench-results.md")]
    out: PathBuf,
    /// Internal: run one side of one scenario (`SCENARIO:SIDE`) and print its figures.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// Peak resident memory of this process, in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// Runs one side in a child process: `{rate, rss_kib}`.
fn child(spec: &str, env: &[(&str, String)]) -> anyhow::Result<Value> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--child", spec])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()?;
    if !output.status.success() {
        bail!("{spec} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .with_context(|| format!("{spec} printed {text}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores, {} GiB, {rustc}", mem / 1024 / 1024)
}

fn main() -> anyhow::Result<()> {
    netpipe::allocator::tune();
    let args = Args::parse();
    if let Some(spec) = &args.child {
        let special = match spec.as_str() {
            "latency" => Some(scenarios::latency()?),
            "frozen" => Some(scenarios::frozen()?),
            "websocket_stdout:netpipe" => Some(scenarios::websocket_stdout(false)?),
            "websocket_stdout_mixed:netpipe" => Some(scenarios::websocket_stdout(true)?),
            _ => None,
        };
        if let Some(mut figures) = special {
            if figures.get("rss_kib").is_none() {
                figures["rss_kib"] = json!(peak_rss_kib());
            }
            println!("{figures}");
            return Ok(());
        }
        let rate = scenarios::run_side(spec)?;
        println!("{}", json!({ "rate": rate, "rss_kib": peak_rss_kib() }));
        return Ok(());
    }
    let mut env = Vec::new();
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let broker = if [
        "kafka",
        "replay_kafka",
        "kafka_source",
        "kafka_parquet",
        "kafka_parquet_two",
        "latency",
        "frozen",
    ]
    .iter()
    .any(|s| wanted(s))
    {
        let broker = netpipe_testkit::Tansu::start().map_err(anyhow::Error::msg)?;
        env.push(("NETPIPE_BENCH_BROKER", broker.address()));
        env.push(("NETPIPE_BENCH_BROKER_PID", broker.pid().to_string()));
        Some(broker)
    } else {
        None
    };
    // The Kafka-source rows read one topic, filled once, here.
    if ["kafka_source", "kafka_parquet", "kafka_parquet_two"]
        .iter()
        .any(|s| wanted(s))
    {
        let broker = broker
            .as_ref()
            .context("the Kafka-source rows need the broker")?;
        env.push((
            "NETPIPE_BENCH_TOPIC",
            scenarios::fill_topic(&broker.address())?,
        ));
    }
    // The object-storage row writes to moto, from the test environment's
    // venv (scripts/test.sh makes it).
    let _moto = if wanted("parquet_s3") {
        let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
        let moto = netpipe_testkit::Moto::start(&venv).map_err(anyhow::Error::msg)?;
        moto.create_bucket("bench").map_err(anyhow::Error::msg)?;
        env.push(("NETPIPE_BENCH_S3", moto.endpoint()));
        Some(moto)
    } else {
        None
    };
    let mut table = format!(
        "netpipe {} benchmarks, {}, median of {} runs per side (ratio: median of paired runs)\n\n| scenario | netpipe | baseline | ratio | goal | peak RSS (netpipe) | pass |\n|---|---|---|---|---|---|---|\n",
        env!("CARGO_PKG_VERSION"),
        machine(),
        args.runs
    );
    for scenario in scenarios::ALL.iter().filter(|s| wanted(s.name)) {
        eprintln!("running {} ...", scenario.name);
        // The baseline runs right after each netpipe run, and the ratio is
        // the median of those pairs: both sides of a pair see the same
        // machine (and the same broker state).
        let (mut rates, mut own_baseline) = (Vec::new(), Vec::new());
        let mut rss = 0;
        for _ in 0..args.runs {
            let m = child(&format!("{}:netpipe", scenario.name), &env)?;
            rates.push(m["rate"].as_f64().unwrap_or(0.0));
            rss = rss.max(m["rss_kib"].as_u64().unwrap_or(0));
            match scenario.baseline {
                scenarios::Baseline::Side => {
                    let m = child(&format!("{}:baseline", scenario.name), &env)?;
                    own_baseline.push(m["rate"].as_f64().unwrap_or(f64::MAX));
                }
                scenarios::Baseline::Python { mixed } => {
                    own_baseline.push(python::vendor_sample_rate(mixed)?)
                }
                scenarios::Baseline::Goal(_) => {}
            }
        }
        let pair_ratios: Vec<f64> = rates
            .iter()
            .zip(&own_baseline)
            .map(|(n, b)| n / b)
            .collect();
        let netpipe = median(rates);
        let baseline = match scenario.baseline {
            scenarios::Baseline::Goal(rate) => rate,
            scenarios::Baseline::Python { .. } | scenarios::Baseline::Side => median(own_baseline),
        };
        let ratio = if pair_ratios.is_empty() {
            netpipe / baseline
        } else {
            median(pair_ratios)
        };
        let rss_mib = rss as f64 / 1024.0;
        let pass = ratio >= scenario.goal && rss_mib <= 256.0;
        table.push_str(&format!(
            "| {} | {} | {} | {:.2} | ≥ {} | {:.0} MiB (≤ 256) | {} |\n",
            scenario.title,
            match scenario.message_bytes {
                Some(bytes) => format!(
                    "{}, {:.0} MB/s in",
                    scenarios::human(netpipe, scenario.unit),
                    netpipe * bytes() / 1e6
                ),
                None => scenarios::human(netpipe, scenario.unit),
            },
            match scenario.baseline {
                scenarios::Baseline::Goal(_) => "fixed goal".to_string(),
                _ => format!(
                    "{} ({})",
                    scenarios::human(baseline, scenario.unit),
                    scenario.baseline_name
                ),
            },
            ratio,
            scenario.goal,
            rss_mib,
            if pass { "pass" } else { "FAIL" }
        ));
    }
    if wanted("latency") {
        eprintln!("running latency ...");
        let runs = (0..args.runs)
            .map(|_| child("latency", &env))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let p50 = median(
            runs.iter()
                .map(|r| r["p50_ms"].as_f64().unwrap_or(f64::MAX))
                .collect(),
        );
        let p99 = median(
            runs.iter()
                .map(|r| r["p99_ms"].as_f64().unwrap_or(f64::MAX))
                .collect(),
        );
        let goal = scenarios::LATENCY_TIMEOUT_MS + 25.0;
        table.push_str(&format!(
            "| latency: receive → Kafka at 2 k msg/s, batch timeout {} ms | p50 {p50:.1} ms, p99 {p99:.1} ms | | | p99 ≤ {goal} ms | | {} |\n",
            scenarios::LATENCY_TIMEOUT_MS,
            if p99 <= goal { "pass" } else { "FAIL" }
        ));
    }
    if wanted("frozen") {
        eprintln!("running frozen (20 s with the broker stopped) ...");
        let r = child("frozen", &env)?;
        let (steady, peak) = (
            r["steady_kib"].as_f64().unwrap_or(0.0),
            r["peak_kib"].as_f64().unwrap_or(f64::MAX),
        );
        let arrived = r["arrived"].as_bool().unwrap_or(false);
        table.push_str(&format!(
            "| memory: Kafka scenario, broker frozen 20 s | RSS {:.0} → {:.0} MiB ({:.2}×), all arrived: {arrived} | | | ≤ 1.5× and all arrive | | {} |\n",
            steady / 1024.0,
            peak / 1024.0,
            peak / steady,
            if peak <= steady * 1.5 && arrived { "pass" } else { "FAIL" }
        ));
    }
    drop(broker);
    print!("{table}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &table)?;
    Ok(())
}
