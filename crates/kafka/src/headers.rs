//! An event's metadata in a message's headers: `stream`, `source`,
//! `event_time` and `receive_time` (RFC 3339), then the event's own
//! headers. The sink writes them; the source reads them back, so that
//! `kafka → parquet` writes what `aruba → parquet` does.

use netpipe_core::Event;
use rdkafka::message::{Header, OwnedHeaders};

pub const STREAM: &str = "stream";
pub const SOURCE: &str = "source";
pub const EVENT_TIME: &str = "event_time";
pub const RECEIVE_TIME: &str = "receive_time";

/// Whether `key` is one of the headers netpipe fills from the event itself.
pub fn is_metadata(key: &str) -> bool {
    [STREAM, SOURCE, EVENT_TIME, RECEIVE_TIME].contains(&key)
}

/// The headers of an event's message: its metadata, then its own headers.
pub fn write(event: &Event) -> OwnedHeaders {
    let event_time = event.event_time.to_rfc3339();
    let receive_time = event.receive_time.to_rfc3339();
    let fixed = [
        (STREAM, event.stream.as_bytes()),
        (SOURCE, event.source.as_bytes()),
        (EVENT_TIME, event_time.as_bytes()),
        (RECEIVE_TIME, receive_time.as_bytes()),
    ];
    let own = event.headers.iter().map(|(k, v)| (&**k, v.as_bytes()));
    fixed.into_iter().chain(own).fold(
        OwnedHeaders::new_with_capacity(fixed.len() + event.headers.len()),
        |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value),
            })
        },
    )
}
