//! Connector batches into events; the prost structs against the project's
//! `.proto` files.

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};

use super::*;

fn connector_pool() -> DescriptorPool {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../proto/cloudvision/Connector"
    );
    protox::compile(["router.proto"], [dir])
        .map(|set| DescriptorPool::from_file_descriptor_set(set).unwrap())
        .unwrap()
}

fn timestamp(seconds: i64) -> Option<prost_reflect::prost_types::Timestamp> {
    Some(prost_reflect::prost_types::Timestamp { seconds, nanos: 5 })
}

#[test]
fn the_structs_write_what_the_proto_files_read() {
    let pool = connector_pool();
    let request = request(
        "device",
        "analytics",
        &["DatasetInfo".into(), "Devices".into()],
        7,
    );
    let read = DynamicMessage::decode(
        pool.get_message_by_name("GetAndSubscribeRequest").unwrap(),
        request.encode_to_vec().as_slice(),
    )
    .unwrap();
    let query = read.get_field_by_name("query").unwrap();
    let query = query.as_list().unwrap()[0].as_message().unwrap().clone();
    let dataset = query.get_field_by_name("dataset").unwrap();
    assert_eq!(
        dataset
            .as_message()
            .unwrap()
            .get_field_by_name("name")
            .unwrap()
            .as_str(),
        Some("analytics")
    );
    assert_eq!(
        dataset
            .as_message()
            .unwrap()
            .get_field_by_name("type")
            .unwrap()
            .as_str(),
        Some("device")
    );
    let paths = query.get_field_by_name("paths").unwrap();
    let elements = paths.as_list().unwrap()[0]
        .as_message()
        .unwrap()
        .get_field_by_name("path_elements")
        .unwrap();
    assert_eq!(
        elements.as_list().unwrap()[1].as_bytes().unwrap().as_ref(),
        b"\xc4\x07Devices"
    );
    assert_eq!(read.get_field_by_name("start").unwrap().as_u64(), Some(7));

    let batch = NotificationBatch {
        notifications: vec![Notification {
            timestamp: timestamp(1),
            delete_all: true,
            deletes: vec![b"\xc4\x01d".to_vec()],
            updates: vec![Update {
                key: b"\xc4\x01k".to_vec(),
                value: b"\x05".to_vec(),
            }],
            path_elements: vec![b"\xc4\x01p".to_vec()],
        }],
        dataset: Some(Dataset {
            r#type: "device".into(),
            name: "JPE1".into(),
        }),
        metadata: [("GetRequest".to_string(), "EOF".to_string())].into(),
    };
    let read = DynamicMessage::decode(
        pool.get_message_by_name("NotificationBatch").unwrap(),
        batch.encode_to_vec().as_slice(),
    )
    .unwrap();
    let notifications = read.get_field_by_name("notifications").unwrap();
    let n = notifications.as_list().unwrap()[0]
        .as_message()
        .unwrap()
        .clone();
    assert_eq!(
        n.get_field_by_name("delete_all").unwrap().as_bool(),
        Some(true)
    );
    let updates = n.get_field_by_name("updates").unwrap();
    let update = updates.as_list().unwrap()[0].as_message().unwrap().clone();
    assert_eq!(
        update
            .get_field_by_name("value")
            .unwrap()
            .as_bytes()
            .unwrap()
            .as_ref(),
        b"\x05"
    );
    assert!(ends_current_state(&batch));
}

#[test]
fn each_key_becomes_an_event_with_its_value_as_json() {
    let source: Arc<str> = Arc::from("cv");
    let stream: Arc<str> =
        Arc::from(stream_name("analytics", &["DatasetInfo".into(), "Devices".into()]).as_str());
    assert_eq!(&*stream, "cloudvision.analytics.datasetinfo.devices");
    // {"hostname": "leaf1", "load": float32 0.5, "data": pointer /Devices/JPE1}
    let value = b"\x83\xc4\x04data\xd8\x00\x92\xc4\x07Devices\xc4\x04JPE1\xc4\x08hostname\xc4\x05leaf1\xc4\x04load\xca\x3f\x00\x00\x00";
    let notification = Notification {
        timestamp: timestamp(1_764_928_800),
        delete_all: false,
        deletes: vec![b"\xc4\x04JPE2".to_vec()],
        updates: vec![Update {
            key: b"\xc4\x04JPE1".to_vec(),
            value: value.to_vec(),
        }],
        path_elements: vec![b"\xc4\x0bDatasetInfo".to_vec(), b"\xc4\x07Devices".to_vec()],
    };
    let events = events(&source, &stream, "analytics", &notification, None).unwrap();
    assert_eq!(events.len(), 2);
    let json = |e: &Event| {
        let mut out = Vec::new();
        netpipe_core::json::write_payload(&e.payload, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        json(&events[0]),
        r#"{"dataset":"analytics","path":["DatasetInfo","Devices"],"key":"JPE2","value":null,"operation":"delete"}"#
    );
    assert_eq!(
        json(&events[1]),
        r#"{"dataset":"analytics","path":["DatasetInfo","Devices"],"key":"JPE1","value":{"data":"/Devices/JPE1","hostname":"leaf1","load":0.5},"operation":"update"}"#
    );
    assert_eq!(events[1].event_time, Timestamp(1_764_928_800_000_000_005));
    assert_eq!(events[1].key.as_deref(), Some("JPE1"));
    // Typed sinks get the value as JSON text.
    let record = events[1].payload.record();
    assert_eq!(
        record.get("value").and_then(Value::as_str),
        Some(r#"{"data":"/Devices/JPE1","hostname":"leaf1","load":0.5}"#)
    );
    assert_eq!(
        record
            .get("path")
            .and_then(Value::as_list)
            .map(<[Value]>::len),
        Some(2)
    );
}

#[test]
fn a_value_that_is_not_neat_is_unreadable_with_its_bytes_kept() {
    let notification = Notification {
        timestamp: timestamp(1),
        updates: vec![Update {
            key: b"\xc4\x01k".to_vec(),
            value: b"\xc1".to_vec(),
        }],
        ..Default::default()
    };
    let error = events(&Arc::from("cv"), &Arc::from("s"), "d", &notification, None).unwrap_err();
    assert!(error.error.contains("a value"), "{}", error.error);
    assert_eq!(error.raw, Bytes::from(notification.encode_to_vec()));
}
