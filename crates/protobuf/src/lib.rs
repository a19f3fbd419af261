//! A protobuf codec driven by descriptors, sans-IO: a message's wire bytes
//! in, and out its JSON ([`json`]), a typed [`netpipe_core::Record`]
//! ([`records`]), or a [`summary`] (the key, time and size an event needs,
//! after checking the message whole). Any descriptor set works; a vendor's
//! choices beyond protobuf (which fields key and time a payload, which
//! `bytes` are text, which messages are addresses) are [`Rules`] passed in.
//!
//! Two readers do the work behind one interface, [`Handler`]. Readers
//! generated per message type at build time (`codegen`, feature `codegen`, called from a
//! vendor crate's `build.rs`) take messages as encoders write them, fields in
//! declaration order, and cost little more than the values themselves. The
//! general [`walk`] takes anything else: fields in any order, maps,
//! well-known types, oneofs, and descriptors loaded at run time. A
//! generated reader gives up ([`Retry`]) on what it does not take, and
//! [`Codec::read`] hands the message to the walk, in one place.
//!
//! Module layers, each using only those before it: [`wire`], [`rules`] and
//! [`well_known`]; [`address`] and [`values`]; [`plans`] and errors;
//! [`handler`], [`support`] and the well-known types' own forms; [`walk`];
//! [`json`], [`records`], [`summary`]; [`readers`]; [`avro`] and the
//! [`Codec`].

pub mod rules;
pub mod well_known;
pub mod wire;

#[cfg(feature = "codegen")]
pub mod codegen;
#[cfg(feature = "compile")]
pub mod compile;

#[cfg(feature = "runtime")]
pub mod address;
#[cfg(feature = "runtime")]
pub mod avro;
#[cfg(feature = "runtime")]
mod codec;
#[cfg(feature = "runtime")]
mod dynamic;
#[cfg(feature = "runtime")]
mod error;
#[cfg(feature = "runtime")]
pub mod handler;
#[cfg(feature = "runtime")]
pub mod json;
#[cfg(feature = "runtime")]
pub mod plans;
#[cfg(feature = "runtime")]
pub mod readers;
#[cfg(feature = "runtime")]
pub mod records;
#[cfg(feature = "runtime")]
pub mod summary;
#[cfg(feature = "runtime")]
pub mod support;
#[cfg(feature = "runtime")]
pub mod values;
#[cfg(feature = "runtime")]
pub mod walk;

#[cfg(feature = "runtime")]
pub use codec::Codec;
#[cfg(feature = "runtime")]
pub use error::DecodeError;
#[cfg(feature = "runtime")]
pub use handler::{Handler, Retry};
#[cfg(feature = "runtime")]
pub use readers::Readers;
pub use rules::Rules;
