//! A real etcd for the cluster tests: Debian's `/usr/bin/etcd` (package `etcd-server`) as a
//! child process on free loopback ports with a temporary data directory, killed on drop; and
//! `etcdctl` (package `etcd-client`) to read and write its keys as an independent client.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The etcd binary, unless `$ETCD_BIN` says another.
pub const ETCD_BIN: &str = "/usr/bin/etcd";
/// The etcdctl binary, unless `$ETCDCTL_BIN` says another.
pub const ETCDCTL_BIN: &str = "/usr/bin/etcdctl";
/// How long a starting etcd may take to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running single-member etcd on loopback.
pub struct Etcd {
    child: Option<Child>,
    dir: TempDir,
    client: SocketAddr,
    peer: SocketAddr,
    runs: usize,
}

/// A free loopback port (bound, then let go: another process could take it in between, which
/// the start then reports).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    listener.local_addr().expect("its address")
}

impl Etcd {
    /// Starts etcd on fresh ports and data directory, and waits until it answers.
    pub fn start() -> Etcd {
        let dir = tempfile::Builder::new()
            .prefix("ggs-etcd-")
            .tempdir()
            .expect("creating etcd's directory");
        let mut etcd = Etcd {
            child: None,
            dir,
            client: free_port(),
            peer: free_port(),
            runs: 0,
        };
        etcd.spawn();
        etcd
    }

    /// The client URL (`http://127.0.0.1:PORT`), for `ggs serve --etcd`.
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    /// Starts a `ggs` node named `name` of the cluster on this etcd, with a lease of
    /// `lease_secs` seconds.
    pub fn start_node(&self, name: &str, lease_secs: u64) -> crate::ServerProcess {
        self.start_node_with(name, lease_secs, &[])
    }

    /// [`Etcd::start_node`] with more flags for the node.
    pub fn start_node_with(
        &self,
        name: &str,
        lease_secs: u64,
        more: &[&str],
    ) -> crate::ServerProcess {
        let lease = lease_secs.to_string();
        let url = self.url();
        let mut args = vec!["--etcd", &url, "--node", name, "--node-lease-secs", &lease];
        args.extend_from_slice(more);
        crate::ServerProcess::start_with(crate::ServerOptions::default().args(&args))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("etcd.{}.log", self.runs))
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        self.runs += 1;
        let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| ETCD_BIN.to_string());
        let log = std::fs::File::create(self.log_path()).expect("creating etcd's log");
        let client = self.url();
        let peer = format!("http://{}", self.peer);
        let child = Command::new(&bin)
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} (Debian's etcd-server; .ci/run installs it): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&self.client, Duration::from_millis(200)).is_ok()
                && self.etcdctl(&["endpoint", "health"]).status.success()
            {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!("etcd exited at start ({status}); its log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer within {START_TIMEOUT:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What etcd logged since its last start.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("(no etcd log: {e})"))
    }

    /// Kills etcd with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("etcd is not running");
        child.kill().expect("sending SIGKILL to etcd");
        child.wait().expect("waiting for the killed etcd");
    }

    /// Starts etcd again on the same ports and data directory.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    /// Runs `etcdctl` (API v3) against this etcd with `args`.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        self.etcdctl_with_input(args, None)
    }

    fn etcdctl_with_input(&self, args: &[&str], input: Option<&str>) -> Output {
        use std::io::Write;
        let bin = std::env::var("ETCDCTL_BIN").unwrap_or_else(|_| ETCDCTL_BIN.to_string());
        let mut child = Command::new(&bin)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.url()))
            .arg("--command-timeout=2s")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} (Debian's etcd-client): {e}"));
        let mut stdin = child.stdin.take().expect("piped stdin");
        if let Some(input) = input {
            stdin
                .write_all(input.as_bytes())
                .expect("writing etcdctl's input");
        }
        drop(stdin);
        child.wait_with_output().expect("waiting for etcdctl")
    }

    /// The value of `key`, if it exists.
    #[track_caller]
    pub fn get(&self, key: &str) -> Option<String> {
        let out = self.etcdctl(&["get", "--print-value-only", key]);
        assert!(
            out.status.success(),
            "etcdctl get {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let value = text.strip_suffix('\n').unwrap_or(&text);
        (!out.stdout.is_empty()).then(|| value.to_string())
    }

    /// The keys under `prefix`.
    #[track_caller]
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.etcdctl(&["get", "--prefix", "--keys-only", prefix]);
        assert!(
            out.status.success(),
            "etcdctl get --prefix {prefix}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Claims `key` for `value` as a node does: a transaction that puts it only if it was
    /// never created. True if the claim succeeded.
    #[track_caller]
    pub fn claim(&self, key: &str, value: &str) -> bool {
        let input = format!("create(\"{key}\") = \"0\"\n\nput {key} {value}\n\n\n");
        let out = self.etcdctl_with_input(&["txn"], Some(&input));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "etcdctl txn: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        match text.lines().next() {
            Some("SUCCESS") => true,
            Some("FAILURE") => false,
            other => panic!("etcdctl txn answered {other:?}: {text}"),
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- etcd log ----\n{}---- end of etcd log ----",
                self.log()
            );
        }
    }
}
