//! A batch's JSON Lines, laid out for one vectored write: the text the sink
//! renders (metadata, payloads no source rendered, line ends), and between
//! its pieces the payloads sources rendered on arrival, written from where
//! they are. A dense Aruba payload is tens of kilobytes of JSON: copying
//! each into the sink's buffer cost more than everything else the sink does.
//! No I/O here, so that the benchmark runs the same code.

use std::io::IoSlice;

use netpipe_core::{Event, json};

/// Reused from batch to batch, so its buffers stop growing.
#[derive(Debug, Default)]
pub struct Lines {
    text: Vec<u8>,
    /// Where in `text` each rendered payload goes, in event order.
    cuts: Vec<usize>,
}

impl Lines {
    /// Lays out `events`, one line each; `pretty` renders each whole, indented.
    pub fn render<'e>(&mut self, events: impl Iterator<Item = &'e Event>, pretty: bool) {
        self.text.clear();
        self.cuts.clear();
        for event in events {
            if pretty {
                json::write_event(event, &mut self.text, true);
            } else {
                json::write_head(event, &mut self.text);
                match event.payload.rendered_json() {
                    Some(_) => self.cuts.push(self.text.len()),
                    None => json::write_payload(&event.payload, &mut self.text),
                }
                self.text.push(b'}');
            }
            self.text.push(b'\n');
        }
    }

    /// The pieces to write, in order, for the `events` last rendered.
    pub fn slices<'a>(&'a self, events: impl Iterator<Item = &'a Event>) -> Vec<IoSlice<'a>> {
        let mut slices = Vec::with_capacity(2 * self.cuts.len() + 1);
        let mut from = 0;
        // Pretty lines have no cuts, and the zip then takes no payload.
        let rendered = events.filter_map(|event| event.payload.rendered_json());
        for (&cut, payload) in self.cuts.iter().zip(rendered) {
            slices.push(IoSlice::new(&self.text[from..cut]));
            slices.push(IoSlice::new(payload));
            from = cut;
        }
        slices.push(IoSlice::new(&self.text[from..]));
        slices
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use netpipe_core::payload::Codec;
    use netpipe_core::value::{Record, Value, field_names};
    use netpipe_core::{Payload, Timestamp};

    use super::*;

    /// Payloads of no fields, whatever their bytes.
    #[derive(Debug)]
    struct EmptyCodec;

    impl Codec for EmptyCodec {
        fn decode(&self, _: &Bytes) -> Record {
            Record::new(field_names::<&str>(&[]), vec![])
        }

        fn write_json(&self, _: &Bytes, out: &mut Vec<u8>) {
            out.extend_from_slice(b"{}");
        }
    }

    fn event(payload: Payload) -> Event {
        Event::sized("src".into(), "demo.x".into(), Timestamp(0), payload, 0)
            .with_receive_time(Timestamp(0))
    }

    /// Rendered, encoded and decoded payloads, mixed: the vectored pieces
    /// join into what writing each event whole gives.
    #[test]
    fn pieces_join_into_the_events_json_lines() {
        let codec: Arc<dyn Codec> = Arc::new(EmptyCodec);
        let rendered = |name: &str| {
            let json = format!("{{\"name\":\"{name}\"}}");
            Payload::with_json(Bytes::new(), codec.clone(), json.into())
        };
        let events = [
            event(rendered("first")),
            event(Payload::encoded(Bytes::new(), codec.clone())),
            event(rendered("third")),
            event(rendered("fourth")),
            event(Payload::from(Record::new(
                field_names(&["name"]),
                vec![Value::string("decoded")],
            ))),
        ];
        for pretty in [false, true] {
            let mut expected = Vec::new();
            for event in &events {
                json::write_event(event, &mut expected, pretty);
                expected.push(b'\n');
            }
            let mut lines = Lines::default();
            // Twice: buffers reused for the next batch start empty.
            for _ in 0..2 {
                lines.render(events.iter(), pretty);
                let slices = lines.slices(events.iter());
                assert_eq!(slices.len(), if pretty { 1 } else { 7 });
                let joined: Vec<u8> = slices
                    .iter()
                    .flat_map(|slice| slice.iter().copied())
                    .collect();
                assert_eq!(joined, expected, "pretty: {pretty}");
            }
        }
    }
}
