//! The `demo` source: synthetic network events (switches, their interfaces,
//! counters that grow), at a set rate or as fast as possible, so that
//! `netpipe run pipelines/demo.yaml` works anywhere. It also drives the core
//! benchmarks, so generating an event costs one `Vec` of values and nothing
//! else: names are shared `Arc`s made once.

use std::sync::Arc;
use std::time::Duration;

use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::schema::field;
use netpipe_core::value::field_names;
use netpipe_core::{
    BoxError, BuildContext, Event, FieldNames, Position, Record, Source, SourceConfig,
    SourceContext, Timestamp, Value, async_trait,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Options of the `demo` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Events per second; omit for as fast as possible.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Events to send before the source ends; omit to run until stopped.
    #[serde(default)]
    pub count: Option<u64>,
    /// Simulated switches.
    #[serde(default = "default_devices")]
    pub devices: u32,
    /// Interfaces per switch.
    #[serde(default = "default_interfaces")]
    pub interfaces: u32,
}

fn default_devices() -> u32 {
    8
}

fn default_interfaces() -> u32 {
    48
}

/// The Avro schema of `demo.interface`.
pub fn stream_schemas() -> Vec<(String, serde_json::Value)> {
    let fields = [
        field("device", json!("string")),
        field("interface", json!("string")),
        field("oper_status", json!("string")),
        field("in_octets", json!("long")),
        field("out_octets", json!("long")),
        field("in_errors", json!("long")),
        field("speed_mbps", json!("long")),
    ];
    let schema =
        json!({ "type": "record", "name": "interface", "namespace": "demo", "fields": fields });
    vec![("demo.interface".to_string(), schema)]
}

pub fn source_type() -> SourceType {
    SourceType::new::<DemoConfig>(
        "demo",
        "Synthetic interface counters from simulated switches (stream `demo.interface`); no server needed.",
    )
    .with_stream_schemas(stream_schemas)
}

impl SourceConfig for DemoConfig {
    fn build(&self, _cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let mut errors = Vec::new();
        if let Some(rate) = self.rate
            && !(rate > 0.0 && rate.is_finite())
        {
            errors.push(
                OptionError::new(
                    "rate",
                    format!("`rate` must be a positive number of events per second, not {rate}"),
                )
                .hint("omit `rate` for as fast as possible"),
            );
        }
        for (option, value) in [("devices", self.devices), ("interfaces", self.interfaces)] {
            if value == 0 {
                errors.push(OptionError::new(
                    option,
                    format!("`{option}` must be at least 1"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Box::new(OptionErrors(errors)));
        }
        Ok(Box::new(Demo::new(self.clone())))
    }
}

/// Events per chunk when running as fast as possible: large enough that the
/// per-chunk costs (an `Arc`, a channel send per sink) vanish per event.
const CHUNK: usize = 1024;

/// Estimated encoded size of a demo event (its JSON payload is about this long).
const EVENT_SIZE: usize = 140;

const OPER_STATUS: [&str; 3] = ["up", "up", "down"];

struct Demo {
    config: DemoConfig,
    fields: FieldNames,
    stream: Arc<str>,
    partition: Arc<str>,
    devices: Vec<Arc<str>>,
    interfaces: Vec<Arc<str>>,
    statuses: Vec<Arc<str>>,
}

impl Demo {
    fn new(config: DemoConfig) -> Self {
        Demo {
            fields: field_names(&[
                "device",
                "interface",
                "oper_status",
                "in_octets",
                "out_octets",
                "in_errors",
                "speed_mbps",
            ]),
            stream: Arc::from("demo.interface"),
            partition: Arc::from("demo"),
            devices: (0..config.devices)
                .map(|d| Arc::from(format!("sw-{d:02}")))
                .collect(),
            interfaces: (0..config.interfaces)
                .map(|i| Arc::from(format!("Ethernet{}", i + 1)))
                .collect(),
            statuses: OPER_STATUS.iter().map(|s| Arc::from(*s)).collect(),
            config,
        }
    }

    fn event(&self, source: &Arc<str>, seq: u64, now: Timestamp) -> Event {
        let interfaces = self.interfaces.len() as u64;
        let port = seq % (self.devices.len() as u64 * interfaces);
        let device = &self.devices[(port / interfaces) as usize];
        let values = vec![
            Value::String(device.clone()),
            Value::String(self.interfaces[(port % interfaces) as usize].clone()),
            Value::String(self.statuses[(seq % 3) as usize].clone()),
            Value::Int((seq * 1500) as i64),
            Value::Int((seq * 900) as i64),
            Value::Int((seq / 1000) as i64),
            Value::Int(if port.is_multiple_of(4) {
                100_000
            } else {
                10_000
            }),
        ];
        // A struct literal rather than `Event::new`: every demo event has the
        // same shape, so its size is estimated once, and the clock is read
        // once per chunk, not per event.
        Event {
            source: source.clone(),
            stream: self.stream.clone(),
            event_time: now,
            receive_time: now,
            key: Some(device.clone()),
            headers: Vec::new(),
            position: Some(Position {
                partition: self.partition.clone(),
                offset: seq,
            }),
            payload: Record::new(self.fields.clone(), values).into(),
            raw: None,
            size: EVENT_SIZE,
        }
    }
}

#[async_trait]
impl Source for Demo {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let total = self.config.count.unwrap_or(u64::MAX);
        // With a rate, send a chunk every tick; without, as fast as the sinks take them.
        let (per_tick, mut ticker) = match self.config.rate {
            Some(rate) => {
                let tick = Duration::from_millis(10);
                let mut ticker = tokio::time::interval(tick);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                (rate * tick.as_secs_f64(), Some(ticker))
            }
            None => (CHUNK as f64, None),
        };
        let mut seq = 0u64;
        let mut owed = 0.0;
        while seq < total {
            if let Some(ticker) = &mut ticker {
                tokio::select! {
                    _ = cx.shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
            } else if cx.shutdown.is_cancelled() {
                break;
            }
            owed += per_tick;
            let n = (owed as u64).min(total - seq);
            owed -= n as f64;
            let now = Timestamp::now();
            let events: Vec<Event> = (seq..seq + n)
                .map(|s| self.event(&cx.name, s, now))
                .collect();
            seq += n;
            cx.metrics.events_in.inc_by(n);
            // Not raced against shutdown: a chunk is either sent to every
            // sink or to none, and a send that waits is drained on shutdown.
            cx.out.send(events).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event fits the stream's schema (the names in order, the types
    /// the schema says), is keyed by its device, and the events go round
    /// every interface of every switch.
    #[test]
    fn events_fit_their_schema_and_cover_every_interface_of_every_switch() {
        let config: DemoConfig =
            serde_json::from_value(json!({ "devices": 2, "interfaces": 3 })).unwrap();
        let demo = Demo::new(config);
        let source: Arc<str> = Arc::from("demo");
        let schema = &stream_schemas()[0].1;
        let fields: Vec<(&str, &str)> = schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                // `T`, or `["null", T]`.
                let kind = f["type"]
                    .as_str()
                    .or_else(|| f["type"][1].as_str())
                    .unwrap();
                (f["name"].as_str().unwrap(), kind)
            })
            .collect();
        let mut ports = std::collections::BTreeSet::new();
        for seq in 0..12 {
            let event = demo.event(&source, seq, Timestamp(0));
            let record = event.payload.record();
            let names: Vec<&str> = record.iter().map(|(n, _)| n).collect();
            assert_eq!(names, fields.iter().map(|(n, _)| *n).collect::<Vec<_>>());
            for ((_, value), (name, kind)) in record.iter().zip(&fields) {
                let fits = match *kind {
                    "string" => value.as_str().is_some(),
                    "long" => value.as_int().is_some(),
                    other => panic!("{name}: an unexpected type {other}"),
                };
                assert!(fits, "{name} is {value:?}, the schema says {kind}");
            }
            assert_eq!(
                event.key.as_deref(),
                record.get("device").and_then(Value::as_str)
            );
            assert_eq!(event.position.as_ref().map(|p| p.offset), Some(seq));
            ports.insert((
                record
                    .get("device")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
                record
                    .get("interface")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
            ));
        }
        assert_eq!(ports.len(), 6, "2 switches × 3 interfaces: {ports:?}");
    }
}
