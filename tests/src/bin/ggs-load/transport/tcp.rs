//! The GGS 1.0 driver of ggs-load: messages encoded by the test support's framing, replies
//! parsed by its strict parser, over a Tokio TCP stream.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use ggs_tests::client::ReplyFraming;
use ggs_tests::ggs10::Ggs10;
use ggs_tests::wire::{parse_reply_meta, ReplyMeta};
use ggs_tests::{Reply, Request, RequestMeta};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Initial capacity of a connection's read buffer.
const READ_BUFFER: usize = 16 * 1024;
/// Room made in the read buffer before each read.
const READ_RESERVE: usize = 32 * 1024;
/// Initial capacity of a connection's write buffer.
const WRITE_BUFFER: usize = 4096;

/// The write half: messages are encoded into one buffer and written at once.
pub struct TcpWriter {
    half: OwnedWriteHalf,
    buf: Vec<u8>,
}

/// The read half: bytes received, of which those before `start` are taken.
pub struct TcpReader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
}

/// Connects (with `TCP_NODELAY`).
pub async fn connect(addr: SocketAddr) -> Result<(TcpReader, TcpWriter)> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok((
        TcpReader {
            half: r,
            buf: Vec::with_capacity(READ_BUFFER),
            start: 0,
        },
        TcpWriter {
            half: w,
            buf: Vec::with_capacity(WRITE_BUFFER),
        },
    ))
}

impl TcpWriter {
    /// Sends messages, each with its GGS 1.1 fields, in one write.
    pub async fn send(&mut self, messages: &[(Request<'_>, RequestMeta<'_>)]) -> Result<()> {
        self.buf.clear();
        for (m, meta) in messages {
            Ggs10::encode_meta_into(m, meta, &mut self.buf);
        }
        self.half.write_all(&self.buf).await.context("writing")?;
        Ok(())
    }
}

impl TcpReader {
    /// The next reply and its version and GGS 1.1 fields; `None` when the server closed the
    /// connection.
    pub async fn next(&mut self) -> Result<Option<(Reply, ReplyMeta)>> {
        loop {
            if let Some((reply, meta, used)) = parse_reply_meta(&self.buf[self.start..])? {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(Some((reply, meta)));
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.reserve(READ_RESERVE);
            // read_buf is cancel-safe: a reply is only taken from the buffer once complete.
            if self.half.read_buf(&mut self.buf).await.context("reading")? == 0 {
                return Ok(None);
            }
        }
    }
}
