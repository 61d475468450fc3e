//! The WebSocket driver of ggs-load: the test support's JSON encoding and reply parser over
//! tokio-tungstenite.

use anyhow::{Context, Result};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use ggs_tests::client::ReplyFraming;
use ggs_tests::wire::ReplyMeta;
use ggs_tests::ws::{parse_reply_meta, Ws};
use ggs_tests::{Reply, Request, RequestMeta};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The port of a `ws://` URL that names none.
const DEFAULT_PORT: u16 = 80;

type Stream = WebSocketStream<TcpStream>;

/// The write half: one text message per client message, flushed together.
pub struct WsWriter(SplitSink<Stream, Message>);

/// The read half.
pub struct WsReader(SplitStream<Stream>);

/// Connects (with `TCP_NODELAY`) and does the WebSocket handshake.
pub async fn connect(url: &str) -> Result<(WsReader, WsWriter)> {
    let uri: Uri = url.parse()?;
    let host = uri.host().context("a ws URL names a host")?;
    let port = uri.port_u16().unwrap_or(DEFAULT_PORT);
    let stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {url}"))?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .with_context(|| format!("WebSocket handshake with {url}"))?;
    let (w, r) = ws.split();
    Ok((WsReader(r), WsWriter(w)))
}

impl WsWriter {
    /// Sends messages, each with its GGS 1.1 fields, with one flush.
    pub async fn send(&mut self, messages: &[(Request<'_>, RequestMeta<'_>)]) -> Result<()> {
        for (m, meta) in messages {
            let text = String::from_utf8(Ws::encode_meta(m, meta)).expect("JSON is UTF-8");
            self.0.feed(Message::text(text)).await.context("writing")?;
        }
        self.0.flush().await.context("writing")?;
        Ok(())
    }
}

impl WsReader {
    /// The next reply and its version and GGS 1.1 fields; `None` when the server closed the
    /// connection.
    pub async fn next(&mut self) -> Result<Option<(Reply, ReplyMeta)>> {
        loop {
            let Some(msg) = self.0.next().await else {
                return Ok(None);
            };
            let text = match msg.context("reading")? {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8(b.to_vec())?,
                Message::Close(_) => return Ok(None),
                _ => continue,
            };
            let (reply, _, meta) = parse_reply_meta(&text)?;
            return Ok(Some((reply, meta)));
        }
    }
}
