//! One HTTP helper for the tests, on `ureq`: a request to the server's HTTP port over a fresh
//! connection, with any headers (`Host` too: a given one replaces the address's), answered with
//! its status, headers and body whatever the status is. Admin requests carry the server's token
//! ([`admin`], [`bearer`]).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// How long one request may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A response: status, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers (names in lower case), in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (after any chunked transfer encoding is undone).
    pub body: String,
}

impl Response {
    /// The value of a header, if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Type` header, empty if none.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The body as JSON; panics if it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The body as JSON, `Null` when it is not JSON.
    pub fn json_or_null(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `method path` on the HTTP port at `addr`, with `body` (sent as `text/javascript`, the type
/// of game uploads) unless the method is `GET`. Panics if there is no HTTP answer.
#[track_caller]
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    send(addr, method, path, &[], body)
}

/// `method path` with the server's admin token (`Authorization: Bearer <token>`).
#[track_caller]
pub fn admin(addr: SocketAddr, token: &str, method: &str, path: &str, body: &str) -> Response {
    let bearer = bearer(token);
    send(addr, method, path, &[("Authorization", &bearer)], body)
}

/// The `Authorization` header value that carries `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `method path` with `headers` (a `Host` among them replaces the one of `addr`) and `body`
/// (as `text/javascript`) unless the method is `GET`, `HEAD` or `OPTIONS`. Panics if there is
/// no HTTP answer.
#[track_caller]
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    try_send(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// [`send`], with no answer (the server died, the connection broke) as the error's sentence.
pub fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Response, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect is an answer to check (a node of a cluster sends a request about a
        // table it does not serve to the owner), not one to follow.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into();
    let url = format!("http://{addr}{path}");
    let mut builder = ureq::http::Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let answer = if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        let request = builder
            .body(())
            .unwrap_or_else(|e| panic!("building {method} {url}: {e}"));
        agent.run(request)
    } else {
        let request = builder
            .header("Content-Type", "text/javascript")
            .body(body.as_bytes())
            .unwrap_or_else(|e| panic!("building {method} {url}: {e}"));
        agent.run(request)
    };
    let mut response = answer.map_err(|e| format!("{method} {url}: {e}"))?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
    Ok(Response {
        status: response.status().as_u16(),
        headers,
        body,
    })
}

/// `GET path` on the HTTP port at `addr`.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, "")
}

/// The names of the catalogue's games, in its order, from `GET {prefix}/api/games` (`prefix`
/// is where the application nested the server's routes; empty at the root).
#[track_caller]
pub fn game_names(addr: SocketAddr, prefix: &str) -> Vec<String> {
    let response = get(addr, &format!("{prefix}/api/games"));
    assert_eq!(response.status, 200, "{}", response.body);
    let games = response.json();
    games
        .as_array()
        .expect("a list")
        .iter()
        .map(|g| g["name"].as_str().expect("a name").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Serves one chunked answer and returns the request line it was asked with.
    fn serve_once(listener: TcpListener) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a connection");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            reader.read_line(&mut first).expect("the request line");
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a header line");
                if line == "\r\n" {
                    break;
                }
            }
            let mut stream = stream;
            stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                      Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
                )
                .expect("the answer");
            first
        })
    }

    #[test]
    fn sends_the_path_as_it_is_and_reads_a_chunked_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("its address");
        let server = serve_once(listener);
        let response = get(addr, "/../Cargo.toml");
        assert_eq!(server.join().unwrap(), "GET /../Cargo.toml HTTP/1.1\r\n");
        assert_eq!(response.status, 404);
        assert_eq!(response.content_type(), "application/json");
        assert_eq!(response.json(), serde_json::json!({"a": 1}));
    }

    /// Serves one answer and returns the request's header lines.
    fn headers_of_one(listener: TcpListener) -> std::thread::JoinHandle<Vec<String>> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a connection");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a header line");
                if line == "\r\n" {
                    break;
                }
                lines.push(line.trim_end().to_ascii_lowercase());
            }
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .expect("the answer");
            lines
        })
    }

    #[test]
    fn a_given_host_replaces_the_addresss_and_the_token_is_a_bearer() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("its address");
        let server = headers_of_one(listener);
        let response = send(addr, "OPTIONS", "/x", &[("Host", "evil.example")], "");
        assert_eq!(response.status, 204);
        let lines = server.join().unwrap();
        assert!(
            lines.contains(&"host: evil.example".to_string()),
            "{lines:?}"
        );
        assert_eq!(lines.iter().filter(|l| l.starts_with("host:")).count(), 1);

        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("its address");
        let server = headers_of_one(listener);
        admin(addr, "t0ken", "POST", "/stop", "");
        let lines = server.join().unwrap();
        assert!(
            lines.contains(&"authorization: bearer t0ken".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&format!("host: {addr}")), "{lines:?}");
    }
}
