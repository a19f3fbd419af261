//! Events as Arrow record batches, and record batches back as events: the
//! shared ground of the Parquet sink and the Parquet replay source.
//!
//! Columns are typed from the stream's Avro schema (records become structs,
//! arrays lists, `["null", T]` nullable `T`, `timestamp-micros` UTC
//! timestamps), extended with any payload field the schema does not name
//! (typed from its first value), after the metadata columns: `stream`,
//! `event_time`, `receive_time`, `key`, `source`.

mod from_arrow;
mod schema;
mod to_arrow;

pub use from_arrow::{EventReader, FromArrowError};
pub use schema::{METADATA_COLUMNS, SchemaError, event_schema, extend_for};
pub use to_arrow::{ToArrowError, events_to_batch};
