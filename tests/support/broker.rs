//! A real Kafka-protocol broker for the tests: tansu, started on a free
//! port with in-memory storage and stopped when dropped. A test that needs
//! it fails (never skips) when tansu is not installed.

use std::time::{Duration, Instant};

use netpipe_testkit::Tansu;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

pub struct Broker(Tansu);

impl Broker {
    pub fn start() -> Broker {
        Broker(Tansu::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A broker whose storage outlives it (tansu on S3 in `moto`'s bucket
    /// `tansu`), so that it can be killed and started again with its topics
    /// and messages.
    pub fn durable(moto: &netpipe_testkit::Moto) -> Broker {
        moto.create_bucket("tansu")
            .unwrap_or_else(|e| panic!("{e}"));
        let endpoint = moto.endpoint();
        let env = [
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        Broker(Tansu::start_with("s3://tansu/", &env).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Kills the broker with SIGKILL.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts it again on the same port, with the same storage.
    pub fn restart(&mut self) {
        self.0.restart().unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn address(&self) -> String {
        self.0.address()
    }

    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.0.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Reads `count` messages from `topic`'s partitions `0..partitions`, from the start.
    pub fn consume(&self, topic: &str, partitions: i32, count: usize) -> Vec<Record> {
        let records = self.read(topic, partitions, |read, _| read >= count);
        assert_eq!(records.len(), count, "messages read back from {topic}");
        records
    }

    /// Reads every message of `topic`'s partitions `0..partitions` (until
    /// none has come for two seconds): at least `count`, repeats included.
    pub fn consume_at_least(&self, topic: &str, partitions: i32, count: usize) -> Vec<Record> {
        let quiet = Duration::from_secs(2);
        let records = self.read(topic, partitions, |read, idle| {
            read >= count && idle >= quiet
        });
        assert!(
            records.len() >= count,
            "{} of {count} messages read back from {topic}",
            records.len()
        );
        records
    }

    /// Reads from the start until `done(messages read, time since the last)`, or a minute.
    fn read(
        &self,
        topic: &str,
        partitions: i32,
        done: impl Fn(usize, Duration) -> bool,
    ) -> Vec<Record> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .set("group.id", "netpipe-tests")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = Instant::now();
        while !done(records.len(), last.elapsed()) && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                records.push(Record::from(&message));
                last = Instant::now();
            }
        }
        records
    }
}

/// One consumed message, owned.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub key: Option<String>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl From<&BorrowedMessage<'_>> for Record {
    fn from(m: &BorrowedMessage<'_>) -> Self {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Record {
            partition: m.partition(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            value: m.payload().unwrap_or_default().to_vec(),
            headers,
        }
    }
}
