//! What the simulator serves, the same on every run: events with their
//! updates and a delete, and the `analytics` dataset's devices.

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value};

use crate::connector::{Dataset, Notification, NotificationBatch, Update};
use crate::neat::Neat;
use crate::resource::{DELETED, UPDATED};

/// Seconds since the epoch of the first event (2026-12-05T00:00:00Z).
pub const BASE_SECONDS: i64 = 1_796_428_800;

const TYPES: [&str; 3] = ["HIGH_CPU_LOAD_AVG", "DEVICE_INTF_ERR_SMART", "LOW_MEMORY"];

fn message_field(message: &MessageDescriptor, name: &str) -> MessageDescriptor {
    match message.get_field_by_name(name).map(|f| f.kind()) {
        Some(Kind::Message(m)) => m,
        _ => panic!("{} has no message field `{name}`", message.full_name()),
    }
}

/// A wrapper message (`StringValue`, `BoolValue`, ...) of field `name`.
fn wrap(message: &MessageDescriptor, name: &str, value: Value) -> Value {
    let mut wrapper = DynamicMessage::new(message_field(message, name));
    wrapper.set_field_by_name("value", value);
    Value::Message(wrapper)
}

fn timestamp(message: &MessageDescriptor, name: &str, seconds: i64) -> Value {
    let mut time = DynamicMessage::new(message_field(message, name));
    time.set_field_by_name("seconds", Value::I64(seconds));
    Value::Message(time)
}

/// The events, their updates and their delete.
pub struct Events {
    model: MessageDescriptor,
    count: usize,
    updates: usize,
}

impl Events {
    pub fn new(pool: &DescriptorPool, count: usize, updates: usize) -> Self {
        Events {
            model: pool
                .get_message_by_name(crate::models::EVENT_MODEL)
                .expect("built in"),
            count,
            updates,
        }
    }

    pub fn model(&self) -> &MessageDescriptor {
        &self.model
    }

    fn key(&self, i: usize) -> Value {
        let key_type = message_field(&self.model, "key");
        let mut key = DynamicMessage::new(key_type.clone());
        key.set_field_by_name(
            "key",
            wrap(&key_type, "key", Value::String(format!("ev-{i:04}"))),
        );
        key.set_field_by_name(
            "timestamp",
            timestamp(&key_type, "timestamp", BASE_SECONDS + i as i64),
        );
        Value::Message(key)
    }

    /// Event `i` as it began, and when.
    pub fn initial(&self, i: usize) -> (DynamicMessage, i64) {
        let m = &self.model;
        let mut e = DynamicMessage::new(m.clone());
        e.set_field_by_name("key", self.key(i));
        e.set_field_by_name("severity", Value::EnumNumber(1 + (i % 4) as i32));
        let kind = TYPES[i % TYPES.len()];
        e.set_field_by_name(
            "title",
            wrap(
                m,
                "title",
                Value::String(format!("{kind} on leaf{}", i % 5)),
            ),
        );
        e.set_field_by_name(
            "event_type",
            wrap(m, "event_type", Value::String(kind.to_string())),
        );
        let data_type = message_field(m, "data");
        let mut data = DynamicMessage::new(data_type);
        data.set_field_by_name(
            "data",
            Value::Map(
                [(
                    prost_reflect::MapKey::String("deviceId".into()),
                    Value::String(format!("JPE{:04}", i % 5)),
                )]
                .into(),
            ),
        );
        e.set_field_by_name("data", Value::Message(data));
        (e, BASE_SECONDS + i as i64)
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn updates(&self) -> usize {
        self.updates
    }

    /// Update `u`: which event, the patch (or the key, for the last: a
    /// delete), the operation and its time.
    pub fn update(&self, u: usize) -> (usize, DynamicMessage, i32, i64) {
        let i = u % self.count;
        let at = BASE_SECONDS + 10_000 + u as i64;
        let mut patch = DynamicMessage::new(self.model.clone());
        patch.set_field_by_name("key", self.key(i));
        if u + 1 == self.updates {
            return (i, patch, DELETED, at);
        }
        let ack_type = message_field(&self.model, "ack");
        let mut ack = DynamicMessage::new(ack_type.clone());
        ack.set_field_by_name("ack", wrap(&ack_type, "ack", Value::Bool(true)));
        ack.set_field_by_name(
            "acker",
            wrap(&ack_type, "acker", Value::String(format!("op{u}"))),
        );
        patch.set_field_by_name("ack", Value::Message(ack));
        // A note keyed by its time in milliseconds: a map the merge adds to.
        let notes_type = message_field(&self.model, "notes");
        let note_type = match notes_type.get_field_by_name("notes").map(|f| f.kind()) {
            Some(Kind::Message(entry)) => match entry.map_entry_value_field().kind() {
                Kind::Message(note) => note,
                _ => unreachable!("notes map to EventNote"),
            },
            _ => unreachable!("EventNotes has notes"),
        };
        let mut note = DynamicMessage::new(note_type.clone());
        note.set_field_by_name(
            "note",
            wrap(&note_type, "note", Value::String(format!("seen by op{u}"))),
        );
        let mut notes = DynamicMessage::new(notes_type);
        notes.set_field_by_name(
            "notes",
            Value::Map([(prost_reflect::MapKey::I64(at * 1000), Value::Message(note))].into()),
        );
        patch.set_field_by_name("notes", Value::Message(notes));
        patch.set_field_by_name(
            "last_updated_time",
            timestamp(&self.model, "last_updated_time", at),
        );
        (i, patch, UPDATED, at)
    }
}

/// `Timestamp` of `seconds`, encoded.
pub fn time_bytes(seconds: i64) -> Vec<u8> {
    prost_reflect::prost_types::Timestamp { seconds, nanos: 0 }.encode_to_vec()
}

fn device(serial: &str, status: &str) -> Neat {
    Neat::Map(vec![
        (Neat::str("hostname"), Neat::str(&format!("leaf-{serial}"))),
        (Neat::str("modelName"), Neat::str("DCS-7050SX3")),
        (Neat::str("status"), Neat::str(status)),
        (Neat::str("load"), Neat::F32(0.25)),
        (Neat::str("uptime"), Neat::F64(86400.5)),
        (
            Neat::str("data"),
            Neat::Pointer(vec![
                Neat::str("Devices"),
                Neat::str(serial),
                Neat::str("versioned-data"),
            ]),
        ),
        (
            Neat::str("interfaces"),
            Neat::Map(vec![(
                Neat::Int(1),
                Neat::Map(vec![(Neat::str("up"), Neat::Bool(true))]),
            )]),
        ),
    ])
}

/// The `analytics` dataset at `path`: the devices' current state at
/// `BASE_SECONDS`, then one live notification per second after: a status
/// change, then the last device deleted.
pub struct Devices {
    pub count: usize,
}

impl Devices {
    pub fn serial(i: usize) -> String {
        format!("JPE{i:04}")
    }

    fn notification(
        seconds: i64,
        path: &[Vec<u8>],
        updates: Vec<Update>,
        deletes: Vec<Vec<u8>>,
    ) -> Notification {
        Notification {
            timestamp: Some(prost_reflect::prost_types::Timestamp { seconds, nanos: 0 }),
            delete_all: false,
            deletes,
            updates,
            path_elements: path.to_vec(),
        }
    }

    pub fn current(&self, path: &[Vec<u8>]) -> Notification {
        let updates = (0..self.count)
            .map(|i| Update {
                key: Neat::str(&Self::serial(i)).encode(),
                value: device(&Self::serial(i), "active").encode(),
            })
            .collect();
        Self::notification(BASE_SECONDS, path, updates, Vec::new())
    }

    /// Live notification `n` (0: a status change, 1: a delete), if any.
    pub fn live(&self, n: usize, path: &[Vec<u8>]) -> Option<Notification> {
        let seconds = BASE_SECONDS + 1 + n as i64;
        match n {
            0 => Some(Self::notification(
                seconds,
                path,
                vec![Update {
                    key: Neat::str(&Self::serial(0)).encode(),
                    value: device(&Self::serial(0), "inactive").encode(),
                }],
                Vec::new(),
            )),
            1 => Some(Self::notification(
                seconds,
                path,
                Vec::new(),
                vec![Neat::str(&Self::serial(self.count - 1)).encode()],
            )),
            _ => None,
        }
    }

    pub fn batch(
        dataset: &Dataset,
        notifications: Vec<Notification>,
        eof: bool,
    ) -> NotificationBatch {
        NotificationBatch {
            notifications,
            dataset: Some(dataset.clone()),
            metadata: if eof {
                [("GetRequest".to_string(), "EOF".to_string())].into()
            } else {
                Default::default()
            },
        }
    }
}

/// Entity `i` of any resource model (`--model`): its key's and its own
/// plain fields (text, numbers, booleans, enums, wrappers, times) filled
/// from `i`; lists, maps and other messages left out.
pub fn generic(model: &MessageDescriptor, i: usize) -> DynamicMessage {
    let mut entity = DynamicMessage::new(model.clone());
    for field in model.fields().filter(|f| !f.is_list() && !f.is_map()) {
        let value = match field.kind() {
            Kind::Message(key) if field.name() == "key" => Some(Value::Message(generic(&key, i))),
            kind => plain(&kind, field.name(), i),
        };
        if let Some(value) = value {
            entity.set_field(&field, value);
        }
    }
    entity
}

fn plain(kind: &Kind, name: &str, i: usize) -> Option<Value> {
    Some(match kind {
        Kind::String => Value::String(format!("{name}-{i}")),
        Kind::Bool => Value::Bool(i.is_multiple_of(2)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(i as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(i as u64),
        Kind::Double => Value::F64(i as f64 + 0.5),
        Kind::Float => Value::F32(i as f32 + 0.5),
        Kind::Enum(e) => {
            let set: Vec<i32> = e.values().map(|v| v.number()).filter(|n| *n != 0).collect();
            Value::EnumNumber(*set.get(i % set.len().max(1))?)
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            let mut time = DynamicMessage::new(m.clone());
            time.set_field_by_name("seconds", Value::I64(BASE_SECONDS + i as i64));
            Value::Message(time)
        }
        Kind::Message(m)
            if m.full_name().starts_with("google.protobuf.")
                && m.full_name().ends_with("Value") =>
        {
            let inner = m.get_field_by_name("value")?;
            let mut wrapper = DynamicMessage::new(m.clone());
            wrapper.set_field(&inner, plain(&inner.kind(), name, i)?);
            Value::Message(wrapper)
        }
        _ => return None,
    })
}
