//! The connections of ggs-load: one driver per transport (GGS 1.0 over TCP, WebSocket JSON),
//! each split into a read half and a write half, behind one [`Reader`] and one [`Writer`].

mod tcp;
mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ggs_tests::{Reply, Request};

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

/// The write half of a connection.
pub enum Writer {
    /// GGS 1.0.
    Tcp(tcp::TcpWriter),
    /// WebSocket JSON.
    Ws(ws::WsWriter),
}

/// The read half of a connection.
pub enum Reader {
    /// GGS 1.0.
    Tcp(tcp::TcpReader),
    /// WebSocket JSON.
    Ws(ws::WsReader),
}

/// Opens one connection to `target`.
pub async fn connect(target: &Target) -> Result<(Reader, Writer)> {
    match target {
        Target::Tcp(addr) => {
            let (r, w) = tcp::connect(*addr).await?;
            Ok((Reader::Tcp(r), Writer::Tcp(w)))
        }
        Target::Ws(url) => {
            let (r, w) = ws::connect(url).await?;
            Ok((Reader::Ws(r), Writer::Ws(w)))
        }
    }
}

impl Writer {
    /// Sends messages in one write (TCP) or one flush (WebSocket).
    pub async fn send(&mut self, messages: &[Request<'_>]) -> Result<()> {
        match self {
            Writer::Tcp(w) => w.send(messages).await,
            Writer::Ws(w) => w.send(messages).await,
        }
    }
}

impl Reader {
    /// The next reply; `None` when the server closed the connection.
    pub async fn next(&mut self) -> Result<Option<Reply>> {
        match self {
            Reader::Tcp(r) => r.next().await,
            Reader::Ws(r) => r.next().await,
        }
    }

    /// Reads until a reply with this command, skipping others (notices, joins); an `error`
    /// reply fails.
    pub async fn expect(&mut self, command: &str) -> Result<String> {
        let wait = async {
            loop {
                match self.next().await? {
                    None => bail!("the server closed the connection waiting for {command}"),
                    Some(r) if r.command == command => return Ok(r.body),
                    Some(r) if r.command == "error" => bail!("waiting for {command}: {r}"),
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
