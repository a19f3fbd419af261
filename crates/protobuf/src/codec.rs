//! The codec: plans, rules and generated readers of one descriptor set,
//! and the one place where a generated reader that gives up hands the
//! message to the walk.

use bytes::Bytes;
use netpipe_core::Record;
use prost_reflect::DescriptorPool;

use crate::error::DecodeError;
use crate::json::JsonWriter;
use crate::plans::Plans;
use crate::readers::{Generated, Readers};
use crate::records::RecordBuilder;
use crate::rules::Rules;
use crate::summary::{Rendering, Summarizer, Summary, Summing};
use crate::walk::Walker;

/// Decodes messages of one descriptor set. Build once and share.
#[derive(Debug, Clone)]
pub struct Codec {
    plans: Plans,
    rules: Rules,
    readers: Readers,
}

impl Codec {
    /// A codec of `pool`'s messages. `readers` must be generated from the
    /// same descriptors (or be [`Readers::NONE`]); panics if they name other
    /// messages, a build mistake.
    pub fn new(pool: &DescriptorPool, rules: Rules, readers: Readers) -> Self {
        let plans = Plans::new(pool, &rules);
        if !readers.messages.is_empty() {
            let names: Vec<&str> = plans.messages.iter().map(|m| &*m.full_name).collect();
            assert_eq!(
                names, readers.messages,
                "the generated readers were generated from other descriptors"
            );
        }
        Codec {
            plans,
            rules,
            readers,
        }
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// The plan of message type `full_name`.
    pub fn index_of(&self, full_name: &str) -> Option<usize> {
        self.plans.index_of(full_name)
    }

    /// Reads `bytes` as the message of plan `index` into `handler`: with the
    /// generated reader, else (it gave up, or there is none) with the walk,
    /// which names any error.
    pub fn read<H: Generated>(
        &self,
        index: usize,
        bytes: &[u8],
        handler: &mut H,
    ) -> Result<(), DecodeError> {
        if handler
            .read_generated(&self.readers, &self.plans, index, bytes)
            .is_ok()
        {
            return Ok(());
        }
        handler.restart();
        Walker::new(&self.plans)
            .walk(index, bytes, handler)
            .map_err(|e| *e)
    }

    /// Reads a payload for its summary: with the walk alone when the
    /// generated readers cannot see its key and time.
    fn summing_read<H: Generated>(
        &self,
        summarizer: &Summarizer,
        payload: &[u8],
        handler: &mut H,
    ) -> Result<(), DecodeError> {
        match summarizer.walk {
            true => Walker::new(&self.plans)
                .walk(summarizer.index, payload, handler)
                .map_err(|e| *e),
            false => self.read(summarizer.index, payload, handler),
        }
    }

    /// Appends `bytes`, a message of plan `index`, as JSON to `out`.
    pub fn write_json(
        &self,
        index: usize,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        self.read(index, bytes, &mut JsonWriter::new(out))
    }

    /// Decodes `bytes` (all of `frame`, or a slice of it) as the message of
    /// plan `index`; `bytes` values share `frame`.
    pub fn decode(&self, index: usize, frame: &Bytes, bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut builder = RecordBuilder::new(&self.plans, frame.clone());
        self.read(index, bytes, &mut builder)?;
        match builder.into_record() {
            Some(record) => Ok(record),
            None => Err(DecodeError::Invalid {
                message: self.plans.messages[index].full_name.clone(),
                detail: "a value type, not a record".to_string(),
            }),
        }
    }

    /// The key and time rules of payloads of plan `index`.
    pub fn summarizer(&self, index: usize) -> Summarizer {
        Summarizer::new(&self.plans, &self.rules, index)
    }

    /// Checks `payload` whole and sums it up.
    pub fn summarize(
        &self,
        summarizer: &Summarizer,
        payload: &[u8],
    ) -> Result<Summary, DecodeError> {
        let mut summing = Summing::new(summarizer, &self.plans);
        self.summing_read(summarizer, payload, &mut summing)?;
        Ok(summing.summary)
    }

    /// Checks `payload` whole and appends its JSON to `json`, in one pass:
    /// what a source does when every sink reading it writes JSON (twice the
    /// work otherwise, checked now and transcoded later). The summary's size
    /// is the JSON's length, what the event then holds. On an error, `json`
    /// is as it was.
    pub fn summarize_to_json(
        &self,
        summarizer: &Summarizer,
        payload: &[u8],
        json: &mut Vec<u8>,
    ) -> Result<Summary, DecodeError> {
        let start = json.len();
        let mut rendering = Rendering::new(summarizer, json);
        let result = self.summing_read(summarizer, payload, &mut rendering);
        let mut summary = rendering.summary;
        if let Err(error) = result {
            json.truncate(start);
            return Err(error);
        }
        summary.size = json.len() - start;
        Ok(summary)
    }
}
