//! Framing on the stdio pipes: MCP's stdio transport sends one JSON-RPC message per line. Lines are cut and
//! checked as JSON by rmcp's [`JsonRpcMessageCodec`], decoding into [`RawValue`] so that a message passes
//! through byte for byte: the proxy reads each message's structure elsewhere ([`crate::inbound`]) but forwards
//! the exact text it received.
//!
//! The reader drives the codec itself instead of through `tokio_util`'s `FramedRead`: after a decoder error
//! `FramedRead` stops decoding what is already buffered until more bytes arrive, which would leave a valid
//! message behind a malformed one waiting (and its sender hanging). A line longer than [`MAX_LINE_BYTES`] is
//! reported and discarded up to its newline; memory stays bounded.

use rmcp::transport::async_rw::{JsonRpcMessageCodec, JsonRpcMessageCodecError};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder as _, Encoder as _};

/// The longest message accepted on either pipe, newline included: 16 MiB (rmcp's own limit for stdio).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How much the read buffer grows by at a time.
const READ_CHUNK: usize = 64 * 1024;

/// One message, exactly as it was sent (without its newline).
pub type RawMessage = Box<RawValue>;

/// What reading the next line gave.
#[derive(Debug)]
pub enum Frame {
    /// A line holding one JSON value (not yet known to be a JSON-RPC message).
    Message(RawMessage),
    /// A line that is not JSON (or not UTF-8); it was consumed and dropped.
    NotJson(serde_json::Error),
    /// A line longer than [`MAX_LINE_BYTES`]; it is being discarded up to its newline.
    TooLong,
    /// The pipe is closed (a last line without a newline was delivered before this).
    Closed,
    /// Reading failed.
    Failed(std::io::Error),
}

/// Reads newline-delimited JSON messages from a pipe.
pub struct MessageReader<R> {
    pipe: R,
    buffer: BytesMut,
    codec: JsonRpcMessageCodec<RawMessage>,
    closed: bool,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// A reader on `pipe` with the [`MAX_LINE_BYTES`] limit.
    pub fn new(pipe: R) -> Self {
        Self::with_max_line(pipe, MAX_LINE_BYTES)
    }

    /// A reader on `pipe` accepting lines up to `max_line` bytes.
    pub fn with_max_line(pipe: R, max_line: usize) -> Self {
        Self {
            pipe,
            buffer: BytesMut::new(),
            codec: JsonRpcMessageCodec::new_with_max_length(max_line),
            closed: false,
        }
    }

    /// The next line. After [`Frame::Closed`] it keeps answering `Closed`.
    pub async fn next(&mut self) -> Frame {
        loop {
            let decoded = if self.closed {
                self.codec.decode_eof(&mut self.buffer)
            } else {
                self.codec.decode(&mut self.buffer)
            };
            match decoded {
                Ok(Some(message)) => return Frame::Message(message),
                Ok(None) if self.closed => return Frame::Closed,
                Ok(None) => {}
                Err(JsonRpcMessageCodecError::MaxLineLengthExceeded) => return Frame::TooLong,
                Err(JsonRpcMessageCodecError::Serde(error)) => return Frame::NotJson(error),
                Err(JsonRpcMessageCodecError::Io(error)) => return Frame::Failed(error),
                // The codec's error type may grow; treat anything new as a line that could not be read.
                Err(other) => return Frame::Failed(std::io::Error::other(other.to_string())),
            }
            self.buffer.reserve(READ_CHUNK);
            match self.pipe.read_buf(&mut self.buffer).await {
                Ok(0) => self.closed = true,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Frame::Failed(error),
            }
        }
    }
}

/// Writes newline-delimited JSON messages to a pipe, each flushed as soon as it is written.
pub struct MessageWriter<W> {
    pipe: W,
    buffer: BytesMut,
    codec: JsonRpcMessageCodec<RawMessage>,
}

impl<W: AsyncWrite + Unpin> MessageWriter<W> {
    /// A writer on `pipe`.
    pub fn new(pipe: W) -> Self {
        Self {
            pipe,
            buffer: BytesMut::new(),
            codec: JsonRpcMessageCodec::default(),
        }
    }

    /// Writes one message and its newline, and flushes.
    pub async fn send(&mut self, message: RawMessage) -> std::io::Result<()> {
        self.buffer.clear();
        self.codec
            .encode(message, &mut self.buffer)
            .map_err(std::io::Error::from)?;
        self.pipe.write_all(&self.buffer).await?;
        self.pipe.flush().await
    }

    /// Flushes and closes the pipe (the peer reads end of file).
    pub async fn close(&mut self) -> std::io::Result<()> {
        self.pipe.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use super::*;

    async fn frames(input: &[u8], max_line: usize) -> Vec<String> {
        let mut reader = MessageReader::with_max_line(input, max_line);
        let mut out = Vec::new();
        loop {
            match reader.next().await {
                Frame::Message(m) => out.push(m.get().to_string()),
                Frame::NotJson(_) => out.push("<not json>".into()),
                Frame::TooLong => out.push("<too long>".into()),
                Frame::Closed => return out,
                Frame::Failed(e) => panic!("{e}"),
            }
        }
    }

    #[tokio::test]
    async fn messages_keep_their_exact_text() {
        let input = b"{\"jsonrpc\":\"2.0\", \"id\" : 1,\"method\":\"ping\"}\r\n{\"a\":1.50}";
        assert_eq!(
            frames(input, MAX_LINE_BYTES).await,
            [
                "{\"jsonrpc\":\"2.0\", \"id\" : 1,\"method\":\"ping\"}",
                "{\"a\":1.50}"
            ]
        );
    }

    /// A malformed line does not hold back the valid one buffered behind it.
    #[tokio::test]
    async fn a_bad_line_does_not_stall_the_next() {
        let input = b"not json\n{\"id\":2}\n";
        assert_eq!(
            frames(input, MAX_LINE_BYTES).await,
            ["<not json>", "{\"id\":2}"]
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_reported_and_skipped() {
        let mut input = vec![b'['; 100];
        input.extend_from_slice(b"\n{\"id\":3}\n");
        assert_eq!(frames(&input, 64).await, ["<too long>", "{\"id\":3}"]);
    }

    #[tokio::test]
    async fn written_messages_are_one_line_each() {
        let mut out = Vec::new();
        let mut writer = MessageWriter::new(&mut out);
        writer
            .send(RawValue::from_string("{\"id\": 1}".into()).unwrap())
            .await
            .unwrap();
        writer
            .send(RawValue::from_string("[]".into()).unwrap())
            .await
            .unwrap();
        assert_eq!(out, b"{\"id\": 1}\n[]\n");
    }
}
