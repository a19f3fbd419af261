//! The `netpipe` binary: a thin command line over the netpipe crates.

mod metrics_server;
mod run;
mod simulate;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use netpipe::components;
use tracing_subscriber::EnvFilter;

/// Network vendors' event streams into Kafka, Parquet files and stdout.
#[derive(Parser)]
#[command(name = "netpipe", version, about, propagate_version = true)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a RUST_LOG-style filter;
    /// RUST_LOG is used when this is not given. Logs go to stderr.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until its sources end or SIGINT/SIGTERM (drains, then exits 0).
    Run {
        /// The pipeline file (YAML).
        file: PathBuf,
        /// Serve Prometheus metrics at http://ADDR/metrics (overrides the file's `metrics:`).
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        #[command(flatten)]
        drain: DrainArgs,
    },
    /// Check pipeline files; print every error and exit non-zero if any.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Report unset `${VAR}`s as notes, not errors (files whose secrets
        /// come from the environment, checked where it is not set, as in CI).
        #[arg(long)]
        no_env: bool,
    },
    /// Replay captured Parquet into the sinks of a file whose sinks read `replay`.
    Replay {
        /// Parquet files, directories or globs.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A pipeline file with the sinks (their `inputs: [replay]`).
        #[arg(long, value_name = "SINKS.yaml")]
        to: PathBuf,
        /// `max`, or a multiple of the original pacing (1.0 = as recorded).
        #[arg(long, default_value = "max")]
        speed: String,
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        start: Option<String>,
        /// Only events before this RFC 3339 time.
        #[arg(long)]
        end: Option<String>,
        /// Keep the position here and resume from it.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        drain: DrainArgs,
    },
    /// Serve a vendor's streaming protocol on loopback, for tests and demos.
    /// (Its subcommands come from the registry: see simulate.rs.)
    Simulate,
    /// Write the Avro schema of every stream to DIR/<stream>.avsc.
    Schemas {
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
    },
    /// List the component types and their options.
    List {
        /// Print the reference as markdown (as in the README).
        #[arg(long)]
        markdown: bool,
    },
}

/// How long a stop may take.
#[derive(clap::Args)]
struct DrainArgs {
    /// After SIGINT/SIGTERM, the longest wait for the sinks to write what they
    /// hold; then the run exits with status 3, the rest unwritten and not
    /// acknowledged (e.g. `30s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    drain_timeout: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    netpipe_core::units::HumanDuration::parse(text).map(|d| d.0)
}

fn init_logging(level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> std::process::ExitCode {
    netpipe::allocator::tune();
    let registry = components::registry();
    let matches = Cli::command()
        .mut_subcommand("simulate", |_| simulate::command(&registry))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(cli.log_level.as_deref());
    match cli.command {
        Command::Run {
            file,
            metrics_addr,
            drain,
        } => run::run(&file, metrics_addr, drain.drain_timeout, &registry),
        Command::Validate { files, no_env } => run::validate(&files, no_env, &registry),
        Command::Simulate => match matches.subcommand_matches("simulate") {
            Some(simulate) => simulate::run(&registry, simulate),
            None => std::process::ExitCode::FAILURE,
        },
        Command::Replay {
            paths,
            to,
            speed,
            start,
            end,
            checkpoint,
            drain,
        } => run::replay(
            run::ReplayArgs {
                paths,
                to,
                speed,
                start,
                end,
                checkpoint,
                drain_timeout: drain.drain_timeout,
            },
            &registry,
        ),
        Command::Schemas { dir } => match components::write_schemas(&registry, &dir) {
            Ok(n) => {
                eprintln!("wrote {n} schemas to {}", dir.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot write schemas to {}: {e}", dir.display());
                std::process::ExitCode::FAILURE
            }
        },
        Command::List { markdown } => {
            if markdown {
                print!("{}", registry.reference());
            } else {
                print!("{}", components::listing(&registry));
            }
            std::process::ExitCode::SUCCESS
        }
    }
}
