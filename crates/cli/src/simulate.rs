//! `netpipe simulate <vendor>`: the simulators the sources declare in the
//! registry, as subcommands.

use std::process::ExitCode;

use clap::{ArgMatches, Command};
use netpipe_core::config::Registry;
use tracing::error;

/// `simulate` with a subcommand per simulator.
pub fn command(registry: &Registry) -> Command {
    Command::new("simulate")
        .about("Serve a vendor's streaming protocol on loopback, for tests and demos.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands(registry.simulators().map(|s| s.command()))
}

/// Runs the simulator `matches` names until Ctrl-C.
pub fn run(registry: &Registry, matches: &ArgMatches) -> ExitCode {
    let Some((name, args)) = matches.subcommand() else {
        return ExitCode::FAILURE;
    };
    let Some(simulator) = registry.simulators().find(|s| s.name == name) else {
        error!("no simulator `{name}`");
        return ExitCode::FAILURE;
    };
    let serve = match simulator.serve(args) {
        Ok(serve) => serve,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{name} simulator failed: {e}");
            ExitCode::FAILURE
        }
    }
}
