//! The GGS 1.0 wire format as a client sees it, written independently of the server's code:
//! an encoder for client messages and a strict, incremental parser of server replies, which
//! also reads GGS 1.1's replies (`GGS-Version: 1.1` and the extra headers after the five).

use std::fmt;

// The five reply headers, in their only allowed order (the first and third carry a value).
const CLIENT_COMMAND: &str = "Client-Command: ";
const CLIENT_ENCODING: &str = "Client-Encoding: text";
const CONTENT_SIZE: &str = "Content-Size: ";
const GGS_VERSION: &str = "GGS-Version: ";
const ACCEPT: &str = "Accept: text";

/// Largest reply header block accepted before the parser gives up on the stream.
pub const MAX_REPLY_HEADER: usize = 16 * 1024;

/// The protocol versions a reply may name in `GGS-Version`, oldest first.
pub const VERSIONS: [&str; 2] = ["1.0", "1.1"];

/// What a reply carries beside its command and body: the version it names and GGS 1.1's
/// extra headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyMeta {
    /// The protocol version the reply names (`GGS-Version`; on a WebSocket, the `version`
    /// field, which only some replies carry).
    pub version: Option<String>,
    /// GGS 1.1 `Msg: n`: the message's number in its seat's stream.
    pub msg: Option<u64>,
    /// GGS 1.1 `Seq: k` (on a `hello` reply): the highest command number the table applied
    /// for the seat.
    pub seq: Option<u64>,
    /// Any other extra header of a 1.1 reply, in order (e.g. `Next-Host`).
    pub other: Vec<(String, String)>,
}

/// One server reply: its `Client-Command` and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The `Client-Command` value, e.g. `hello`, `defined`, `error`, or a script's command.
    pub command: String,
    /// The body (replies are `Client-Encoding: text`, so it must be UTF-8).
    pub body: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.command, self.body)
    }
}

/// Why bytes from the server are not a well-formed GGS 1.0 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed GGS 1.0 reply: {}", self.0)
    }
}

impl std::error::Error for WireError {}

fn wire_error<T>(what: String) -> Result<T, WireError> {
    Err(WireError(what))
}

/// Shows bytes for an error message, shortened.
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

/// Checks that `bytes` could be the start of a reply (a prefix of `Client-Command: `, or
/// beginning with it): a reply must follow a reply directly, with nothing in between.
fn check_reply_start(bytes: &[u8]) -> Result<(), WireError> {
    let n = bytes.len().min(CLIENT_COMMAND.len());
    if bytes[..n] != CLIENT_COMMAND.as_bytes()[..n] {
        return wire_error(format!(
            "a reply must start with {CLIENT_COMMAND:?} but the bytes are {}",
            show(bytes)
        ));
    }
    Ok(())
}

/// Parses one reply from the front of `buf`.
///
/// Returns `Ok(None)` if more bytes are needed, `Ok(Some((reply, consumed)))` for a complete
/// reply, or an error if the bytes are not exactly
/// `Client-Command: C\nClient-Encoding: text\nContent-Size: N\nGGS-Version: 1.0\nAccept: text\n\n`
/// followed by N bytes of UTF-8 body, or the same naming `GGS-Version: 1.1` with extra
/// `Name: value` headers after the five (see [`parse_reply_meta`]). Whatever follows the body
/// must be the start of the next reply, which catches a `Content-Size` smaller than the body
/// that was sent.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, WireError> {
    Ok(parse_reply_meta(buf)?.map(|(reply, _, used)| (reply, used)))
}

/// Parses a decimal number as GGS writes them: digits only, no leading zero.
fn decimal(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// Like [`parse_reply`], with what the reply carries beside its command and body.
///
/// A `GGS-Version: 1.0` reply has exactly the five headers. A `GGS-Version: 1.1` reply may
/// have more after them, each `Name: value` and each name at most once; `Msg` and `Seq` must
/// be decimal numbers.
pub fn parse_reply_meta(buf: &[u8]) -> Result<Option<(Reply, ReplyMeta, usize)>, WireError> {
    check_reply_start(buf)?;
    // Check every complete header line as soon as it is there, so a bad reply fails at once
    // instead of leaving the reader waiting for a blank line that never comes.
    let mut command = "";
    let mut size = None;
    let mut meta = ReplyMeta::default();
    let mut pos = 0;
    for index in 0.. {
        let Some(len) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_REPLY_HEADER {
                return wire_error(format!(
                    "no end of the header block in {} bytes: {}",
                    buf.len(),
                    show(buf)
                ));
            }
            return Ok(None);
        };
        let raw = &buf[pos..pos + len];
        pos += len + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            return wire_error(format!(
                "header line {} is not UTF-8: {}",
                index + 1,
                show(raw)
            ));
        };
        let bad = |what: &str| {
            wire_error(format!(
                "header line {} must be {what}, got {line:?} (headers so far: {})",
                index + 1,
                show(&buf[..pos])
            ))
        };
        let v11 = meta.version.as_deref() == Some("1.1");
        match index {
            0 => match line.strip_prefix(CLIENT_COMMAND) {
                Some(c) if !c.is_empty() && !c.contains('\r') => command = c,
                _ => return bad("`Client-Command: <cmd>`"),
            },
            1 if line == CLIENT_ENCODING => {}
            1 => return bad(&format!("{CLIENT_ENCODING:?}")),
            2 => match line
                .strip_prefix(CONTENT_SIZE)
                .and_then(|s| decimal(s).and_then(|n| usize::try_from(n).ok()))
            {
                Some(n) => size = Some(n),
                None => return bad("`Content-Size: <decimal bytes>`"),
            },
            3 => match line.strip_prefix(GGS_VERSION) {
                Some(v) if VERSIONS.contains(&v) => meta.version = Some(v.to_string()),
                _ => return bad(&format!("`GGS-Version: <one of {VERSIONS:?}>`")),
            },
            4 if line == ACCEPT => {}
            4 => return bad(&format!("{ACCEPT:?}")),
            _ if line.is_empty() => break,
            _ if !v11 => return bad("empty: a GGS 1.0 reply has exactly five headers"),
            _ => {
                let Some((name, value)) = line.split_once(": ") else {
                    return bad("`Name: value` (an extra header of a 1.1 reply) or empty");
                };
                let known = |n: &str| name == n;
                let seen = meta.other.iter().any(|(n, _)| n == name)
                    || (known("Msg") && meta.msg.is_some())
                    || (known("Seq") && meta.seq.is_some());
                if name.is_empty()
                    || name.contains([' ', ':', '\r'])
                    || value.contains('\r')
                    || seen
                {
                    return bad("a new extra header `Name: value` (each name once)");
                }
                match name {
                    "Msg" => match decimal(value) {
                        Some(n) if n > 0 => meta.msg = Some(n),
                        _ => return bad("`Msg: <decimal number from 1>`"),
                    },
                    "Seq" => match decimal(value) {
                        Some(n) => meta.seq = Some(n),
                        None => return bad("`Seq: <decimal number>`"),
                    },
                    _ => meta.other.push((name.to_string(), value.to_string())),
                }
            }
        }
    }
    let size = size.expect("the loop only ends after the Content-Size line");
    let body_start = pos;
    let body_end = body_start + size;
    if buf.len() < body_end {
        return Ok(None);
    }
    let body = &buf[body_start..body_end];
    let Ok(body) = std::str::from_utf8(body) else {
        return wire_error(format!(
            "the body of a text reply is not UTF-8: {}",
            show(body)
        ));
    };
    check_reply_start(&buf[body_end..]).map_err(|e| {
        WireError(format!(
            "after the {size}-byte body of {command:?} ({body:?}): {} \
             (is Content-Size the body's byte length?)",
            e.0
        ))
    })?;
    Ok(Some((
        Reply {
            command: command.to_string(),
            body: body.to_string(),
        },
        meta,
        body_end,
    )))
}

/// Encodes a client message: the headers in order, then `Content-Length` (in bytes), a blank
/// line and the body, with LF line endings.
pub fn encode_message(headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + body.len());
    encode_message_into(headers, body, &mut out);
    out
}

/// Like [`encode_message`], appending to `out`.
pub fn encode_message_into(headers: &[(&str, &str)], body: &[u8], out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

/// The body of a `hello` reply: `<token>,<true|false>,<table-uuid>`. The first field is the
/// player's secret resume token, not the public player id (which `whoami` tells).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The player's resume token.
    pub token: String,
    /// Whether the table already had a game script.
    pub defined: bool,
    /// The table's id.
    pub table: String,
}

impl Hello {
    /// Parses and checks a `hello` body (the token and the table id must be hyphenated UUIDs).
    pub fn parse(body: &str) -> Result<Hello, WireError> {
        let parts: Vec<&str> = body.split(',').collect();
        let [token, defined, table] = parts[..] else {
            return wire_error(format!(
                "a hello body has three comma-separated fields: {body:?}"
            ));
        };
        let defined = match defined {
            "true" => true,
            "false" => false,
            other => {
                return wire_error(format!(
                    "hello: defined must be true or false, got {other:?} in {body:?}"
                ))
            }
        };
        for (what, id) in [("token", token), ("table id", table)] {
            if !is_uuid(id) {
                return wire_error(format!("hello: the {what} {id:?} is not a UUID"));
            }
        }
        Ok(Hello {
            token: token.to_string(),
            defined,
            table: table.to_string(),
        })
    }
}

/// Whether `s` is a hyphenated UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(cmd: &str, body: &str) -> Vec<u8> {
        format!(
            "Client-Command: {cmd}\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: 1.0\nAccept: text\n\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn parses_a_reply_in_any_split() {
        let mut data = reply("message", "héllo ☃");
        let first = data.len();
        data.extend(reply("pong", ""));
        for cut in 0..first {
            assert_eq!(parse_reply(&data[..cut]), Ok(None), "cut {cut}");
        }
        let (r, n) = parse_reply(&data).unwrap().unwrap();
        assert_eq!(r.command, "message");
        assert_eq!(r.body, "héllo ☃");
        assert_eq!(n, first);
        let (r, n) = parse_reply(&data[first..]).unwrap().unwrap();
        assert_eq!(
            (r.command.as_str(), r.body.as_str(), n),
            ("pong", "", data.len() - first)
        );
    }

    #[test]
    fn rejects_what_is_not_exact() {
        let bad = [
            "Client-Command: a\nContent-Size: 0\nClient-Encoding: text\nGGS-Version: 1.0\nAccept: text\n\n",
            "Client-Command: a\nClient-Encoding: text\nContent-Length: 0\nGGS-Version: 1.0\nAccept: text\n\n",
            "Client-Command: a\nClient-Encoding: text\nContent-Size: 0\nGGS-Version: 1.0\n\n",
            "Client-Command: a\r\nClient-Encoding: text\r\nContent-Size: 0\r\nGGS-Version: 1.0\r\nAccept: text\r\n\r\n",
            "Client-Command: \nClient-Encoding: text\nContent-Size: 0\nGGS-Version: 1.0\nAccept: text\n\n",
            "Client-Command: a\nClient-Encoding: text\nContent-Size: +1\nGGS-Version: 1.0\nAccept: text\n\nx",
            "Client-Command: a\nClient-Encoding: text\nContent-Size: 01\nGGS-Version: 1.0\nAccept: text\n\nx",
            "Client-Command: a\nClient-Encoding: text\nContent-Size: 0\nGGS-Version: 1.0\nAccept: text\nX: y\n\n",
            "Client-Command: a\nClient-Encoding: text\nContent-Size: 1\nGGS-Version: 1.0\nAccept: text\n\nxy",
            "hello",
        ];
        for b in bad {
            assert!(parse_reply(b.as_bytes()).is_err(), "accepted {b:?}");
        }
        // A Content-Size one byte short is caught by what follows it.
        let mut data = reply("a", "xy");
        data.extend(reply("b", ""));
        let short = String::from_utf8(data)
            .unwrap()
            .replace("Content-Size: 2", "Content-Size: 1");
        assert!(parse_reply(short.as_bytes()).is_err());
    }

    fn reply11(cmd: &str, extra: &str, body: &str) -> Vec<u8> {
        format!(
            "Client-Command: {cmd}\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: 1.1\nAccept: text\n{extra}\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn reads_the_extra_headers_of_a_1_1_reply() {
        let mut data = reply11("n", "Msg: 7\nNext-Host: b:1\n", "1 2");
        let first = data.len();
        data.extend(reply11("hello", "Seq: 0\n", "x"));
        for cut in 0..first {
            assert_eq!(parse_reply_meta(&data[..cut]), Ok(None), "cut {cut}");
        }
        let (r, meta, n) = parse_reply_meta(&data).unwrap().unwrap();
        assert_eq!(
            (r.command.as_str(), r.body.as_str(), n),
            ("n", "1 2", first)
        );
        assert_eq!(
            meta,
            ReplyMeta {
                version: Some("1.1".into()),
                msg: Some(7),
                seq: None,
                other: vec![("Next-Host".into(), "b:1".into())],
            }
        );
        let (_, meta, _) = parse_reply_meta(&data[first..]).unwrap().unwrap();
        assert_eq!((meta.msg, meta.seq), (None, Some(0)));
        // Five headers and nothing more is a 1.1 reply too.
        let (_, meta, _) = parse_reply_meta(&reply11("a", "", "")).unwrap().unwrap();
        assert_eq!(meta.version.as_deref(), Some("1.1"));
        let (_, meta, _) = parse_reply_meta(&reply("a", "")).unwrap().unwrap();
        assert_eq!(meta.version.as_deref(), Some("1.0"));
    }

    #[test]
    fn rejects_bad_extra_headers() {
        for extra in [
            "Msg: 0\n",
            "Msg: 01\n",
            "Msg: x\n",
            "Seq: -1\n",
            "Msg: 1\nMsg: 2\n",
            "X: 1\nX: 2\n",
            "Novalue\n",
            ": empty name\n",
            "Msg: 1\r\n",
        ] {
            let data = reply11("a", extra, "");
            assert!(parse_reply_meta(&data).is_err(), "accepted {extra:?}");
        }
        let v12 = String::from_utf8(reply11("a", "", ""))
            .unwrap()
            .replace("1.1", "1.2");
        assert!(parse_reply(v12.as_bytes()).is_err());
    }

    #[test]
    fn encodes_lengths_in_bytes() {
        assert_eq!(
            encode_message(&[("Game-Command", "say")], "☃".as_bytes()),
            "Game-Command: say\nContent-Length: 3\n\n☃".as_bytes()
        );
    }

    #[test]
    fn parses_hello() {
        let p = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let t = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let h = Hello::parse(&format!("{p},true,{t}")).unwrap();
        assert_eq!(
            (h.token.as_str(), h.defined, h.table.as_str()),
            (p, true, t)
        );
        assert!(Hello::parse(&format!("{p},yes,{t}")).is_err());
        assert!(Hello::parse(&format!("{p},false")).is_err());
        assert!(Hello::parse(&format!("x,false,{t}")).is_err());
    }
}
