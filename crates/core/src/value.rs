//! Typed payload values.
//!
//! A payload is a [`Record`]: field names shared by every record of the same
//! shape (one `Arc` clone per record, not one string per field) and a vector of
//! values. Strings are `Arc<str>` so that values a source repeats (device names,
//! customer ids) are shared instead of copied.

use std::sync::Arc;

use bytes::Bytes;

/// Field names of a record shape, shared by every record of that shape.
pub type FieldNames = Arc<[Arc<str>]>;

/// Builds a shared field-name list.
pub fn field_names<S: AsRef<str>>(names: &[S]) -> FieldNames {
    names.iter().map(|n| Arc::from(n.as_ref())).collect()
}

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let now = chrono::Utc::now();
        Timestamp(now.timestamp_nanos_opt().unwrap_or(i64::MAX))
    }

    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    pub fn from_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// RFC 3339 in UTC with as many fractional digits as needed (`2026-11-23T07:05:41.5Z`).
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_nanos(self.0)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }

    /// Parses RFC 3339 (`2026-11-01T00:00:00Z`, `...+00:00`).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(Timestamp)
    }
}

/// One typed value of a payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// Every integer width; 64-bit counters stay numbers.
    Int(i64),
    /// An unsigned 64-bit integer above `i64::MAX` (smaller ones are
    /// [`Value::Int`]). Exact in JSON; a `long` column or Avro field
    /// refuses it rather than wrap it negative.
    UInt(u64),
    Float(f64),
    String(Arc<str>),
    /// Opaque bytes a source could not render as text.
    Bytes(Bytes),
    Timestamp(Timestamp),
    Record(Record),
    List(Vec<Value>),
}

impl Value {
    pub fn string(text: &str) -> Self {
        Value::String(Arc::from(text))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_record(&self) -> Option<&Record> {
        match self {
            Value::Record(r) => Some(r),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// True for values a sparse encoding may leave out: null and the empty list.
    pub fn is_absent(&self) -> bool {
        match self {
            Value::Null => true,
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }

    /// A cheap estimate of the value's encoded size, for byte-based batching.
    pub fn estimated_size(&self) -> usize {
        match self {
            Value::Null | Value::Bool(_) => 1,
            Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Timestamp(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Bytes(b) => b.len(),
            Value::Record(r) => r.estimated_size(),
            Value::List(l) => 2 + l.iter().map(Value::estimated_size).sum::<usize>(),
        }
    }
}

/// A record: named fields in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    names: FieldNames,
    values: Vec<Value>,
}

impl Record {
    /// A record of `names.len()` fields; panics if the lengths differ, which is
    /// a bug in the caller that builds the shape.
    pub fn new(names: FieldNames, values: Vec<Value>) -> Self {
        assert_eq!(names.len(), values.len(), "record shape and values differ");
        Record { names, values }
    }

    pub fn names(&self) -> &FieldNames {
        &self.names
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(|n| &**n).zip(self.values.iter())
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .map(|i| &self.values[i])
    }

    /// Follows a dotted path (`device.serial`) through nested records.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut value = self.get(parts.next()?)?;
        for part in parts {
            value = value.as_record()?.get(part)?;
        }
        Some(value)
    }

    pub fn estimated_size(&self) -> usize {
        2 + self
            .iter()
            .map(|(n, v)| n.len() + 3 + v.estimated_size())
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_nested_fields() {
        let inner = Record::new(field_names(&["serial"]), vec![Value::string("SN1")]);
        let outer = Record::new(field_names(&["device"]), vec![Value::Record(inner)]);
        assert_eq!(outer.get_path("device.serial"), Some(&Value::string("SN1")));
        assert_eq!(outer.get_path("device.mac"), None);
    }

    #[test]
    fn timestamps_round_trip_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-11-01T00:00:00.25Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-01T00:00:00.250Z");
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
