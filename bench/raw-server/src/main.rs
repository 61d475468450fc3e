//! ggs-raw: the benchmark's raw baseline, a minimal GGS 1.0 server with no JavaScript and no
//! store, to show what this machine's network stack and tokio can do with the same framing.
//!
//! `hello` with an empty body creates a table (a list of connections in a `HashMap`), `hello`
//! with a table id joins it; `define` is accepted and answered `defined ok` to the table (the
//! source is ignored); a game command is broadcast to everyone at the table as a reply whose
//! `Client-Command` is the command and whose body is the arguments. Like ggs, each connection
//! has a reader loop and a writer task that drains an outbound queue, batching what is queued
//! into one write. Unlike ggs there is no script, no storage, no fsync and no limit.
//!
//! Usage: `ggs-raw [--tcp ADDR]` (default `127.0.0.1:0`); prints
//! `ggs-raw listening tcp=ADDR` when ready and runs until killed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A connection's outbound queue: encoded replies, shared between recipients.
type Outbox = mpsc::UnboundedSender<Bytes>;

/// One table: whether `define` was seen, and who sits at it.
struct Table {
    id: String,
    seats: Mutex<Seats>,
}

#[derive(Default)]
struct Seats {
    defined: bool,
    members: Vec<(u64, Outbox)>,
}

impl Table {
    /// Sends one encoded reply to everyone at the table.
    fn broadcast(&self, reply: Bytes) {
        let seats = self
            .seats
            .lock()
            .expect("no panics while holding the seats");
        for (_, outbox) in &seats.members {
            let _ = outbox.send(reply.clone());
        }
    }

    fn leave(&self, conn: u64) {
        let mut seats = self
            .seats
            .lock()
            .expect("no panics while holding the seats");
        seats.members.retain(|(id, _)| *id != conn);
    }
}

type Lobby = Arc<Mutex<HashMap<String, Arc<Table>>>>;

/// One client message: its command header and its body.
struct Frame {
    server_command: Option<String>,
    game_command: Option<String>,
    body: Bytes,
}

/// Why the stream cannot go on.
struct Fatal(&'static str);

/// Takes one complete message off the front of `buf`, if there is one.
fn parse(buf: &mut BytesMut) -> Result<Option<Frame>, Fatal> {
    // Blank lines between messages are skipped.
    while buf.first().is_some_and(|&b| b == b'\n' || b == b'\r') {
        buf.advance(1);
    }
    let mut pos = 0;
    let mut frame = Frame {
        server_command: None,
        game_command: None,
        body: Bytes::new(),
    };
    let mut length = None;
    loop {
        let Some(end) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() > 64 * 1024 {
                return Err(Fatal("header_too_large"));
            }
            return Ok(None);
        };
        let line = &buf[pos..pos + end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += end + 1;
        if line.is_empty() {
            break;
        }
        let line = std::str::from_utf8(line).map_err(|_| Fatal("bad_header"))?;
        let Some((name, value)) = line.split_once(':') else {
            return Err(Fatal("bad_header"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "server-command" => frame.server_command = Some(value.to_string()),
            "game-command" => frame.game_command = Some(value.to_string()),
            "content-length" => {
                length = Some(value.parse::<usize>().map_err(|_| Fatal("bad_length"))?)
            }
            _ => {}
        }
    }
    let length = length.ok_or(Fatal("missing_length"))?;
    if buf.len() < pos + length {
        return Ok(None);
    }
    buf.advance(pos);
    frame.body = buf.split_to(length).freeze();
    Ok(Some(frame))
}

/// Encodes a reply with the five GGS 1.0 headers.
fn reply(command: &str, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(96 + command.len() + body.len());
    let _ = write!(
        out,
        "Client-Command: {command}\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: 1.0\nAccept: text\n\n",
        body.len()
    );
    out.extend_from_slice(body);
    Bytes::from(out)
}

async fn connection(stream: TcpStream, conn: u64, lobby: Lobby) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (outbox, mut queue) = mpsc::unbounded_channel::<Bytes>();
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(64 * 1024);
        while let Some(first) = queue.recv().await {
            batch.extend_from_slice(&first);
            while batch.len() < 256 * 1024 {
                match queue.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if writer.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
    });
    let player = uuid::Uuid::new_v4().to_string();
    let mut table: Option<Arc<Table>> = None;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    'read: loop {
        loop {
            let frame = match parse(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(Fatal(code)) => {
                    let _ = outbox.send(reply("error", code.as_bytes()));
                    break 'read;
                }
            };
            match (frame.server_command.as_deref(), frame.game_command) {
                (Some("hello"), None) => {
                    let wanted = String::from_utf8_lossy(&frame.body).trim().to_string();
                    let joined = {
                        let mut tables = lobby.lock().expect("no panics holding the lobby");
                        if wanted.is_empty() {
                            let id = uuid::Uuid::new_v4().to_string();
                            let t = Arc::new(Table {
                                id: id.clone(),
                                seats: Mutex::default(),
                            });
                            tables.insert(id, t.clone());
                            Some(t)
                        } else {
                            tables.get(&wanted).cloned()
                        }
                    };
                    let Some(joined) = joined else {
                        let _ = outbox.send(reply("error", b"no_such_table"));
                        continue;
                    };
                    if let Some(old) = table.take() {
                        old.leave(conn);
                    }
                    let defined = {
                        let mut seats = joined.seats.lock().expect("no panics holding seats");
                        seats.members.push((conn, outbox.clone()));
                        seats.defined
                    };
                    let body = format!("{player},{defined},{}", joined.id);
                    let _ = outbox.send(reply("hello", body.as_bytes()));
                    table = Some(joined);
                }
                (Some("define"), None) => match &table {
                    Some(t) => {
                        t.seats.lock().expect("no panics holding seats").defined = true;
                        t.broadcast(reply("defined", b"ok"));
                    }
                    None => {
                        let _ = outbox.send(reply("error", b"not_seated"));
                    }
                },
                (Some(_), None) => {
                    let _ = outbox.send(reply("error", b"unknown_command"));
                }
                (None, Some(command)) => match &table {
                    Some(t) => t.broadcast(reply(&command, &frame.body)),
                    None => {
                        let _ = outbox.send(reply("error", b"not_seated"));
                    }
                },
                _ => {
                    let _ = outbox.send(reply("error", b"missing_command"));
                }
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if let Some(t) = table {
        t.leave(conn);
    }
    drop(outbox);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_string();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--tcp", Some(a)) => addr = a,
            _ => {
                eprintln!("usage: ggs-raw [--tcp ADDR]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr).await?;
    println!("ggs-raw listening tcp={}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let lobby: Lobby = Arc::default();
    let next = AtomicU64::new(1);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("ggs-raw: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let conn = next.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(stream, conn, lobby.clone()));
    }
}
