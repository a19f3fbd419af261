//! Realistic messages of every topic, made from the descriptors: every field
//! set, every repeated field with up to three elements (dense: always three),
//! addresses that look like real MACs and IPs, ESSIDs that look like network
//! names.

use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use crate::readers::descriptor_pool;
use crate::topic::Topic;

/// Elements of each repeated field in a dense message.
pub const ELEMENTS: u64 = 3;
const MAX_DEPTH: u32 = 6;
const SSIDS: [&str; 4] = ["Corp-WiFi", "Guest", "IoT-Sensors", "Café-Lobby"];

pub fn mac(seq: u64) -> Vec<u8> {
    let b = seq.to_be_bytes();
    vec![0x20, 0x4c, 0x03, b[5], b[6], b[7]]
}

fn is_address(message: &MessageDescriptor) -> Option<bool> {
    let names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
    match names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["addr"] => Some(false),
        ["af", "addr"] => Some(true),
        _ => None,
    }
}

fn address(message: &MessageDescriptor, ip: bool, seq: u64) -> DynamicMessage {
    let mut m = DynamicMessage::new(message.clone());
    let b = seq.to_be_bytes();
    if ip {
        let af = message.get_field_by_name("af").unwrap();
        let Kind::Enum(family) = af.kind() else {
            unreachable!("af is an enum")
        };
        let v6 = seq % 5 == 4;
        let wanted = if v6 { "INET6" } else { "INET" };
        if let Some(v) = family.values().find(|v| v.name().ends_with(wanted)) {
            m.set_field(&af, Value::EnumNumber(v.number()));
        }
        let addr = if v6 {
            vec![
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b[6], b[7],
            ]
        } else {
            vec![10, 1, b[6], b[7]]
        };
        m.set_field_by_name("addr", Value::Bytes(addr.into()));
    } else {
        m.set_field_by_name("addr", Value::Bytes(mac(seq).into()));
    }
    m
}

fn scalar(field: &FieldDescriptor, seq: u64, now: u64) -> Option<Value> {
    let name = field.name();
    Some(match field.kind() {
        Kind::String => Value::String(match name {
            "customer_id" => "4b2e0e1a9c8d4f0e8a7b6c5d4e3f2a1b".to_string(),
            n if n.contains("serial") || n == "device_id" || n == "target" => {
                format!("CNF7J0{:04}", seq % 10_000)
            }
            n if n.contains("mac") => netpipe_protobuf::address::Address::Mac(&mac(seq))
                .to_text()
                .to_string(),
            n if n.ends_with("ip") => format!("10.2.{}.{}", seq / 250 % 250, seq % 250 + 1),
            "ssid" => SSIDS[seq as usize % SSIDS.len()].to_string(),
            n => format!("{n}-{seq}"),
        }),
        Kind::Bytes => match name {
            "essid" | "network" => {
                Value::Bytes(SSIDS[seq as usize % SSIDS.len()].as_bytes().to_vec().into())
            }
            "dest_url_prefix" => Value::Bytes(
                format!("https://site{seq}.example.com/")
                    .into_bytes()
                    .into(),
            ),
            _ => Value::Bytes(seq.to_be_bytes().to_vec().into()),
        },
        Kind::Bool => Value::Bool(seq.is_multiple_of(2)),
        Kind::Float => Value::F32(seq as f32 * 0.5),
        Kind::Double => Value::F64(seq as f64 * 0.25),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32((seq % 90) as i32 - 45),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(if name.contains("time") {
            now as i64
        } else {
            seq as i64 * 1000
        }),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(if name.contains("time") {
            now as u32
        } else {
            (seq * 7 % 100_000) as u32
        }),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(if name.contains("time") {
            now
        } else {
            seq * 1_000_003
        }),
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(values[seq as usize % values.len()])
        }
        Kind::Message(_) => return None,
    })
}

fn fill(
    message: &MessageDescriptor,
    seq: u64,
    now: u64,
    depth: u32,
    elements: u64,
) -> DynamicMessage {
    let mut m = DynamicMessage::new(message.clone());
    for field in message.fields() {
        let count = if field.is_list() { elements } else { 1 };
        let value = |i: u64| -> Option<Value> {
            let seq = seq * ELEMENTS + i;
            match field.kind() {
                Kind::Message(inner) => match is_address(&inner) {
                    Some(ip) => Some(Value::Message(address(&inner, ip, seq))),
                    None if depth < MAX_DEPTH => {
                        Some(Value::Message(fill(&inner, seq, now, depth + 1, elements)))
                    }
                    None => None,
                },
                _ => scalar(&field, seq, now),
            }
        };
        let values: Vec<Value> = (0..count).filter_map(value).collect();
        if field.is_list() {
            m.set_field(&field, Value::List(values));
        } else if let Some(v) = values.into_iter().next() {
            m.set_field(&field, v);
        }
    }
    m
}

/// Makes frames (serialized `MsgProto`s) of one topic.
pub struct FrameMaker {
    topic: Topic,
    /// Elements of each repeated field.
    elements: u64,
    message: MessageDescriptor,
    envelope: MessageDescriptor,
}

impl FrameMaker {
    pub fn new(topic: Topic) -> Self {
        let pool = descriptor_pool();
        FrameMaker {
            topic,
            elements: ELEMENTS,
            message: pool
                .get_message_by_name(topic.message())
                .expect("topic message"),
            envelope: pool
                .get_message_by_name("StreamMessage.MsgProto")
                .expect("envelope"),
        }
    }

    /// Messages whose repeated fields have `elements` elements (dense: [`ELEMENTS`]).
    pub fn with_elements(self, elements: u64) -> Self {
        FrameMaker { elements, ..self }
    }

    /// The topic message alone, serialized.
    pub fn payload(&self, seq: u64, now_secs: u64) -> Vec<u8> {
        fill(&self.message, seq, now_secs, 0, self.elements).encode_to_vec()
    }

    /// A whole frame: the envelope around a payload.
    pub fn frame(&self, seq: u64, now_secs: u64) -> Vec<u8> {
        let mut envelope = DynamicMessage::new(self.envelope.clone());
        envelope.set_field_by_name("subject", Value::String(self.topic.as_str().to_string()));
        envelope.set_field_by_name("data", Value::Bytes(self.payload(seq, now_secs).into()));
        envelope.set_field_by_name("timestamp", Value::I64(now_secs as i64 * 1000));
        envelope.set_field_by_name(
            "customer_id",
            Value::String("4b2e0e1a9c8d4f0e8a7b6c5d4e3f2a1b".into()),
        );
        envelope.encode_to_vec()
    }
}
