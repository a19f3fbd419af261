//! The `packetfabric` source: PacketFabric's streaming events (API v2,
//! beta). It creates a subscription bundle (`POST /v2/events`), streams it
//! as server-sent events (`GET /v2/events/{uuid}`), and reconnects through
//! the API's quirks: a 2-hour cap on each connection, bundles that expire,
//! sessions that end. Also `netpipe simulate packetfabric`.
//!
//! Decoding is sans-IO ([`decode`]): an SSE event name and its data in, a
//! typed event out. The connection lives in [`connect`].

pub mod config;
pub mod connect;
pub mod decode;
pub mod kinds;
pub mod simulator;

pub use config::{PacketFabricConfig, source_type};
