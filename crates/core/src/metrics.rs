//! Per-component counters, kept as Prometheus metrics.
//!
//! Components get their counter handles once, at build time, and add to them
//! once per chunk or batch, never per event. The same counters feed the
//! Prometheus endpoint and the summary printed when a run ends.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    Source,
    Sink,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Sink => "sink",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ComponentLabels {
    kind: String,
    component: String,
}

/// Counter handles of one component.
#[derive(Debug, Clone, Default)]
pub struct ComponentMetrics {
    /// Events a sink received, or a source decoded.
    pub events_in: Counter,
    /// Events a source sent on, or a sink durably wrote.
    pub events_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub errors: Counter,
    /// Inputs that could not be decoded and became dead-letter events.
    pub dead_letters: Counter,
    pub reconnects: Counter,
    /// Writes a sink sent again after they failed (a broker away).
    pub retries: Counter,
    /// Time a sink spent waiting for its output to take what it wrote (a
    /// broker acknowledging), holding its sources back meanwhile.
    pub blocked_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// How far a consuming source is behind, per partition.
    pub lag: Lag,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PartitionLabels {
    component: String,
    partition: String,
}

/// A consuming source's lag per partition (messages the broker holds
/// beyond what was committed): a gauge each on `/metrics`, and a line in
/// the summary. Set once per statistics interval, not per event.
#[derive(Debug, Clone, Default)]
pub struct Lag {
    component: String,
    gauges: Family<PartitionLabels, Gauge>,
    last: Arc<Mutex<BTreeMap<String, i64>>>,
}

impl Lag {
    pub fn set(&self, partition: &str, lag: i64) {
        let labels = PartitionLabels {
            component: self.component.clone(),
            partition: partition.to_string(),
        };
        self.gauges.get_or_create(&labels).set(lag);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.insert(partition.to_string(), lag);
    }

    /// The last lag set for each partition.
    pub fn partitions(&self) -> BTreeMap<String, i64> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Default)]
struct Families {
    events_in: Family<ComponentLabels, Counter>,
    events_out: Family<ComponentLabels, Counter>,
    bytes_in: Family<ComponentLabels, Counter>,
    bytes_out: Family<ComponentLabels, Counter>,
    errors: Family<ComponentLabels, Counter>,
    dead_letters: Family<ComponentLabels, Counter>,
    reconnects: Family<ComponentLabels, Counter>,
    retries: Family<ComponentLabels, Counter>,
    blocked_seconds: Family<ComponentLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    lag: Family<PartitionLabels, Gauge>,
    buffer_bytes: Family<ComponentLabels, Gauge>,
}

/// Every component's metrics in one run.
pub struct Metrics {
    registry: Registry,
    families: Families,
    /// Sinks with a disk buffer, for the summary.
    buffers: Mutex<Vec<(String, Gauge)>>,
    batch_latency: Family<ComponentLabels, Histogram>,
    components: Mutex<Vec<(ComponentKind, String, ComponentMetrics)>>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("netpipe");
        let families = Families::default();
        let help: [(&str, &str, &Family<ComponentLabels, Counter>); 8] = [
            (
                "events_in",
                "Events received by a component",
                &families.events_in,
            ),
            (
                "events_out",
                "Events a component sent on or durably wrote",
                &families.events_out,
            ),
            (
                "bytes_in",
                "Bytes received by a component",
                &families.bytes_in,
            ),
            (
                "bytes_out",
                "Bytes a component sent on or wrote",
                &families.bytes_out,
            ),
            ("errors", "Errors seen by a component", &families.errors),
            (
                "dead_letters",
                "Inputs routed to the dead-letter stream",
                &families.dead_letters,
            ),
            (
                "reconnects",
                "Reconnections of a source",
                &families.reconnects,
            ),
            (
                "retries",
                "Writes a sink sent again after they failed",
                &families.retries,
            ),
        ];
        for (name, help, family) in help {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "blocked_seconds",
            "Time a sink waited for its output to take what it wrote",
            families.blocked_seconds.clone(),
        );
        registry.register(
            "consumer_lag",
            "Messages a consuming source's partition holds beyond its committed offset",
            families.lag.clone(),
        );
        registry.register(
            "buffer_bytes",
            "Bytes in a sink's disk buffer that the sink has not yet written",
            families.buffer_bytes.clone(),
        );
        let batch_latency = Family::<ComponentLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "batch_latency_seconds",
            "Time from a batch's first event reaching a sink to its acknowledgement",
            batch_latency.clone(),
        );
        Metrics {
            registry,
            families,
            batch_latency,
            buffers: Mutex::default(),
            components: Mutex::default(),
        }
    }
}

impl Metrics {
    /// The counters of one component, created on first use.
    pub fn component(&self, kind: ComponentKind, name: &str) -> ComponentMetrics {
        let labels = ComponentLabels {
            kind: kind.as_str().to_string(),
            component: name.to_string(),
        };
        let f = &self.families;
        let metrics = ComponentMetrics {
            events_in: f.events_in.get_or_create(&labels).clone(),
            events_out: f.events_out.get_or_create(&labels).clone(),
            bytes_in: f.bytes_in.get_or_create(&labels).clone(),
            bytes_out: f.bytes_out.get_or_create(&labels).clone(),
            errors: f.errors.get_or_create(&labels).clone(),
            dead_letters: f.dead_letters.get_or_create(&labels).clone(),
            reconnects: f.reconnects.get_or_create(&labels).clone(),
            retries: f.retries.get_or_create(&labels).clone(),
            blocked_seconds: f.blocked_seconds.get_or_create(&labels).clone(),
            lag: Lag {
                component: name.to_string(),
                gauges: f.lag.clone(),
                last: Arc::default(),
            },
        };
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        // One handle per component, so what it sets is what the summary reads.
        if let Some((_, _, known)) = components.iter().find(|(k, n, _)| *k == kind && n == name) {
            return known.clone();
        }
        components.push((kind, name.to_string(), metrics.clone()));
        metrics
    }

    /// The batch latency histogram of a sink.
    pub fn batch_latency(&self, sink: &str) -> Histogram {
        let labels = ComponentLabels {
            kind: ComponentKind::Sink.as_str().to_string(),
            component: sink.to_string(),
        };
        self.batch_latency.get_or_create(&labels).clone()
    }

    /// The gauge of what waits in a sink's disk buffer.
    pub fn buffer_bytes(&self, sink: &str) -> Gauge {
        let labels = ComponentLabels {
            kind: ComponentKind::Sink.as_str().to_string(),
            component: sink.to_string(),
        };
        let gauge = self.families.buffer_bytes.get_or_create(&labels).clone();
        let mut buffers = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        buffers.push((sink.to_string(), gauge.clone()));
        gauge
    }

    /// Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// One line per component: events, bytes, errors. Printed to stderr on exit.
    pub fn summary(&self) -> String {
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::from(
            "component                kind    events_in   events_out     bytes_in    bytes_out  errors  dead_letters  reconnects  retries  blocked_s\n",
        );
        for (kind, name, m) in components.iter() {
            let _ = writeln!(
                out,
                "{name:<24} {:<7} {:>10} {:>12} {:>12} {:>12} {:>7} {:>13} {:>11} {:>8} {:>10.1}",
                kind.as_str(),
                m.events_in.get(),
                m.events_out.get(),
                m.bytes_in.get(),
                m.bytes_out.get(),
                m.errors.get(),
                m.dead_letters.get(),
                m.reconnects.get(),
                m.retries.get(),
                m.blocked_seconds.get(),
            );
        }
        for (_, name, m) in components.iter() {
            let lag = m.lag.partitions();
            if !lag.is_empty() {
                let shown: Vec<String> = lag.iter().map(|(p, l)| format!("{p}={l}")).collect();
                let _ = writeln!(out, "{name} lag: {}", shown.join(" "));
            }
        }
        let buffers = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        for (name, gauge) in buffers.iter() {
            let _ = writeln!(
                out,
                "{name} disk buffer: {} bytes wait for the sink",
                gauge.get()
            );
        }
        out
    }
}

/// Shared handle to a run's metrics.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_prometheus_text_and_summary() {
        let metrics = Metrics::default();
        let m = metrics.component(ComponentKind::Sink, "out");
        m.events_out.inc_by(42);
        metrics.batch_latency("out").observe(0.01);
        let text = metrics.encode();
        assert!(
            text.contains(r#"netpipe_events_out_total{kind="sink",component="out"} 42"#),
            "{text}"
        );
        assert!(
            text.contains("netpipe_batch_latency_seconds_count"),
            "{text}"
        );
        let summary = metrics.summary();
        let row: Vec<&str> = summary.lines().nth(1).unwrap().split_whitespace().collect();
        // component, kind, events_in, events_out, bytes_in, bytes_out, errors, ...
        assert_eq!(
            row[..7],
            ["out", "sink", "0", "42", "0", "0", "0"],
            "{summary}"
        );
    }
}
