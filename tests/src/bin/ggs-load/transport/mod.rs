//! The connections of ggs-load: one driver per transport (GGS 1.0 over TCP, WebSocket JSON),
//! each split into a read half and a write half, behind one [`Reader`] and one [`Writer`]. A
//! [`Writer`] speaking GGS 1.1 offers the versions on `hello`, numbers every game command
//! (`Seq`) and carries acknowledgements (`Ack`).

mod tcp;
mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ggs_tests::client::VERSIONS_1_1;
use ggs_tests::wire::ReplyMeta;
use ggs_tests::{Reply, Request, RequestMeta};

use crate::args::Protocol;

/// How long setting up one connection (connect, hello, define) may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the players connect.
#[derive(Clone, Debug)]
pub enum Target {
    /// A GGS 1.0 TCP port.
    Tcp(SocketAddr),
    /// A WebSocket URL.
    Ws(String),
}

impl Target {
    /// The target as a URL, for the report.
    pub fn describe(&self) -> String {
        match self {
            Target::Tcp(a) => format!("tcp://{a}"),
            Target::Ws(u) => u.clone(),
        }
    }

    /// The transport's name in the report.
    pub fn transport(&self) -> &'static str {
        match self {
            Target::Tcp(_) => "tcp",
            Target::Ws(_) => "ws",
        }
    }
}

/// The write half of a connection, and what GGS 1.1 adds to the messages it sends.
pub struct Writer {
    half: WriteHalf,
    /// Whether the connection speaks GGS 1.1.
    v11: bool,
    /// The `Seq` of the last game command sent (GGS 1.1).
    seq: u64,
}

/// The transport's write half.
enum WriteHalf {
    /// GGS 1.0 framing over TCP.
    Tcp(tcp::TcpWriter),
    /// WebSocket JSON.
    Ws(ws::WsWriter),
}

/// The read half of a connection, and the highest GGS 1.1 `Msg` it has read (setup included).
pub struct Reader {
    half: ReadHalf,
    highest_msg: u64,
}

/// The transport's read half.
enum ReadHalf {
    /// GGS 1.0 framing over TCP.
    Tcp(tcp::TcpReader),
    /// WebSocket JSON.
    Ws(ws::WsReader),
}

/// Opens one connection to `target`, speaking `protocol`.
pub async fn connect(target: &Target, protocol: Protocol) -> Result<(Reader, Writer)> {
    let (reader, half) = match target {
        Target::Tcp(addr) => {
            let (r, w) = tcp::connect(*addr).await?;
            (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
        }
        Target::Ws(url) => {
            let (r, w) = ws::connect(url).await?;
            (ReadHalf::Ws(r), WriteHalf::Ws(w))
        }
    };
    let writer = Writer {
        half,
        v11: protocol == Protocol::V1_1,
        seq: 0,
    };
    let reader = Reader {
        half: reader,
        highest_msg: 0,
    };
    Ok((reader, writer))
}

impl Writer {
    /// Sends messages in one write (TCP) or one flush (WebSocket); in GGS 1.1 a `hello`
    /// offers the versions and every game command is numbered.
    pub async fn send(&mut self, messages: &[Request<'_>]) -> Result<()> {
        self.send_acked(messages, None).await
    }

    /// Like [`Writer::send`]; in GGS 1.1 the last message also acknowledges `ack` (the highest
    /// `Msg` received), if given.
    pub async fn send_acked(&mut self, messages: &[Request<'_>], ack: Option<u64>) -> Result<()> {
        let mut framed = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let mut meta = RequestMeta::default();
            if self.v11 {
                if matches!(m, Request::Hello { .. }) {
                    meta.versions = VERSIONS_1_1;
                }
                if matches!(m, Request::Command(..)) {
                    self.seq += 1;
                    meta.seq = Some(self.seq);
                }
                if i + 1 == messages.len() {
                    meta.ack = ack;
                }
            }
            framed.push((*m, meta));
        }
        match &mut self.half {
            WriteHalf::Tcp(w) => w.send(&framed).await,
            WriteHalf::Ws(w) => w.send(&framed).await,
        }
    }

    /// GGS 1.1: an acknowledgement alone (`Server-Command: ack`).
    pub async fn ack(&mut self, n: u64) -> Result<()> {
        let framed = [(Request::Ack(n), RequestMeta::default())];
        match &mut self.half {
            WriteHalf::Tcp(w) => w.send(&framed).await,
            WriteHalf::Ws(w) => w.send(&framed).await,
        }
    }
}

impl Reader {
    /// The next reply and its version and GGS 1.1 fields; `None` when the server closed the
    /// connection.
    pub async fn next(&mut self) -> Result<Option<(Reply, ReplyMeta)>> {
        let next = match &mut self.half {
            ReadHalf::Tcp(r) => r.next().await,
            ReadHalf::Ws(r) => r.next().await,
        };
        if let Ok(Some((_, meta))) = &next {
            self.highest_msg = self.highest_msg.max(meta.msg.unwrap_or(0));
        }
        next
    }

    /// The highest GGS 1.1 `Msg` read so far.
    pub fn highest_msg(&self) -> u64 {
        self.highest_msg
    }

    /// Reads until a reply with this command, skipping others (notices, joins); an `error`
    /// reply fails.
    pub async fn expect(&mut self, command: &str) -> Result<String> {
        Ok(self.expect_meta(command).await?.0)
    }

    /// Like [`Reader::expect`], with the reply's version and GGS 1.1 fields.
    pub async fn expect_meta(&mut self, command: &str) -> Result<(String, ReplyMeta)> {
        let wait = async {
            loop {
                match self.next().await? {
                    None => bail!("the server closed the connection waiting for {command}"),
                    Some((r, meta)) if r.command == command => return Ok((r.body, meta)),
                    Some((r, _)) if r.command == "error" => bail!("waiting for {command}: {r}"),
                    Some(_) => {}
                }
            }
        };
        tokio::time::timeout(SETUP_TIMEOUT, wait)
            .await
            .with_context(|| format!("no {command} within {SETUP_TIMEOUT:?}"))?
    }
}

/// `hello`: create a table (`None`) or join one.
pub fn hello(table: Option<&str>) -> Request<'_> {
    Request::Hello { table, token: None }
}
