//! The one interface of both readers: what a generated reader or the walk
//! reports of a message, in the order JSON needs it, so that a handler
//! (JSON, records, summaries) is written once for both.
//!
//! A message is `begin`, then for each present field in declaration order
//! `open` and its value (one, or a list's elements with `next` between
//! them, or a map), then `end`. A value is a scalar, an enum's name, a
//! nested message, or a map (`begin_map`, each entry's `map_key` and value,
//! `end_map`). Generated readers report only what the walk would, so a
//! handler cannot tell them apart.

use crate::wire::Malformed;

pub use crate::values::Scalar;

/// A generated reader cannot go on: a field came out of declaration
/// order, a singular field came twice, or the bytes are malformed. The
/// walk takes the message (and names any error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry;

impl From<Malformed> for Retry {
    fn from(_: Malformed) -> Self {
        Retry
    }
}

/// What a reader does with what it reads. Fields are numbered by
/// declaration (`slot`).
pub trait Handler {
    /// A message of plan `index` begins.
    fn begin(&mut self, index: usize);
    /// Field `slot`'s first value follows. `after` says whether another
    /// field came before it, `close_list` whether that one's list is still
    /// open; `key` is the field's `"name":` in JSON.
    fn open(&mut self, after: bool, close_list: bool, slot: usize, key: &[u8], repeated: bool);
    /// Another element of the open list follows.
    fn next(&mut self);
    /// The message ends, after a list when `close_list`.
    fn end(&mut self, close_list: bool);
    fn scalar(&mut self, slot: usize, repeated: bool, value: Scalar<'_>);
    /// Before [`Handler::scalar`], for a value outside any list: `path` is
    /// its field's slot in each message from the payload's own down (a
    /// slot of `u16::MAX` for a list's or map's element). Generated readers
    /// call it only for a payload's own fields that the rules name as key
    /// or time, so no site elsewhere pays for the question.
    fn identifying(&mut self, _path: &[u16], _value: &Scalar<'_>) {}
    /// A named enum value of field `slot` of a message of plan `message`:
    /// its number, and its name quoted as in JSON (generated readers; the
    /// walk hands over [`Scalar::Enum`]).
    fn enum_name(
        &mut self,
        message: usize,
        slot: usize,
        repeated: bool,
        number: i32,
        quoted: &'static [u8],
    );
    /// A map value begins.
    fn begin_map(&mut self);
    /// An entry's key, after another entry when `after`; its value follows.
    fn map_key(&mut self, after: bool, key: Scalar<'_>);
    fn end_map(&mut self);
    /// Forgets what was reported: the generated reader gave up, and the walk
    /// reports the message again from its start.
    fn restart(&mut self);
}
