//! Gap events keep every scope key through Arrow and back: the scope is a
//! map, so a source's own key (not one the schema names) is not dropped.

use std::sync::Arc;

use netpipe_arrow::{EventReader, event_schema, events_to_batch};
use netpipe_core::event::Gap;
use netpipe_core::schema::StreamSchemas;
use netpipe_core::{Timestamp, Value};

#[test]
fn a_gap_scope_key_no_schema_names_survives_a_round_trip() {
    let source: Arc<str> = Arc::from("cv");
    let scopes: [&[(&str, &str)]; 3] = [
        &[("dataset", "analytics"), ("path", "/Devices/JPE1")],
        &[],
        &[("customer", "A"), ("topic", "monitoring")],
    ];
    let events: Vec<_> = scopes
        .iter()
        .map(|scope| {
            Gap {
                scope,
                from: Timestamp::from_secs(10),
                to: Timestamp::from_secs(20),
                reason: "reconnect",
            }
            .into_event(&source)
            .with_receive_time(Timestamp::from_secs(21))
        })
        .collect();
    let schemas = StreamSchemas::with_common();
    let schema = Arc::new(event_schema(schemas.get("netpipe.gap")).unwrap());
    let batch = events_to_batch(&schema, &events.iter().collect::<Vec<_>>()).unwrap();
    let back = EventReader::new(source.clone(), Arc::from("file"))
        .events(&batch, 0)
        .unwrap();
    assert_eq!(back.len(), 3);
    for (scope, event) in scopes.iter().zip(&back) {
        let read = event
            .payload
            .record()
            .get("scope")
            .unwrap()
            .as_record()
            .unwrap();
        let pairs: Vec<(&str, &str)> = read.iter().map(|(k, v)| (k, v.as_str().unwrap())).collect();
        assert_eq!(&pairs, scope);
        assert_eq!(
            event.payload.record().get("reason"),
            Some(&Value::string("reconnect"))
        );
    }
}
