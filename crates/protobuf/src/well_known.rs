//! Protobuf's well-known types that have their own JSON forms, known by
//! name: the plans render them as values, and the generator leaves
//! messages that hold them to the walk.

/// A well-known type with a JSON form of its own. `google.protobuf.Empty`
/// and `Any` are not here: they read as the messages they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnown {
    /// RFC 3339 in UTC; a [`netpipe_core::Timestamp`] in records.
    Timestamp,
    /// `"1.5s"`.
    Duration,
    /// `DoubleValue`, `Int64Value`, ...: the value itself.
    Wrapper,
    /// Paths in lowerCamelCase joined by commas.
    FieldMask,
    /// `Struct`, `Value` and `ListValue`: JSON itself. Records hold its text,
    /// as a lake has no column type for any JSON.
    Struct,
    Value,
    ListValue,
}

impl WellKnown {
    pub fn of(full_name: &str) -> Option<WellKnown> {
        Some(match full_name.strip_prefix("google.protobuf.")? {
            "Timestamp" => WellKnown::Timestamp,
            "Duration" => WellKnown::Duration,
            "DoubleValue" | "FloatValue" | "Int64Value" | "UInt64Value" | "Int32Value"
            | "UInt32Value" | "BoolValue" | "StringValue" | "BytesValue" => WellKnown::Wrapper,
            "FieldMask" => WellKnown::FieldMask,
            "Struct" => WellKnown::Struct,
            "Value" => WellKnown::Value,
            "ListValue" => WellKnown::ListValue,
            _ => return None,
        })
    }
}
