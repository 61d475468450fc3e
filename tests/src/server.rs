//! Starting, stopping and restarting the real `ggs` binary as a child process.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ggs10::Client;
use crate::line::LineClient;
use crate::ws::WsClient;

/// How long a starting server may take to print its `ggs listening` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The file in a server's data directory that holds its admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The environment variable that overrides which `ggs` binary is started.
pub const BIN_ENV: &str = "GGS_BIN";

/// The environment variable in which `cargo test` (Cargo 1.94 and later) tells an integration
/// test of `ggs-server` where the `ggs` binary it built is.
const CARGO_BIN_ENV: &str = "CARGO_BIN_EXE_ggs";

/// The `ggs` binary to start: `$GGS_BIN` if set, else `$CARGO_BIN_EXE_ggs`, else `ggs` in the
/// directory of the running executable's profile (`target/<profile>/ggs`, beside a tool such as
/// `ggs-load`, one level above a test in `target/<profile>/deps`).
///
/// Nothing is built here. The end-to-end tests in `tests/tests/` are integration tests of the
/// `ggs-server` package (see `server/Cargo.toml`), so `cargo test` builds the binary before it
/// runs them, and puts it exactly where the last two rules look; the tools need `cargo build
/// [--release] -p ggs-server` first (`bench/run` does that). Panics, saying so, if the binary
/// is missing.
pub fn ggs_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = [BIN_ENV, CARGO_BIN_ENV]
            .iter()
            .find_map(std::env::var_os)
            .map(PathBuf::from)
            .unwrap_or_else(|| profile_dir().join(format!("ggs{}", std::env::consts::EXE_SUFFIX)));
        assert!(
            bin.exists(),
            "there is no ggs binary at {}: build it with `cargo build -p ggs-server --bin ggs` \
             (add --release for target/release), or set ${BIN_ENV}",
            bin.display()
        );
        bin
    })
    .clone()
}

/// `target/<profile>` of the running executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running executable");
    let mut dir = exe
        .parent()
        .expect("the executable lives in a directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The binary; default [`ggs_binary`].
    pub bin: Option<PathBuf>,
    /// The data directory; default a fresh temporary directory owned by the server.
    pub data_dir: Option<PathBuf>,
    /// `--log-level`; default `info` (the shutdown line with the commit latency is at info).
    pub log_level: Option<String>,
    /// More arguments for `ggs serve`, e.g. `["--max-body", "1024"]`.
    pub args: Vec<String>,
    /// Environment variables for the server process.
    pub env: Vec<(String, String)>,
}

impl ServerOptions {
    /// Options whose server makes a dropped connection's player leave at once.
    ///
    /// The server may hold a dropped player's seat for a grace period (so the player can
    /// resume it) before `playerLeft` runs; tests of leave notices cannot wait for that. The
    /// grace is set through `GGS_SEAT_GRACE_MS=0`, which a server without the setting ignores.
    pub fn no_seat_grace() -> ServerOptions {
        ServerOptions {
            env: vec![("GGS_SEAT_GRACE_MS".into(), "0".into())],
            ..ServerOptions::default()
        }
    }

    /// Adds `ggs serve` arguments.
    pub fn args(mut self, args: &[&str]) -> ServerOptions {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
}

/// How a server stopped: its exit status and what it logged since its last start.
#[derive(Debug)]
pub struct Stopped {
    /// The exit status.
    pub status: ExitStatus,
    /// The server's stderr (its log) of the run that just ended.
    pub stderr: String,
}

/// A running `ggs serve` child process on ports chosen by the system.
///
/// Its stderr goes to a file in a temporary directory the value owns; a panicking test
/// prints it when the value is dropped. Dropping kills the child.
pub struct ServerProcess {
    child: Option<Child>,
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_level: String,
    data_dir: PathBuf,
    /// Holds the stderr logs and, unless a data directory was given, the data directory.
    work: TempDir,
    runs: usize,
    tcp: SocketAddr,
    http: SocketAddr,
}

impl ServerProcess {
    /// Starts a server on a fresh temporary data directory.
    pub fn start() -> ServerProcess {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server on a fresh temporary data directory with extra `ggs serve` arguments.
    pub fn start_with_args(args: &[&str]) -> ServerProcess {
        Self::start_with(ServerOptions::default().args(args))
    }

    /// Starts a server as `options` say; panics (showing its stderr) if it does not come up.
    pub fn start_with(options: ServerOptions) -> ServerProcess {
        let work = tempfile::Builder::new()
            .prefix("ggs-test-")
            .tempdir()
            .expect("creating a temporary directory");
        let data_dir = options.data_dir.unwrap_or_else(|| work.path().join("data"));
        let mut server = ServerProcess {
            child: None,
            bin: options.bin.unwrap_or_else(ggs_binary),
            args: options.args,
            env: options.env,
            log_level: options.log_level.unwrap_or_else(|| "info".to_string()),
            data_dir,
            work,
            runs: 0,
            tcp: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        server.spawn();
        server
    }

    /// The directory of the server's logs (`stderr.<run>.log`, one per start), which outlives
    /// a kill, so a failed test can show what the server said.
    pub fn log_dir(&self) -> PathBuf {
        self.work.path().to_path_buf()
    }

    fn stderr_path(&self) -> PathBuf {
        self.work.path().join(format!("stderr.{}.log", self.runs))
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        self.runs += 1;
        let stderr = File::create(self.stderr_path()).expect("creating the stderr log");
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .args(["--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--log-level", &self.log_level])
            .args(&self.args)
            // Plain logs: they are read by people in test failures and searched by tools.
            .env("NO_COLOR", "1")
            // The token is the one the server makes in its data directory, unless a test sets one.
            .env_remove("GGS_ADMIN_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ggs-stdout".into())
            .spawn(move || {
                // Report the first line, then keep draining so the server never blocks on stdout.
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let _ = tx.send(line);
                }
            })
            .expect("starting the stdout reader");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((tcp, http)) = parse_listening(&line) {
                        self.tcp = tcp;
                        self.http = http;
                        return;
                    }
                    eprintln!("ggs stdout: {line}");
                }
                Err(e) => {
                    let why = match e {
                        mpsc::RecvTimeoutError::Timeout => {
                            format!("did not print `ggs listening` within {START_TIMEOUT:?}")
                        }
                        mpsc::RecvTimeoutError::Disconnected => {
                            "closed stdout before printing `ggs listening`".to_string()
                        }
                    };
                    if let Some(mut child) = self.child.take() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    panic!(
                        "the ggs server ({}) {why}; its stderr:\n{}",
                        self.bin.display(),
                        self.stderr()
                    );
                }
            }
        }
    }

    /// The GGS 1.0 TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// The HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The data directory (kept across restarts).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The admin token the server keeps in its data directory (made at its first start).
    #[track_caller]
    pub fn admin_token(&self) -> String {
        let path = self.data_dir.join(ADMIN_TOKEN_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading the admin token {}: {e}", path.display()));
        let token = text.trim();
        assert!(!token.is_empty(), "{} is empty", path.display());
        token.to_string()
    }

    /// `method path` on the HTTP port with the server's admin token.
    #[track_caller]
    pub fn admin(&self, method: &str, path: &str, body: &str) -> crate::http::Response {
        crate::http::admin(self.http, &self.admin_token(), method, path, body)
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new GGS 1.0 client connected to the TCP port.
    pub fn connect(&self) -> Client {
        Client::connect(self.tcp)
    }

    /// A new line-mode client connected to the TCP port.
    pub fn connect_line(&self) -> LineClient {
        LineClient::connect(self.tcp)
    }

    /// A new WebSocket client connected to `/ws` on the HTTP port.
    pub fn connect_ws(&self) -> WsClient {
        WsClient::connect(self.http)
    }

    /// What the server wrote to stderr since its last start.
    pub fn stderr(&self) -> String {
        std::fs::read(self.stderr_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("(no stderr log: {e})"))
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and waits for it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the server is not running");
        child.kill().expect("sending SIGKILL to the server");
        child.wait().expect("waiting for the killed server");
    }

    /// Sends SIGTERM and waits for the server to exit (panics after [`STOP_TIMEOUT`]).
    pub fn terminate(&mut self) -> Stopped {
        let mut child = self.child.take().expect("the server is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child,
        // which has not been reaped yet, so it cannot have been reused.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM): {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            match child.try_wait().expect("waiting for the server") {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the server did not exit within {STOP_TIMEOUT:?} of SIGTERM; its stderr:\n{}",
                        self.stderr()
                    );
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        Stopped {
            status,
            stderr: self.stderr(),
        }
    }

    /// Starts the server again on the same data directory (SIGKILLing it first if it runs).
    /// The ports change.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- ggs server stderr (run {}) ----\n{}---- end of ggs server stderr ----",
                self.runs,
                self.stderr()
            );
        }
    }
}

/// Parses `ggs listening tcp=ADDR http=ADDR`.
fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.trim().strip_prefix("ggs listening ")?;
    let mut tcp = None;
    let mut http = None;
    for part in rest.split_whitespace() {
        if let Some(a) = part.strip_prefix("tcp=") {
            tcp = a.parse().ok();
        } else if let Some(a) = part.strip_prefix("http=") {
            http = a.parse().ok();
        }
    }
    Some((tcp?, http?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        let (tcp, http) =
            parse_listening("ggs listening tcp=127.0.0.1:4000 http=127.0.0.1:4001").unwrap();
        assert_eq!(tcp.port(), 4000);
        assert_eq!(http.port(), 4001);
        assert!(parse_listening("something else").is_none());
        assert!(parse_listening("ggs listening tcp=x http=127.0.0.1:1").is_none());
    }
}
