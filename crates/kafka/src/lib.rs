//! What netpipe's Kafka sink and Kafka source share: the librdkafka
//! settings a user passes through (printed and reported without the values
//! of secret ones), the headers that carry an event's metadata in a
//! message, which the sink writes and the source reads back, and the
//! schema registry's calls.

pub mod headers;
pub mod registry;
pub mod settings;
