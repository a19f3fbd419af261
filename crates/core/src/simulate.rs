//! `netpipe simulate <vendor>`: a source's stand-in for its vendor's
//! server, declared by the source crate next to the source itself, so the
//! binary learns of it from the registry like everything else.
//!
//! A simulator is its command-line options (`clap::Args`) and a function
//! that serves them; [`serve_until_interrupted`] binds, logs the URL and
//! stops on Ctrl-C for all of them alike.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use clap::{ArgMatches, Args, Command, FromArgMatches};
use tracing::info;

use crate::BoxError;

type Serve = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
type ParseAndServe = Box<dyn Fn(&ArgMatches) -> Result<Serve, clap::Error> + Send + Sync>;

/// One vendor's simulator: `netpipe simulate NAME [OPTIONS]`.
pub struct Simulator {
    pub name: &'static str,
    /// What it serves, for `netpipe simulate --help`.
    pub about: &'static str,
    command: fn() -> Command,
    serve: ParseAndServe,
}

impl Simulator {
    /// A simulator whose options are `A`, served by `serve` (until Ctrl-C).
    pub fn new<A, F>(name: &'static str, about: &'static str, serve: fn(A) -> F) -> Self
    where
        A: Args + FromArgMatches + 'static,
        F: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Simulator {
            name,
            about,
            command: || A::augment_args(Command::new("simulator")),
            serve: Box::new(move |matches| {
                let args = A::from_arg_matches(matches)?;
                Ok(Box::pin(serve(args)) as Serve)
            }),
        }
    }

    /// The subcommand, for the binary's `simulate`.
    pub fn command(&self) -> Command {
        (self.command)().name(self.name).about(self.about)
    }

    /// Parses the subcommand's matches into the simulator's options; the
    /// future serves them.
    pub fn serve(&self, matches: &ArgMatches) -> Result<Serve, clap::Error> {
        (self.serve)(matches)
    }
}

/// Binds `listen`, logs `URL` (with `{}` the bound address), and serves
/// until `serve` ends or Ctrl-C.
pub async fn serve_until_interrupted<F, Fut>(
    listen: SocketAddr,
    vendor: &str,
    url: &str,
    serve: F,
) -> Result<(), BoxError>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let url = url.replace("{}", &listener.local_addr()?.to_string());
    info!("{vendor} simulator on {url}");
    tokio::select! {
        served = serve(listener) => Ok(served?),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
