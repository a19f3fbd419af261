//! gRPC as the source and the simulator speak it: tonic's framing,
//! HTTP/2 and status codes, with messages kept as bytes ([`RawCodec`])
//! because the descriptors that read them are only known at start. TLS is
//! the connection toolkit's rustls configuration (the same `ca_file`,
//! `insecure_skip_verify`, client certificates as every source), through
//! hyper-rustls; `http://` is plaintext HTTP/2 (h2c) for labs.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use netpipe_core::Secret;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

/// Messages as bytes, encoded and decoded elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A channel to `url` (`https://HOST[:PORT]` or `http://HOST:PORT`),
/// connected on first use and again after a failure; HTTP/2 pings find a
/// dead connection.
pub fn channel(url: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_http2()
        .wrap_connector(http);
    Ok(endpoint.connect_with_connector_lazy(https))
}

/// Opens a server-streaming call: `request` to `path`, with the token as
/// `authorization: Bearer ...` (marked sensitive: never logged by tonic).
pub async fn open(
    channel: &Channel,
    path: &str,
    request: Bytes,
    token: &Secret,
    max_message_size: usize,
) -> Result<tonic::Streaming<Bytes>, Status> {
    let mut grpc =
        tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(max_message_size);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(netpipe_connect::with_causes(&e)))?;
    let mut call = tonic::Request::new(request);
    let mut bearer = MetadataValue::try_from(format!("Bearer {}", token.expose()))
        .map_err(|_| Status::unauthenticated("the token holds characters a header cannot"))?;
    bearer.set_sensitive(true);
    call.metadata_mut().insert("authorization", bearer);
    let path = path
        .parse()
        .map_err(|_| Status::internal(format!("`{path}` is not a gRPC path")))?;
    Ok(grpc
        .server_streaming(call, path, RawCodec)
        .await?
        .into_inner())
}
