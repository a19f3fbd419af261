//! The event kinds PacketFabric streams and the fields each one has, from
//! the API's OpenAPI schemas. Decoding, the Avro schemas and the simulator
//! all read these tables.

use netpipe_core::schema::{field, optional, timestamp};
use serde_json::{Value as Json, json};

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    Int,
    Float,
    Time,
}

/// One event kind: `event: <type>|<category>`.
#[derive(Debug)]
pub struct Kind {
    pub stream_type: &'static str,
    pub category: &'static str,
    pub fields: Vec<(String, Type)>,
}

/// Categories of `customer` (activity log) events, requestable or not.
pub const CUSTOMER_CATEGORIES: [&str; 16] = [
    "auth",
    "billing",
    "bgp",
    "contact",
    "cloud_connection",
    "cloud_router",
    "customer",
    "document",
    "lag_interface",
    "logical_interface",
    "physical_interface",
    "outbound_cross_connect",
    "point_to_point",
    "rate_limit",
    "user",
    "virtual_circuit",
];

/// Categories a `customer` stream may request.
pub const REQUESTABLE_CUSTOMER: [&str; 13] = [
    "auth",
    "bgp",
    "cloud_connection",
    "cloud_router",
    "document",
    "lag_interface",
    "logical_interface",
    "physical_interface",
    "outbound_cross_connect",
    "point_to_point",
    "rate_limit",
    "user",
    "virtual_circuit",
];

pub const PORT_EVENTS: [&str; 4] = ["errors", "etherstats", "metrics", "optical"];
pub const VC_EVENTS: [&str; 1] = ["metrics"];

fn fields(spec: &[(&str, Type)]) -> Vec<(String, Type)> {
    spec.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

const RATES: [&str; 8] = [
    "bytes_rx_bps",
    "bytes_rx_total",
    "bytes_tx_bps",
    "bytes_tx_total",
    "packets_rx_pps",
    "packets_rx_total",
    "packets_tx_pps",
    "packets_tx_total",
];

const ERRORS: [&str; 19] = [
    "rx_discard",
    "rx_drop",
    "rx_fifo",
    "rx_framing",
    "rx_l2_channel",
    "rx_l2_mismatch_timeout",
    "rx_l3_incomplete",
    "rx_resource",
    "rx_runt",
    "rx_unspecified",
    "tx_aged",
    "tx_carrier",
    "tx_collision",
    "tx_drop",
    "tx_fifo",
    "tx_link_crc",
    "tx_mtu",
    "tx_resource",
    "tx_unspecified",
];

const ETHERSTATS: [&str; 23] = [
    "rx_broadcasts",
    "rx_bytes",
    "rx_code_violations",
    "rx_crc_errors",
    "rx_fifo_errors",
    "rx_fragment_frames",
    "rx_jabber_frames",
    "rx_mac_control_frames",
    "rx_mac_pause_frames",
    "rx_multicasts",
    "rx_oversized_frames",
    "rx_packets",
    "rx_unicast",
    "rx_vlan_tagged_frames",
    "tx_broadcasts",
    "tx_bytes",
    "tx_crc_errors",
    "tx_fifo_errors",
    "tx_mac_control_frames",
    "tx_mac_pause_frames",
    "tx_multicasts",
    "tx_packets",
    "tx_unicast",
];

const LANE: [&str; 7] = [
    "bias_current",
    "index",
    "output_power",
    "rx_dbm",
    "rx_power",
    "tx_dbm",
    "tx_power",
];

/// Every kind, `customer|*` first.
pub fn all() -> Vec<Kind> {
    let port_head = [("timestamp", Type::Time), ("port_circuit_id", Type::Text)];
    let with = |head: &[(&str, Type)], names: &[&str], t: Type| {
        let mut f = fields(head);
        f.extend(names.iter().map(|n| (n.to_string(), t)));
        f
    };
    let mut kinds: Vec<Kind> = CUSTOMER_CATEGORIES
        .iter()
        .map(|category| Kind {
            stream_type: "customer",
            category,
            fields: fields(&[
                ("timestamp", Type::Time),
                ("user", Type::Text),
                ("log_level", Type::Text),
                ("category", Type::Text),
                ("event", Type::Text),
                ("message", Type::Text),
            ]),
        })
        .collect();
    let optical: Vec<String> = (0..4)
        .flat_map(|n| LANE.iter().map(move |l| format!("lane_{n}_{l}")))
        .collect();
    let optical: Vec<&str> = optical.iter().map(String::as_str).collect();
    kinds.extend([
        Kind {
            stream_type: "port",
            category: "metrics",
            fields: with(&port_head, &RATES, Type::Int),
        },
        Kind {
            stream_type: "port",
            category: "errors",
            fields: with(&port_head, &ERRORS, Type::Int),
        },
        Kind {
            stream_type: "port",
            category: "etherstats",
            fields: with(&port_head, &ETHERSTATS, Type::Int),
        },
        Kind {
            stream_type: "port",
            category: "optical",
            fields: with(&port_head, &optical, Type::Float),
        },
        Kind {
            stream_type: "vc",
            category: "metrics",
            fields: with(
                &[
                    ("timestamp", Type::Time),
                    ("vc_circuit_id", Type::Text),
                    ("port_circuit_id", Type::Text),
                    ("vlan", Type::Int),
                ],
                &RATES,
                Type::Int,
            ),
        },
    ]);
    kinds
}

impl Kind {
    pub fn stream(&self) -> String {
        format!("packetfabric.{}.{}", self.stream_type, self.category)
    }

    fn avro(&self) -> Json {
        let fields: Vec<Json> = self
            .fields
            .iter()
            .map(|(name, t)| {
                let schema = match t {
                    Type::Text => json!("string"),
                    Type::Int => json!("long"),
                    Type::Float => json!("double"),
                    Type::Time => timestamp(),
                };
                field(name, optional(schema))
            })
            .collect();
        json!({
            "type": "record",
            "name": self.category,
            "namespace": format!("packetfabric.{}", self.stream_type),
            "doc": "Fields the API documents; fields it adds later are kept too (new nullable columns).",
            "fields": fields,
        })
    }
}

/// Avro schemas of every `packetfabric.*` stream.
pub fn stream_schemas() -> Vec<(String, Json)> {
    all().iter().map(|k| (k.stream(), k.avro())).collect()
}
