//! Why a message could not be decoded.

/// Why a message could not be decoded, naming the message type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {0}")]
    Truncated(String),
    #[error("invalid protobuf in {message}: {detail}")]
    Invalid { message: String, detail: String },
}
