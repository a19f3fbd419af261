//! The `nso` source: Cisco NSO's northbound notification streams over
//! RESTCONF (RFC 8040 §6): it lists the streams the server publishes,
//! subscribes to each at the location the server announces (server-sent
//! events, JSON encoding), resumes by `start-time` after a reconnect or a
//! restart and passes over what the inclusive replay repeats. Also
//! `netpipe simulate nso`.
//!
//! Reading what the server sends is sans-IO ([`notification`]); the
//! connections live in [`connect`], the resume file in [`checkpoint`].

pub mod checkpoint;
pub mod config;
pub mod connect;
pub mod notification;
pub mod simulator;

pub use config::{NsoConfig, source_type};
