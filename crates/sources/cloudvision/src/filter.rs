//! `partial_eq_filter`: the filters of a resource subscription, written in
//! the pipeline file as field names and plain values, made into messages
//! of the model and checked against its descriptors when the file is
//! loaded (a misspelt field or enum value is an error naming it, never a
//! server's `INVALID_ARGUMENT` later).
//!
//! - enum values by full name (`EVENT_SEVERITY_CRITICAL`) or without the
//!   enum's prefix (`CRITICAL`), or by number;
//! - wrapper fields (`google.protobuf.StringValue`, ...) as plain values;
//! - other message fields as nested maps of the same kind.

use prost::Message as _;
use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use serde_json::Value as Json;

/// One filter: fields that must all equal (AND); several filters: any (OR).
pub type Filter = serde_json::Map<String, Json>;

/// A filter that does not fit the model: the dotted path of the field at
/// fault below the filter, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub path: String,
    pub message: String,
}

/// The `<Model>StreamRequest` of a subscription with `filters`, encoded:
/// each filter a `partial_eq_filter` (field 1).
pub fn request(model: &MessageDescriptor, filters: &[Filter]) -> Result<Vec<u8>, FilterError> {
    let mut out = Vec::new();
    for (i, filter) in filters.iter().enumerate() {
        let message = message(model, filter, &i.to_string())?;
        prost::encoding::bytes::encode(1, &message.encode_to_vec(), &mut out);
    }
    Ok(out)
}

fn message(
    model: &MessageDescriptor,
    fields: &Filter,
    at: &str,
) -> Result<DynamicMessage, FilterError> {
    let mut message = DynamicMessage::new(model.clone());
    for (name, json) in fields {
        let path = format!("{at}.{name}");
        let field = model.get_field_by_name(name).ok_or_else(|| FilterError {
            message: format!(
                "`{name}` is not a field of {}; its fields: {}",
                model.full_name(),
                model
                    .fields()
                    .map(|f| f.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            path: path.clone(),
        })?;
        let value = value(&field, json, &path)?;
        message.set_field(&field, value);
    }
    Ok(message)
}

fn value(field: &FieldDescriptor, json: &Json, path: &str) -> Result<Value, FilterError> {
    let error = |message: String| FilterError {
        path: path.to_string(),
        message,
    };
    if field.is_list() || field.is_map() {
        return Err(error(format!(
            "`{}` is a list or map: CloudVision defines no filter on those",
            field.name()
        )));
    }
    scalar(&field.kind(), json, path)
        .map_err(|message| FilterError {
            path: path.to_string(),
            message,
        })?
        .ok_or_else(|| error(format!("`{json}` is not a value of `{}`", field.name())))
}

/// `json` as a value of `kind`; `Ok(None)` when it is of the wrong type.
fn scalar(kind: &Kind, json: &Json, path: &str) -> Result<Option<Value>, String> {
    Ok(match kind {
        Kind::Bool => json.as_bool().map(Value::Bool),
        Kind::String => json.as_str().map(|s| Value::String(s.to_string())),
        Kind::Bytes => json
            .as_str()
            .map(|s| Value::Bytes(s.as_bytes().to_vec().into())),
        Kind::Double => json.as_f64().map(Value::F64),
        Kind::Float => json.as_f64().map(|f| Value::F32(f as f32)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Value::I32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json.as_i64().map(Value::I64),
        Kind::Uint32 | Kind::Fixed32 => json
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .map(Value::U32),
        Kind::Uint64 | Kind::Fixed64 => json.as_u64().map(Value::U64),
        Kind::Enum(e) => Some(Value::EnumNumber(enum_number(e, json)?)),
        Kind::Message(m)
            if m.full_name().starts_with("google.protobuf.")
                && m.full_name().ends_with("Value") =>
        {
            // A wrapper: the plain value goes in its `value`.
            let inner = m
                .get_field_by_name("value")
                .ok_or("a wrapper without `value`")?;
            match scalar(&inner.kind(), json, path)? {
                Some(v) => {
                    let mut wrapper = DynamicMessage::new(m.clone());
                    wrapper.set_field(&inner, v);
                    Some(Value::Message(wrapper))
                }
                None => None,
            }
        }
        Kind::Message(m) => match json.as_object() {
            Some(fields) => Some(Value::Message(message(m, fields, path).map_err(|e| {
                // Nested errors name their own path: keep the deepest.
                format!("{} (at {})", e.message, e.path)
            })?)),
            None => None,
        },
    })
}

fn enum_number(e: &EnumDescriptor, json: &Json) -> Result<i32, String> {
    if let Some(n) = json.as_i64().and_then(|n| i32::try_from(n).ok()) {
        return Ok(n);
    }
    let name = json
        .as_str()
        .ok_or_else(|| format!("`{json}` is not a value of {}", e.full_name()))?;
    let found = e.values().find(|v| {
        v.name() == name
            || v.name()
                .strip_suffix(name)
                .is_some_and(|prefix| prefix.ends_with('_'))
    });
    match found {
        Some(v) if v.number() != 0 => Ok(v.number()),
        Some(_) => Err(format!(
            "`{name}` is {}'s unset value, which matches everything",
            e.name()
        )),
        None => Err(format!(
            "`{name}` is not a value of {}; its values: {}",
            e.name(),
            e.values()
                .map(|v| v.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::DynamicMessage;

    use super::*;
    use crate::models::{EVENT_MODEL, compile};

    /// Filters written as JSON (what the pipeline file's YAML reads as).
    fn filters(json: &str) -> Vec<Filter> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn enum_values_and_wrapped_fields_are_written_as_the_issue_says() {
        let model = compile(&[])
            .unwrap()
            .get_message_by_name(EVENT_MODEL)
            .unwrap();
        let bytes = request(
            &model,
            &filters(r#"[{"severity": "CRITICAL"}, {"event_type": "HIGH_CPU_LOAD_AVG", "severity": "EVENT_SEVERITY_WARNING"}, {"key": {"key": "e1"}}]"#),
        )
        .unwrap();
        let pool = model.parent_pool().clone();
        let request_type = pool
            .get_message_by_name("arista.event.v1.EventStreamRequest")
            .unwrap();
        let read = DynamicMessage::decode(request_type, bytes.as_slice()).unwrap();
        let list = read.get_field_by_name("partial_eq_filter").unwrap();
        let list = list.as_list().unwrap();
        assert_eq!(list.len(), 3);
        let first = list[0].as_message().unwrap();
        assert_eq!(
            first
                .get_field_by_name("severity")
                .unwrap()
                .as_enum_number(),
            Some(4)
        );
        let second = list[1].as_message().unwrap();
        assert_eq!(
            second
                .get_field_by_name("severity")
                .unwrap()
                .as_enum_number(),
            Some(2)
        );
        let event_type = second.get_field_by_name("event_type").unwrap();
        assert_eq!(
            event_type
                .as_message()
                .unwrap()
                .get_field_by_name("value")
                .unwrap()
                .as_str(),
            Some("HIGH_CPU_LOAD_AVG")
        );
        assert!(list[2].as_message().unwrap().has_field_by_name("key"));
    }

    #[test]
    fn a_misspelt_field_or_value_is_named() {
        let model = compile(&[])
            .unwrap()
            .get_message_by_name(EVENT_MODEL)
            .unwrap();
        let error = request(
            &model,
            &filters(r#"[{"severity": "CRITICAL"}, {"severty": "CRITICAL"}]"#),
        )
        .unwrap_err();
        assert_eq!(error.path, "1.severty");
        assert!(
            error.message.contains("its fields: key, severity"),
            "{}",
            error.message
        );
        let error = request(&model, &filters(r#"[{"severity": "CRITCAL"}]"#)).unwrap_err();
        assert_eq!(error.path, "0.severity");
        assert!(
            error.message.contains("EVENT_SEVERITY_CRITICAL"),
            "{}",
            error.message
        );
        let error = request(&model, &filters(r#"[{"title": 5}]"#)).unwrap_err();
        assert!(
            error.message.contains("not a value of `title`"),
            "{}",
            error.message
        );
        assert!(request(&model, &filters(r#"[{"data": {"data": {}}}]"#)).is_err());
    }
}
