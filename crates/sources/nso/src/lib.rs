//! Cisco NSO's events, two ways. The `nso` source: NSO's northbound
//! notification streams over
//! RESTCONF (RFC 8040 §6): it lists the streams the server publishes,
//! subscribes to each at the location the server announces (server-sent
//! events, JSON encoding), resumes by `start-time` after a reconnect or a
//! restart and passes over what the inclusive replay repeats. Also
//! `netpipe simulate nso`.
//!
//! Reading what the server sends is sans-IO ([`notification`]); the
//! connections live in [`connect`], the resume file in [`checkpoint`].
//! The `nso_bridge` source ([`bridge`]): every `_ncs.events` notification,
//! from the bridge script that runs next to NSO (`bridge/nso_bridge.py`).

pub mod bridge;
pub mod checkpoint;
mod compact;
pub mod config;
pub mod connect;
pub mod notification;
pub mod simulator;

#[cfg(test)]
mod fuzz_tests;

pub use bridge::{NsoBridgeConfig, source_type as bridge_source_type};
pub use config::{NsoConfig, source_type};
