//! GGS 1.0 framing: incremental parser of client frames and the exact writer of server replies.
//!
//! A client message is a block of `Name: value` header lines (each ended by LF
//! or CRLF), one empty line, then exactly `Content-Length` bytes of body. A
//! server reply always carries the same five headers in a fixed order, LF line
//! endings, and `Content-Size` as the body length; in GGS 1.1 (`GGS-Version: 1.1`) the
//! numbers beside a message (`Msg`, `Seq`) follow as extra headers.
//!
//! This module only frames bytes; mapping frames to commands happens elsewhere.

use std::fmt::Write as _;

use bytes::{Buf, Bytes, BytesMut};

use super::message::{ServerMessage, Version};

/// Longest header line accepted, in bytes (without its line ending).
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// Largest header block (all header lines of one message together), in bytes.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// How many characters of an offending line or value are quoted in an error.
const QUOTE_CHARS: usize = 80;

/// One client message: its headers (names lower-cased, values trimmed, in arrival order) and its body.
///
/// The `content-length` header is kept in `headers` like any other header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Header `(name, value)` pairs: names ASCII-lower-cased, values trimmed of spaces and tabs.
    pub headers: Vec<(String, String)>,
    /// The body, exactly `Content-Length` bytes.
    pub body: Bytes,
}

impl Frame {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a message could not be framed. `code()` is a stable snake_case code sent to clients; Display is a clear sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A header line is longer than `limit` bytes (fatal).
    #[error("a header line is longer than the limit of {limit} bytes")]
    HeaderLineTooLong {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The header lines of one message together exceed `limit` bytes (fatal).
    #[error("the header block is larger than the limit of {limit} bytes")]
    HeaderBlockTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// A header line has no ':' or an empty name; the message is skipped if its length is usable.
    #[error("malformed header line {line:?}: expected `Name: value`")]
    BadHeaderLine {
        /// The offending line, lossily decoded and truncated.
        line: String,
    },
    /// The header block ended without a Content-Length header (fatal).
    #[error("the message has no Content-Length header")]
    MissingContentLength,
    /// The Content-Length is not a plain non-negative decimal integer, or two disagree (fatal).
    #[error("invalid Content-Length {value:?}: expected one non-negative decimal integer")]
    BadContentLength {
        /// The offending value (or the two conflicting values), truncated.
        value: String,
    },
    /// The announced body is larger than the configured limit; the body is skipped.
    #[error("the body of {length} bytes is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The announced body length, in bytes.
        length: u64,
        /// The configured limit, in bytes.
        limit: usize,
    },
}

impl FrameError {
    /// Stable snake_case code for this error, suitable to send to clients.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::HeaderLineTooLong { .. } | FrameError::HeaderBlockTooLarge { .. } => {
                "header_too_large"
            }
            FrameError::BadHeaderLine { .. } => "bad_header",
            FrameError::MissingContentLength => "missing_length",
            FrameError::BadContentLength { .. } => "bad_length",
            FrameError::BodyTooLarge { .. } => "body_too_large",
        }
    }
}

/// What one call to decode produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete, well-framed message.
    Frame(Frame),
    /// A bad message that was consumed whole (its body skipped): the stream is still in sync; reply with the error and carry on.
    Rejected(FrameError),
}

/// Where the decoder is within the current message.
#[derive(Debug)]
enum State {
    /// Reading header lines (or skipping blank lines before a message).
    Headers,
    /// Header block done; waiting for `len` body bytes.
    Body { len: usize },
    /// Discarding `remaining` body bytes as they arrive, then reporting `report` if any.
    Skip {
        remaining: u64,
        report: Option<FrameError>,
    },
    /// The stream could not be resynchronised; every later call returns this error.
    Failed(FrameError),
}

/// Incremental parser. Feed it the connection's read buffer; it consumes what it has parsed.
///
/// Header lines are removed from the buffer as soon as they are complete, so
/// the buffer holds at most one partial header line or one partial body (plus
/// whatever the caller read beyond it). Bodies over the limit are dropped as
/// they arrive, never buffered.
#[derive(Debug)]
pub struct Decoder {
    max_body: usize,
    state: State,
    /// Headers of the message being read.
    headers: Vec<(String, String)>,
    /// Bytes of header lines (with their line endings) read for the current message.
    block_len: usize,
    /// First malformed header line of the current message.
    bad_line: Option<FrameError>,
    /// Content-Length seen so far: `Ok(n)` or the offending text.
    length: Option<Result<u64, String>>,
    /// How many bytes at the front of the buffer are known to contain no LF.
    scanned: usize,
}

impl Decoder {
    /// A decoder that accepts bodies of at most `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        Decoder {
            max_body,
            state: State::Headers,
            headers: Vec::new(),
            block_len: 0,
            bad_line: None,
            length: None,
            scanned: 0,
        }
    }

    /// Ok(None): need more bytes (a half-received message is not an error).
    /// Ok(Some(Decoded::Frame)) / Ok(Some(Decoded::Rejected)): one message consumed from `buf`.
    /// Err(e): the stream cannot be resynchronised (no usable length, or a header line/block over its limit): the caller replies with the error and closes.
    ///
    /// A body over the limit is reported as `Rejected(BodyTooLarge)` as soon as
    /// its header block is read, so the client gets an early answer; its bytes
    /// are then discarded silently by this and later calls as they arrive. If a
    /// message has both a malformed header line and a body over the limit, the
    /// malformed line is reported (early, and the body is skipped the same way).
    ///
    /// After an `Err`, every later call returns the same error.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, FrameError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Skip { remaining, report } => {
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    buf.advance(n);
                    *remaining -= n as u64;
                    if *remaining > 0 {
                        return Ok(None);
                    }
                    let report = report.take();
                    self.state = State::Headers;
                    if let Some(e) = report {
                        return Ok(Some(Decoded::Rejected(e)));
                    }
                }
                State::Body { len } => {
                    let len = *len;
                    if buf.len() < len {
                        return Ok(None);
                    }
                    let body = buf.split_to(len).freeze();
                    self.state = State::Headers;
                    let headers = std::mem::take(&mut self.headers);
                    return Ok(Some(Decoded::Frame(Frame { headers, body })));
                }
                State::Headers => match self.header_step(buf) {
                    Ok(Some(decoded)) => return Ok(Some(decoded)),
                    Ok(None) => {
                        if matches!(self.state, State::Headers) {
                            return Ok(None);
                        }
                    }
                    Err(e) => {
                        self.state = State::Failed(e.clone());
                        return Err(e);
                    }
                },
            }
        }
    }

    /// Reads header lines until the block ends (state changes), more bytes are
    /// needed, an early rejection is due, or a fatal error occurs.
    fn header_step(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, FrameError> {
        loop {
            // The guard only matters if the caller shrank the buffer between calls.
            let from = self.scanned.min(buf.len());
            let Some(pos) = buf[from..].iter().position(|&b| b == b'\n') else {
                self.scanned = buf.len();
                return self.check_partial(buf).map(|()| None);
            };
            let end = from + pos;
            self.scanned = 0;
            let line_total = end + 1;
            let content = if end > 0 && buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };

            if content == 0 {
                buf.advance(line_total);
                if self.block_len == 0 {
                    // Blank line between messages: tolerated and skipped.
                    continue;
                }
                return self.finish_block(buf);
            }

            if content > MAX_HEADER_LINE {
                return Err(FrameError::HeaderLineTooLong {
                    limit: MAX_HEADER_LINE,
                });
            }
            self.block_len += line_total;
            if self.block_len > MAX_HEADER_BLOCK {
                return Err(FrameError::HeaderBlockTooLarge {
                    limit: MAX_HEADER_BLOCK,
                });
            }
            self.parse_line(&buf[..content]);
            buf.advance(line_total);
        }
    }

    /// Fails as soon as the partial (LF-less) line at the front of `buf` is
    /// certain to exceed the line or block limit.
    fn check_partial(&self, buf: &BytesMut) -> Result<(), FrameError> {
        let len = buf.len();
        if len == 0 {
            return Ok(());
        }
        // A trailing CR may still turn out to be part of a CRLF ending.
        let min_content = if buf[len - 1] == b'\r' { len - 1 } else { len };
        if min_content > MAX_HEADER_LINE {
            return Err(FrameError::HeaderLineTooLong {
                limit: MAX_HEADER_LINE,
            });
        }
        // The line will count at least its bytes so far plus an LF.
        if self.block_len + len + 1 > MAX_HEADER_BLOCK {
            return Err(FrameError::HeaderBlockTooLarge {
                limit: MAX_HEADER_BLOCK,
            });
        }
        Ok(())
    }

    /// Parses one non-empty header line (without its line ending).
    fn parse_line(&mut self, line: &[u8]) {
        let colon = line.iter().position(|&b| b == b':');
        let name = colon.map(|c| trim(&line[..c])).unwrap_or_default();
        let Some(colon) = colon.filter(|_| !name.is_empty()) else {
            if self.bad_line.is_none() {
                self.bad_line = Some(FrameError::BadHeaderLine { line: quote(line) });
            }
            return;
        };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = String::from_utf8_lossy(trim(&line[colon + 1..])).into_owned();
        if name == "content-length" {
            self.note_length(&value);
        }
        self.headers.push((name, value));
    }

    /// Records one Content-Length value, detecting bad and conflicting ones.
    fn note_length(&mut self, value: &str) {
        let parsed = parse_length(value).ok_or_else(|| quote(value.as_bytes()));
        self.length = Some(match (self.length.take(), parsed) {
            (None, new) => new,
            (Some(Err(old)), _) => Err(old),
            (Some(Ok(_)), Err(new)) => Err(new),
            (Some(Ok(old)), Ok(new)) if old == new => Ok(old),
            (Some(Ok(old)), Ok(new)) => Err(format!("{old}, {new}")),
        });
    }

    /// The blank line ending a header block was consumed: decide what follows.
    fn finish_block(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, FrameError> {
        let length = match self.length.take() {
            None => return Err(FrameError::MissingContentLength),
            Some(Err(value)) => return Err(FrameError::BadContentLength { value }),
            Some(Ok(n)) => n,
        };
        self.block_len = 0;
        let bad_line = self.bad_line.take();
        let fits = usize::try_from(length).ok().filter(|&n| n <= self.max_body);

        match (bad_line, fits) {
            (Some(e), Some(_)) => {
                // Skip the body, then report once the message is consumed whole.
                self.headers.clear();
                self.state = State::Skip {
                    remaining: length,
                    report: Some(e),
                };
                Ok(None)
            }
            (bad, None) => {
                // Early report; the body is discarded as it arrives.
                self.headers.clear();
                self.state = State::Skip {
                    remaining: length,
                    report: None,
                };
                let e = bad.unwrap_or(FrameError::BodyTooLarge {
                    length,
                    limit: self.max_body,
                });
                Ok(Some(Decoded::Rejected(e)))
            }
            (None, Some(len)) => {
                if buf.len() < len {
                    buf.reserve(len - buf.len());
                }
                self.state = State::Body { len };
                Ok(None)
            }
        }
    }

    /// Bytes of header lines held for the message being read (for bound checks).
    #[cfg(test)]
    fn held_header_bytes(&self) -> usize {
        self.block_len
    }
}

/// Parses a plain non-negative decimal integer that fits a `u64`.
fn parse_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Trims spaces and tabs from both ends.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// Lossily decodes and truncates text for an error message.
fn quote(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(QUOTE_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() || head.len() < bytes.len() {
        out.push_str("...");
    }
    out
}

/// Appends one server reply in the exact GGS 1.0 form (five headers, LF endings, Content-Size = body bytes).
pub fn encode_reply(command: &str, body: &[u8], out: &mut BytesMut) {
    out.reserve(command.len() + body.len() + 96);
    out.extend_from_slice(b"Client-Command: ");
    out.extend_from_slice(command.as_bytes());
    out.extend_from_slice(b"\nClient-Encoding: text\nContent-Size: ");
    // Writing to a BytesMut cannot fail.
    let _ = write!(out, "{}", body.len());
    out.extend_from_slice(b"\nGGS-Version: 1.0\nAccept: text\n\n");
    out.extend_from_slice(body);
}

/// Appends one server reply as a connection speaking `version` gets it. GGS 1.0: exactly
/// [`encode_reply`] (the numbers beside the message are never shown). GGS 1.1: the same five
/// headers with `GGS-Version: 1.1`, then `Msg: n` when the message is numbered and `Seq: k`
/// when it carries the highest applied `Seq` (a `hello` reply), then the blank line and body.
pub fn encode_server(message: &ServerMessage, version: Version, out: &mut BytesMut) {
    let (command, body) = (&*message.command, &message.body[..]);
    if version == Version::V1_0 {
        return encode_reply(command, body, out);
    }
    out.reserve(command.len() + body.len() + 128);
    out.extend_from_slice(b"Client-Command: ");
    out.extend_from_slice(command.as_bytes());
    out.extend_from_slice(b"\nClient-Encoding: text\nContent-Size: ");
    let _ = write!(out, "{}", body.len());
    out.extend_from_slice(b"\nGGS-Version: ");
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(b"\nAccept: text\n");
    if let Some(n) = message.msg {
        let _ = writeln!(out, "Msg: {n}");
    }
    if let Some(k) = message.seq {
        let _ = writeln!(out, "Seq: {k}");
    }
    if let Some(host) = &message.next {
        let _ = writeln!(out, "Next-Host: {host}");
    }
    out.extend_from_slice(b"\n");
    out.extend_from_slice(body);
}

/// Appends one client message (headers in the given order, then `Content-Length`, blank line, body). Used by tests and clients.
///
/// `headers` should not contain a Content-Length header; it is added here.
pub fn encode_frame(headers: &[(&str, &str)], body: &[u8], out: &mut BytesMut) {
    let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 3).sum();
    out.reserve(header_bytes + body.len() + 40);
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    let _ = write!(out, "{}", body.len());
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_BODY;
    use proptest::prelude::*;

    /// Runs the decoder over `buf` until it needs more bytes or fails.
    fn drain(
        dec: &mut Decoder,
        buf: &mut BytesMut,
        out: &mut Vec<Result<Decoded, FrameError>>,
    ) -> bool {
        loop {
            match dec.decode(buf) {
                Ok(Some(d)) => out.push(Ok(d)),
                Ok(None) => return true,
                Err(e) => {
                    out.push(Err(e));
                    return false;
                }
            }
        }
    }

    /// Feeds `data` whole and returns everything decoded.
    fn decode_all(data: &[u8]) -> Vec<Result<Decoded, FrameError>> {
        decode_chunks(data, &[data.len()], DEFAULT_MAX_BODY)
    }

    /// Feeds `data` in pieces ending at the given cut offsets.
    fn decode_chunks(
        data: &[u8],
        cuts: &[usize],
        max_body: usize,
    ) -> Vec<Result<Decoded, FrameError>> {
        let mut dec = Decoder::new(max_body);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
            let cut = cut.clamp(start, data.len());
            buf.extend_from_slice(&data[start..cut]);
            start = cut;
            if !drain(&mut dec, &mut buf, &mut out) {
                break;
            }
        }
        out
    }

    fn frame(d: &Result<Decoded, FrameError>) -> &Frame {
        match d {
            Ok(Decoded::Frame(f)) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn hello_without_body() {
        let out = decode_all(b"Server-Command: hello\nContent-Length: 0\n\n");
        assert_eq!(out.len(), 1);
        let f = frame(&out[0]);
        assert_eq!(f.header("Server-Command"), Some("hello"));
        assert_eq!(f.header("server-command"), Some("hello"));
        assert_eq!(f.header("content-length"), Some("0"));
        assert!(f.body.is_empty());
        assert_eq!(
            f.headers,
            headers(&[("server-command", "hello"), ("content-length", "0")])
        );
    }

    #[test]
    fn hello_with_table() {
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let msg = format!("Server-Command: hello\nContent-Length: 36\n\n{uuid}");
        let out = decode_all(msg.as_bytes());
        assert_eq!(out.len(), 1);
        let f = frame(&out[0]);
        assert_eq!(f.header("SERVER-COMMAND"), Some("hello"));
        assert_eq!(&f.body[..], uuid.as_bytes());
    }

    #[test]
    fn define_with_token() {
        let src = "function playerCommand(p, c, a) {\n\n  GGS.sendCommand(p, c, a);\n}\n";
        let msg = format!(
            "Token: 7c9e6679-7425-40de-944b-e07fc1f90ae7\nServer-Command: define\nContent-Length: {}\n\n{src}",
            src.len()
        );
        let out = decode_all(msg.as_bytes());
        assert_eq!(out.len(), 1);
        let f = frame(&out[0]);
        assert_eq!(
            f.header("token"),
            Some("7c9e6679-7425-40de-944b-e07fc1f90ae7")
        );
        assert_eq!(f.header("server-command"), Some("define"));
        assert_eq!(&f.body[..], src.as_bytes());
    }

    #[test]
    fn game_commands() {
        let data = b"Token: abc\nGame-Command: /nick\nContent-Length: 5\n\nalice\
Game-Command: set\nContent-Type: text\nContent-Length: 13\n\n{\"x\":0,\"y\":0}";
        let out = decode_all(data);
        assert_eq!(out.len(), 2);
        let a = frame(&out[0]);
        assert_eq!(a.header("game-command"), Some("/nick"));
        assert_eq!(&a.body[..], b"alice");
        let b = frame(&out[1]);
        assert_eq!(b.header("game-command"), Some("set"));
        assert_eq!(b.header("content-type"), Some("text"));
        assert_eq!(&b.body[..], b"{\"x\":0,\"y\":0}");
        assert_eq!(b.header("token"), None);
    }

    #[test]
    fn crlf_and_trimming_and_colon_in_value() {
        let data =
            b"Game-Command:\t  say  \r\nX-Url: http://a:1/b \r\ncontent-LENGTH :  2\r\n\r\nhi";
        let out = decode_all(data);
        assert_eq!(out.len(), 1);
        let f = frame(&out[0]);
        assert_eq!(
            f.headers,
            headers(&[
                ("game-command", "say"),
                ("x-url", "http://a:1/b"),
                ("content-length", "2"),
            ])
        );
        assert_eq!(&f.body[..], b"hi");
    }

    #[test]
    fn content_length_anywhere() {
        for data in [
            &b"Content-Length: 3\nGame-Command: a\nToken: t\n\nabc"[..],
            &b"Game-Command: a\nContent-Length: 3\nToken: t\n\nabc"[..],
            &b"Game-Command: a\nToken: t\nContent-Length: 3\n\nabc"[..],
        ] {
            let out = decode_all(data);
            assert_eq!(out.len(), 1);
            let f = frame(&out[0]);
            assert_eq!(f.header("game-command"), Some("a"));
            assert_eq!(f.header("token"), Some("t"));
            assert_eq!(&f.body[..], b"abc");
        }
    }

    #[test]
    fn blank_lines_between_messages() {
        let data = b"\n\r\nGame-Command: a\nContent-Length: 1\n\nx\n\n\r\n\nGame-Command: b\nContent-Length: 1\n\ny\n";
        let out = decode_all(data);
        assert_eq!(out.len(), 2);
        assert_eq!(frame(&out[0]).header("game-command"), Some("a"));
        assert_eq!(frame(&out[1]).header("game-command"), Some("b"));
        assert_eq!(&frame(&out[1]).body[..], b"y");
    }

    #[test]
    fn body_with_header_lookalike() {
        let body = b"\n\nContent-Length: 3\n\n";
        let mut data = BytesMut::new();
        encode_frame(&[("Game-Command", "x")], body, &mut data);
        encode_frame(&[("Game-Command", "y")], b"", &mut data);
        let out = decode_all(&data);
        assert_eq!(out.len(), 2);
        assert_eq!(&frame(&out[0]).body[..], body);
        assert_eq!(frame(&out[1]).header("game-command"), Some("y"));
    }

    #[test]
    fn binary_body() {
        let body = [0u8, 0xFF, b'\n', 0, b'\r', 0xFE, b':', 0xFF];
        let mut data = BytesMut::new();
        encode_frame(&[("Game-Command", "bin")], &body, &mut data);
        let out = decode_all(&data);
        assert_eq!(out.len(), 1);
        assert_eq!(&frame(&out[0]).body[..], &body);
    }

    #[test]
    fn several_messages_in_one_buffer_and_zero_length() {
        let mut data = BytesMut::new();
        for i in 0..5 {
            let body = "z".repeat(i);
            encode_frame(&[("Game-Command", "n")], body.as_bytes(), &mut data);
        }
        let out = decode_all(&data);
        assert_eq!(out.len(), 5);
        for (i, d) in out.iter().enumerate() {
            assert_eq!(frame(d).body.len(), i);
        }
    }

    #[test]
    fn unknown_headers_are_kept() {
        let out = decode_all(b"X-Future: 1\nGame-Command: a\nX-Future: 2\nContent-Length: 0\n\n");
        let f = frame(&out[0]);
        assert_eq!(f.header("x-future"), Some("1"));
        assert_eq!(f.headers.len(), 4);
    }

    /// Three varied messages: CRLF, blank lines, binary and header-like bodies, a rejected one.
    fn varied_stream() -> Vec<u8> {
        let mut data = BytesMut::new();
        data.extend_from_slice(
            b"\r\nToken: t-1\r\nServer-Command: hello\r\nContent-Length: 0\r\n\r\n",
        );
        data.extend_from_slice(b"\n");
        data.extend_from_slice(
            b"Content-Length: 13\nGame-Command: \t chat \nContent-Type: text\n\n",
        );
        data.extend_from_slice(b"\0\xFF\n\nA: b\n\n\r\n\0");
        data.extend_from_slice(b"\n");
        data.extend_from_slice(b"Game-Command: x\nthis line is bad\nContent-Length: 4\n\nskip");
        encode_frame(&[("Game-Command", "set")], b"{\"x\":1}", &mut data);
        data.to_vec()
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        let data = varied_stream();
        let whole = decode_all(&data);
        assert_eq!(whole.len(), 4);
        assert_eq!(frame(&whole[0]).header("server-command"), Some("hello"));
        assert_eq!(frame(&whole[1]).header("game-command"), Some("chat"));
        assert_eq!(&frame(&whole[1]).body[..], b"\0\xFF\n\nA: b\n\n\r\n\0");
        assert!(matches!(
            &whole[2],
            Ok(Decoded::Rejected(FrameError::BadHeaderLine { line })) if line == "this line is bad"
        ));
        assert_eq!(&frame(&whole[3]).body[..], b"{\"x\":1}");

        for cut in 0..=data.len() {
            assert_eq!(
                decode_chunks(&data, &[cut], DEFAULT_MAX_BODY),
                whole,
                "split at {cut}"
            );
        }
        let every_byte: Vec<usize> = (1..=data.len()).collect();
        assert_eq!(decode_chunks(&data, &every_byte, DEFAULT_MAX_BODY), whole);
    }

    #[test]
    fn bad_header_line_resyncs() {
        let data = b"Game-Command: a\nno colon here\n: empty name\nContent-Length: 3\n\nabc\
Game-Command: b\nContent-Length: 2\n\nok";
        let out = decode_all(data);
        assert_eq!(out.len(), 2);
        match &out[0] {
            Ok(Decoded::Rejected(e @ FrameError::BadHeaderLine { line })) => {
                assert_eq!(line, "no colon here");
                assert_eq!(e.code(), "bad_header");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(frame(&out[1]).header("game-command"), Some("b"));
        assert_eq!(&frame(&out[1]).body[..], b"ok");
    }

    #[test]
    fn bad_header_line_is_quoted_briefly() {
        let long = "x".repeat(500);
        let data = format!("{long}\nContent-Length: 0\n\n");
        let out = decode_all(data.as_bytes());
        match &out[0] {
            Ok(Decoded::Rejected(FrameError::BadHeaderLine { line })) => {
                assert!(line.len() <= QUOTE_CHARS + 3, "{}", line.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn body_too_large_is_skipped_without_buffering() {
        let max_body = 1000;
        let big = 10 * 1024 * 1024u64;
        let mut dec = Decoder::new(max_body);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(format!("Game-Command: big\nContent-Length: {big}\n\n").as_bytes());
        let first = dec.decode(&mut buf).unwrap();
        match first {
            Some(Decoded::Rejected(e @ FrameError::BodyTooLarge { .. })) => {
                assert_eq!(
                    e,
                    FrameError::BodyTooLarge {
                        length: big,
                        limit: max_body
                    }
                );
                assert_eq!(e.code(), "body_too_large");
            }
            other => panic!("unexpected {other:?}"),
        }
        let chunk = vec![b'\n'; 4096];
        let mut sent = 0u64;
        while sent < big {
            let n = (big - sent).min(chunk.len() as u64) as usize;
            buf.extend_from_slice(&chunk[..n]);
            sent += n as u64;
            assert_eq!(dec.decode(&mut buf).unwrap(), None);
            assert!(buf.len() <= 4096, "buffer holds {}", buf.len());
        }
        assert!(buf.is_empty());
        encode_frame(&[("Game-Command", "next")], b"fine", &mut buf);
        let next = dec.decode(&mut buf).unwrap();
        match next {
            Some(Decoded::Frame(f)) => {
                assert_eq!(f.header("game-command"), Some("next"));
                assert_eq!(&f.body[..], b"fine");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn body_at_the_limit_is_accepted() {
        let mut data = BytesMut::new();
        encode_frame(&[], &[7u8; 64], &mut data);
        encode_frame(&[], &[7u8; 65], &mut data);
        encode_frame(&[], &[8u8; 1], &mut data);
        let out = decode_chunks(&data, &[], 64);
        assert_eq!(out.len(), 3);
        assert_eq!(frame(&out[0]).body.len(), 64);
        assert!(matches!(
            out[1],
            Ok(Decoded::Rejected(FrameError::BodyTooLarge {
                length: 65,
                limit: 64
            }))
        ));
        assert_eq!(&frame(&out[2]).body[..], &[8u8]);
    }

    #[test]
    fn missing_length_is_fatal() {
        let out = decode_all(b"Game-Command: a\n\nabc");
        assert_eq!(out, vec![Err(FrameError::MissingContentLength)]);
        assert_eq!(FrameError::MissingContentLength.code(), "missing_length");
    }

    #[test]
    fn bad_lengths_are_fatal() {
        for value in [
            "-5",
            "abc",
            "",
            "1e3",
            "+5",
            "3 4",
            "99999999999999999999999",
        ] {
            let data = format!("Game-Command: a\nContent-Length: {value}\n\n");
            let out = decode_all(data.as_bytes());
            match &out[..] {
                [Err(e @ FrameError::BadContentLength { .. })] => {
                    assert_eq!(e.code(), "bad_length")
                }
                other => panic!("{value:?}: unexpected {other:?}"),
            }
        }
        let out = decode_all(b"Content-Length: 1\nContent-Length: 2\n\nab");
        assert!(matches!(
            &out[..],
            [Err(FrameError::BadContentLength { .. })]
        ));
        // The same length twice is not a conflict.
        let out = decode_all(b"Content-Length: 2\ncontent-length: 02\n\nab");
        assert_eq!(&frame(&out[0]).body[..], b"ab");
    }

    #[test]
    fn failed_decoder_stays_failed() {
        let mut dec = Decoder::new(DEFAULT_MAX_BODY);
        let mut buf = BytesMut::from(&b"A: b\n\n"[..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::MissingContentLength));
        encode_frame(&[], b"", &mut buf);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::MissingContentLength));
    }

    #[test]
    fn long_header_line_fails_before_its_end() {
        let mut dec = Decoder::new(DEFAULT_MAX_BODY);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"Game-Command: ");
        let mut result = Ok(None);
        for _ in 0..MAX_HEADER_LINE {
            buf.extend_from_slice(b"x");
            result = dec.decode(&mut buf);
            if result.is_err() {
                break;
            }
        }
        let e = result.unwrap_err();
        assert_eq!(
            e,
            FrameError::HeaderLineTooLong {
                limit: MAX_HEADER_LINE
            }
        );
        assert_eq!(e.code(), "header_too_large");
        assert_eq!(buf.len(), MAX_HEADER_LINE + 1);
    }

    #[test]
    fn header_line_at_the_limit_is_accepted() {
        let value = "v".repeat(MAX_HEADER_LINE - "X-Big: ".len());
        let data = format!("X-Big: {value}\r\nContent-Length: 0\r\n\r\n");
        let bytes = data.as_bytes();
        // Cut just before the final LF of the long line: a trailing CR is not yet over the limit.
        let cut = MAX_HEADER_LINE + 1;
        let out = decode_chunks(bytes, &[cut], DEFAULT_MAX_BODY);
        assert_eq!(frame(&out[0]).header("x-big"), Some(value.as_str()));
    }

    #[test]
    fn endless_headers_fail() {
        let mut dec = Decoder::new(DEFAULT_MAX_BODY);
        let mut buf = BytesMut::new();
        let mut fed = 0usize;
        let err = loop {
            buf.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaa\n");
            fed += 30;
            match dec.decode(&mut buf) {
                Ok(None) => {}
                Ok(Some(d)) => panic!("unexpected {d:?}"),
                Err(e) => break e,
            }
            assert!(dec.held_header_bytes() <= MAX_HEADER_BLOCK);
            assert!(fed < 2 * MAX_HEADER_BLOCK, "never failed");
        };
        assert_eq!(
            err,
            FrameError::HeaderBlockTooLarge {
                limit: MAX_HEADER_BLOCK
            }
        );
        assert!(fed > MAX_HEADER_BLOCK);
    }

    #[test]
    fn endless_blank_lines_are_harmless() {
        let mut dec = Decoder::new(DEFAULT_MAX_BODY);
        let mut buf = BytesMut::new();
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'\n'; 100]);
            assert_eq!(dec.decode(&mut buf), Ok(None));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn reply_is_exact() {
        let mut out = BytesMut::new();
        encode_reply("hello", b"hello", &mut out);
        assert_eq!(
            &out[..],
            &b"Client-Command: hello\nClient-Encoding: text\nContent-Size: 5\nGGS-Version: 1.0\nAccept: text\n\nhello"[..]
        );
    }

    #[test]
    fn reply_counts_bytes() {
        let body = "héllo wörld ☃";
        let mut out = BytesMut::new();
        encode_reply("message", body.as_bytes(), &mut out);
        let expected = format!(
            "Client-Command: message\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: 1.0\nAccept: text\n\n{body}",
            body.len()
        );
        assert_eq!(body.len(), 17);
        assert_eq!(&out[..], expected.as_bytes());
        // Appends rather than overwrites.
        encode_reply("pong", b"", &mut out);
        assert!(out.ends_with(b"Content-Size: 0\nGGS-Version: 1.0\nAccept: text\n\n"));
    }

    fn numbered(command: &str, body: &str, msg: Option<u64>, seq: Option<u64>) -> ServerMessage {
        ServerMessage {
            msg,
            seq,
            ..ServerMessage::new(command, body.to_string())
        }
    }

    #[test]
    fn a_1_0_reply_is_the_2011_reply_whatever_it_carries() {
        for (msg, seq) in [
            (None, None),
            (Some(3), None),
            (None, Some(0)),
            (Some(9), Some(4)),
        ] {
            let mut out = BytesMut::new();
            encode_server(
                &numbered("hello", "hello", msg, seq),
                Version::V1_0,
                &mut out,
            );
            assert_eq!(
                &out[..],
                &b"Client-Command: hello\nClient-Encoding: text\nContent-Size: 5\nGGS-Version: 1.0\nAccept: text\n\nhello"[..]
            );
        }
    }

    #[test]
    fn a_1_1_reply_has_the_five_headers_then_its_numbers() {
        let render = |message: &ServerMessage| {
            let mut out = BytesMut::new();
            encode_server(message, Version::V1_1, &mut out);
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(
            render(&numbered("echo", "c:☃", None, None)),
            "Client-Command: echo\nClient-Encoding: text\nContent-Size: 5\nGGS-Version: 1.1\nAccept: text\n\nc:☃"
        );
        assert_eq!(
            render(&numbered("echo", "x", Some(12), None)),
            "Client-Command: echo\nClient-Encoding: text\nContent-Size: 1\nGGS-Version: 1.1\nAccept: text\nMsg: 12\n\nx"
        );
        assert_eq!(
            render(&numbered("hello", "", None, Some(0))),
            "Client-Command: hello\nClient-Encoding: text\nContent-Size: 0\nGGS-Version: 1.1\nAccept: text\nSeq: 0\n\n"
        );
        assert_eq!(
            render(&numbered("x", "", Some(1), Some(u64::MAX))),
            format!("Client-Command: x\nClient-Encoding: text\nContent-Size: 0\nGGS-Version: 1.1\nAccept: text\nMsg: 1\nSeq: {}\n\n", u64::MAX)
        );
    }

    #[test]
    fn error_messages_are_sentences() {
        let e = FrameError::BodyTooLarge {
            length: 5,
            limit: 4,
        };
        assert_eq!(
            e.to_string(),
            "the body of 5 bytes is larger than the limit of 4 bytes"
        );
        assert!(FrameError::BadHeaderLine { line: "x".into() }
            .to_string()
            .contains("\"x\""));
    }

    fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = "[A-Za-z][A-Za-z0-9-]{0,15}".prop_filter("not content-length", |n| {
            !n.eq_ignore_ascii_case("content-length")
        });
        let value = "([!-~]([ -~]{0,30}[!-~])?)?";
        proptest::collection::vec((name, value), 0..8)
    }

    proptest! {
        #[test]
        fn encoded_frames_round_trip(
            hs in header_strategy(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            cut in any::<proptest::sample::Index>(),
        ) {
            let pairs: Vec<(&str, &str)> =
                hs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut data = BytesMut::new();
            encode_frame(&pairs, &body, &mut data);
            let cut = cut.index(data.len() + 1);
            let out = decode_chunks(&data, &[cut], DEFAULT_MAX_BODY);
            prop_assert_eq!(out.len(), 1);
            let f = frame(&out[0]);
            let mut expected: Vec<(String, String)> = hs
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            expected.push(("content-length".to_string(), body.len().to_string()));
            prop_assert_eq!(&f.headers, &expected);
            prop_assert_eq!(&f.body[..], &body[..]);
        }

        #[test]
        fn the_1_1_headers_round_trip(
            versions in proptest::option::of(proptest::collection::vec(
                "[0-9]{1,2}\\.[0-9]{1,2}", 0..=crate::protocol::message::MAX_OFFERED_VERSIONS,
            )),
            ack in proptest::option::of(any::<u64>()),
            seq in proptest::option::of(1..=u64::MAX),
            spaces in "[ \t]{1,3}",
            cut in any::<proptest::sample::Index>(),
        ) {
            use crate::protocol::message::{ClientMessage, Meta};
            let list = versions.as_ref().map(|v| v.join(&spaces));
            let (ack_text, seq_text) = (ack.map(|n| n.to_string()), seq.map(|n| n.to_string()));
            let mut headers = vec![("Game-Command", "set")];
            headers.extend(list.as_deref().map(|l| ("GGS-Versions", l)));
            headers.extend(ack_text.as_deref().map(|n| ("Ack", n)));
            headers.extend(seq_text.as_deref().map(|n| ("Seq", n)));
            let mut data = BytesMut::new();
            encode_frame(&headers, b"{}", &mut data);
            let cut = cut.index(data.len() + 1);
            let out = decode_chunks(&data, &[cut], DEFAULT_MAX_BODY);
            prop_assert_eq!(out.len(), 1);
            let (message, meta) = ClientMessage::from_frame(frame(&out[0])).unwrap();
            prop_assert_eq!(
                message,
                ClientMessage::Game { command: "set".into(), args: "{}".into() }
            );
            prop_assert_eq!(meta, Meta { versions, ack, seq });
        }

        #[test]
        fn replies_in_either_version_frame_their_body(
            command in "[!-~]{1,20}",
            body in proptest::collection::vec(any::<u8>(), 0..256),
            msg in proptest::option::of(any::<u64>()),
            seq in proptest::option::of(any::<u64>()),
        ) {
            let message = ServerMessage {
                msg,
                seq,
                ..ServerMessage::new(&command, body.clone())
            };
            let mut old = BytesMut::new();
            encode_server(&message, Version::V1_0, &mut old);
            let mut exact = BytesMut::new();
            encode_reply(&command, &body, &mut exact);
            prop_assert_eq!(&old[..], &exact[..]);

            let mut new = BytesMut::new();
            encode_server(&message, Version::V1_1, &mut new);
            let end = new.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
            let head = std::str::from_utf8(&new[..end]).unwrap();
            let mut expected = format!(
                "Client-Command: {command}\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: 1.1\nAccept: text\n",
                body.len()
            );
            if let Some(n) = msg {
                expected.push_str(&format!("Msg: {n}\n"));
            }
            if let Some(k) = seq {
                expected.push_str(&format!("Seq: {k}\n"));
            }
            expected.push('\n');
            prop_assert_eq!(head, expected.as_str());
            prop_assert_eq!(&new[end..], &body[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic_nor_overbuffer(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..4096),
                proptest::collection::vec(
                    prop_oneof![
                        Just(&b"Content-Length: "[..]),
                        Just(&b"content-length:1"[..]),
                        Just(&b"X: y"[..]),
                        Just(&b"\n"[..]),
                        Just(&b"\r\n"[..]),
                        Just(&b"\r"[..]),
                        Just(&b":"[..]),
                        Just(&b"7"[..]),
                        Just(&b"0"[..]),
                        Just(&b"99"[..]),
                        Just(&b"\xFF\0"[..]),
                    ],
                    0..400,
                ).prop_map(|parts| parts.concat()),
            ],
            chunks in proptest::collection::vec(1usize..700, 1..64),
        ) {
            let max_body = 64;
            let mut dec = Decoder::new(max_body);
            let mut buf = BytesMut::new();
            let mut start = 0;
            let mut sizes = chunks.iter().cycle();
            while start < data.len() {
                let end = (start + sizes.next().copied().unwrap_or(1)).min(data.len());
                buf.extend_from_slice(&data[start..end]);
                start = end;
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Some(Decoded::Frame(f))) => {
                            prop_assert!(f.body.len() <= max_body);
                        }
                        Ok(Some(Decoded::Rejected(_))) => {}
                        Ok(None) => {
                            prop_assert!(buf.len() <= (MAX_HEADER_LINE + 1).max(max_body));
                            break;
                        }
                        Err(_) => break,
                    }
                    prop_assert!(dec.held_header_bytes() <= MAX_HEADER_BLOCK);
                }
                if matches!(dec.state, State::Failed(_)) {
                    break;
                }
            }
        }
    }

    #[test]
    fn a_next_reply_names_the_host_after_the_five_headers_in_1_1_only() {
        let next = ServerMessage::next("t-1", "a", "10.0.0.2:9000");
        let mut out = BytesMut::new();
        encode_server(&next, Version::V1_1, &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        let body = &*next.body;
        let expected = format!(
            "Client-Command: next\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: 1.1\n\
             Accept: text\nNext-Host: 10.0.0.2:9000\n\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        );
        assert_eq!(text, expected);
        let mut old = BytesMut::new();
        encode_server(&next, Version::V1_0, &mut old);
        assert!(!String::from_utf8_lossy(&old).contains("Next-Host"));
    }
}
