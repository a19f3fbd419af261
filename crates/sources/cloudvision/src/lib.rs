//! Arista CloudVision, as the `cloudvision` source reads it over gRPC: the
//! resource API's subscriptions (`arista.event.v1.Event` built in, other
//! models from the vendor's `.proto` files at start) and Connector datasets
//! (NEAT values). Also `netpipe simulate cloudvision`.
//!
//! What the server sends is read sans-IO: [`neat`] for Connector values.

mod config;
pub mod connector;
pub mod filter;
pub mod grpc;
pub mod models;
pub mod neat;
pub mod resource;
pub mod simulator;
mod source;

pub use config::{CloudVisionConfig, source_type};
