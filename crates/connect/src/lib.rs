//! The connection toolkit every streaming source shares, so that a new
//! source (WebSocket, SSE, gRPC) gets reconnects, gaps, TLS and liveness
//! right by using it rather than by copying another source's loop:
//!
//! - [`backoff`]: exponential backoff with jitter and a cap;
//! - [`reconnect`]: what to wait after each kind of ending (a rejected
//!   credential waits `auth_retry` with one clear line, never a storm), and
//!   the `netpipe.gap` event for the time a connection was away;
//! - [`tls`]: the TLS options every source takes (system roots plus
//!   `ca_file`, `insecure_skip_verify`, client certificates, a server name
//!   override) and the rustls configuration they make;
//! - [`sse`]: server-sent events over reqwest, with liveness counted on
//!   bytes (comments and heartbeats included) and the last event id kept.
//!
//! Secrets are [`netpipe_core::Secret`]s: nothing here logs one.

pub mod backoff;
pub mod reconnect;
pub mod sse;
pub mod tls;

pub use backoff::Backoff;
pub use reconnect::{Ending, Reconnect};
pub use tls::TlsOptions;

/// An error and its causes, `outer: inner: root`: an HTTP client's own
/// message ("error sending request") says nothing of a refused certificate.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
