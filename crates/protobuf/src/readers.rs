//! Generated readers as the codec reaches them. A vendor crate's generated
//! code is generic over [`Handler`]s and lives in that crate; it fills a
//! [`Readers`] with its readers for the codec's four handlers, so the codec
//! calls them through plain function pointers, one call per message.

use crate::handler::{Handler, Retry};
use crate::json::JsonWriter;
use crate::plans::Plans;
use crate::records::RecordBuilder;
use crate::summary::{Rendering, Summing};

/// The generated readers of one descriptor set, per handler: each reads a
/// message of plan `index` into the handler, or gives up.
#[derive(Clone, Copy)]
pub struct Readers {
    /// The message types in the order the readers number them, checked
    /// against the plans' order when a codec is made.
    pub messages: &'static [&'static str],
    pub json: for<'o> fn(&Plans, usize, &[u8], &mut JsonWriter<'o>) -> Result<(), Retry>,
    pub summing: for<'s> fn(&Plans, usize, &[u8], &mut Summing<'s>) -> Result<(), Retry>,
    pub rendering:
        for<'s, 'o> fn(&Plans, usize, &[u8], &mut Rendering<'s, 'o>) -> Result<(), Retry>,
    pub records: for<'p> fn(&Plans, usize, &[u8], &mut RecordBuilder<'p>) -> Result<(), Retry>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Readers({} messages)", self.messages.len())
    }
}

impl Readers {
    /// No generated readers: the walk reads everything (descriptors loaded
    /// at run time).
    pub const NONE: Readers = Readers {
        messages: &[],
        json: |_, _, _, _| Err(Retry),
        summing: |_, _, _, _| Err(Retry),
        rendering: |_, _, _, _| Err(Retry),
        records: |_, _, _, _| Err(Retry),
    };
}

/// A handler that generated readers may serve.
pub trait Generated: Handler {
    /// Reads with the generated reader for this handler.
    fn read_generated(
        &mut self,
        readers: &Readers,
        plans: &Plans,
        index: usize,
        bytes: &[u8],
    ) -> Result<(), Retry>;
}

macro_rules! generated {
    ($handler:ident $(<$($lt:lifetime),+>)?, $field:ident) => {
        impl Generated for $handler$(<$($lt),+>)? {
            #[inline]
            fn read_generated(
                &mut self,
                readers: &Readers,
                plans: &Plans,
                index: usize,
                bytes: &[u8],
            ) -> Result<(), Retry> {
                (readers.$field)(plans, index, bytes, self)
            }
        }
    };
}

generated!(JsonWriter<'_>, json);
generated!(Summing<'_>, summing);
generated!(Rendering<'_, '_>, rendering);
generated!(RecordBuilder<'_>, records);
