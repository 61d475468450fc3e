//! Who may use the HTTP port for what: the Host allowlist (against DNS rebinding), the Origin
//! checks (no page of another origin changes the server; WebSockets only from allowed
//! origins), and the admin token (made at first start, kept in the data directory, compared in
//! constant time). Pure decisions on header values; [`super::http`] applies them.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::protocol::token::same_secret;

/// The file in the data directory that holds the admin token.
pub const TOKEN_FILE: &str = "admin-token";
/// Random bytes in a generated admin token (written as twice as many hex digits).
pub const TOKEN_BYTES: usize = 32;
/// The permissions of the token file: readable and writable by its owner only.
pub const TOKEN_FILE_MODE: u32 = 0o600;
/// The value of `--allowed-hosts` or `--allowed-origins` that allows any.
pub const ANY: &str = "*";
/// The host name the server always answers to (IP addresses are always allowed too).
pub const LOCALHOST: &str = "localhost";

/// Why a request was refused. Each has a stable code, an HTTP status and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The `Host` header names a host the server does not answer to (DNS rebinding).
    BadHost(String),
    /// A page of another origin (`Origin`, or `Sec-Fetch-Site`) asked for a change.
    CrossOrigin(String),
    /// A page of an origin not in `--allowed-origins` opened a WebSocket.
    CrossOriginSocket(String),
    /// An admin request without `Authorization: Bearer <token>`.
    TokenRequired,
    /// An admin request with a token that is not the server's.
    BadToken,
}

impl Refusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadHost(_) => "bad_host",
            Refusal::CrossOrigin(_) | Refusal::CrossOriginSocket(_) => "cross_origin",
            Refusal::TokenRequired => "admin_token_required",
            Refusal::BadToken => "bad_admin_token",
        }
    }

    /// The HTTP status: 401 when the right token would do, 403 when nothing would.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::TokenRequired | Refusal::BadToken => 401,
            _ => 403,
        }
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            Refusal::BadHost(host) => format!(
                "this server does not answer to the host {host:?}; if that is one of its names, \
                 add it to --allowed-hosts (GGS_ALLOWED_HOSTS)"
            ),
            Refusal::CrossOrigin(origin) => {
                format!("a page of another origin ({origin}) may not change this server")
            }
            Refusal::CrossOriginSocket(origin) => format!(
                "a page of {origin} may not connect here; the server's --allowed-origins \
                 (GGS_ALLOWED_ORIGINS) names the sites that may"
            ),
            Refusal::TokenRequired => format!(
                "this needs Authorization: Bearer <the admin token>; it is in \
                 <data dir>/{TOKEN_FILE} on the server's machine, where `ggs upload` and \
                 `ggs stop-table` read it"
            ),
            Refusal::BadToken => "that is not the server's admin token".to_string(),
        }
    }
}

/// The server's access rules for its HTTP port.
#[derive(Debug, Clone)]
pub struct Access {
    token: String,
    /// Lower-case host names besides `localhost`; empty with `any_host`.
    hosts: Vec<String>,
    any_host: bool,
    /// Lower-case origins (`scheme://host[:port]`) besides the server's own.
    origins: Vec<String>,
    any_origin: bool,
}

impl Access {
    /// Rules with this admin token, the host names besides `localhost` and IP addresses, and
    /// the origins besides the server's own whose pages may open WebSockets (`*`: any).
    pub fn new(token: String, allowed_hosts: &[String], allowed_origins: &[String]) -> Access {
        let clean = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|h| h.trim().trim_end_matches(['.', '/']).to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        };
        let hosts = clean(allowed_hosts);
        let origins = clean(allowed_origins);
        Access {
            token,
            any_host: hosts.iter().any(|h| h == ANY),
            hosts,
            any_origin: origins.iter().any(|o| o == ANY),
            origins,
        }
    }

    /// Every request: its `Host` (header or URI authority) must be an IP address, `localhost`
    /// or an allowed name. A request without a host is not a browser's, and passes.
    pub fn check_host(&self, host: Option<&str>) -> Result<(), Refusal> {
        let Some(host) = host else { return Ok(()) };
        if self.any_host {
            return Ok(());
        }
        let name = host_name(host);
        if name.parse::<IpAddr>().is_ok() || name == LOCALHOST || self.hosts.contains(&name) {
            Ok(())
        } else {
            Err(Refusal::BadHost(host.to_string()))
        }
    }

    /// A request that may change the server (any method but GET, HEAD and OPTIONS): refused
    /// when `Sec-Fetch-Site` says another site or origin sent it, or when it has an `Origin`
    /// that is not the server's own (the origin whose authority is the request's `Host`).
    pub fn check_change(
        &self,
        host: Option<&str>,
        origin: Option<&str>,
        fetch_site: Option<&str>,
    ) -> Result<(), Refusal> {
        if let Some(site) = fetch_site {
            if !matches!(site.trim(), "same-origin" | "none") {
                return Err(Refusal::CrossOrigin(
                    origin.unwrap_or("Sec-Fetch-Site: cross-site").to_string(),
                ));
            }
        }
        match origin {
            Some(origin) if !same_origin(origin, host) => {
                Err(Refusal::CrossOrigin(origin.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// A WebSocket handshake: refused when it has an `Origin` that is neither the server's own
    /// nor an allowed one. Clients that are not browsers send none, and pass.
    pub fn check_websocket(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), Refusal> {
        let Some(origin) = origin else { return Ok(()) };
        let normal = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if same_origin(origin, host) || self.any_origin || self.origins.contains(&normal) {
            Ok(())
        } else {
            Err(Refusal::CrossOriginSocket(origin.to_string()))
        }
    }

    /// An admin request: its `Authorization` header must be `Bearer <the admin token>`.
    pub fn check_token(&self, authorization: Option<&str>) -> Result<(), Refusal> {
        let Some(value) = authorization else {
            return Err(Refusal::TokenRequired);
        };
        let offered = match value.trim().split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Err(Refusal::TokenRequired),
        };
        if same_secret(offered.as_bytes(), self.token.as_bytes()) {
            Ok(())
        } else {
            Err(Refusal::BadToken)
        }
    }
}

/// The host part of a `Host` value, lower case, without port, brackets or a final dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.parse::<IpAddr>().is_ok() {
        host
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `origin` (`scheme://host[:port]`) is the server's own as reached through `host`:
/// the same authority. `null` and other schemes never are.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let origin = origin.trim();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.trim_end_matches('/').eq_ignore_ascii_case(host.trim()))
}

/// Where the server's admin token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Made now, at the first start on this data directory, and written to the file.
    Generated(PathBuf),
    /// Read from the file an earlier start wrote.
    File(PathBuf),
    /// Set by `--admin-token` / `GGS_ADMIN_TOKEN` (the file is neither read nor written).
    Setting,
}

/// Why the admin token could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("admin token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("admin token file {0} is empty; delete it to have a new token made")]
    Empty(PathBuf),
    /// The system's random source failed.
    #[error("cannot make an admin token: {0}")]
    Random(String),
}

/// The token file of a data directory.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// The token kept in `data_dir`, if there is one (for the local command line client too).
pub fn read_token(data_dir: &Path) -> Result<Option<String>, TokenError> {
    let path = token_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim() {
            "" => Err(TokenError::Empty(path)),
            token => Ok(Some(token.to_string())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenError::Io { path, source }),
    }
}

/// The server's admin token: `setting` if given, else the one in `data_dir`, else a new one
/// ([`TOKEN_BYTES`] random bytes in hex) written there with mode [`TOKEN_FILE_MODE`].
pub fn load_or_create(
    data_dir: &Path,
    setting: Option<String>,
) -> Result<(String, TokenSource), TokenError> {
    if let Some(token) = setting {
        return Ok((token, TokenSource::Setting));
    }
    let path = token_path(data_dir);
    if let Some(token) = read_token(data_dir)? {
        keep_private(&path).map_err(|source| TokenError::Io {
            path: path.clone(),
            source,
        })?;
        return Ok((token, TokenSource::File(path)));
    }
    let token = new_token()?;
    write_token(&path, &token).map_err(|source| TokenError::Io {
        path: path.clone(),
        source,
    })?;
    Ok((token, TokenSource::Generated(path)))
}

/// Takes away the access of others than its owner to a token file that has it (copied or
/// restored with other permissions), saying so.
fn keep_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the admin token file was readable by others ({:o}); it is now {TOKEN_FILE_MODE:o}",
                mode & 0o777
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(TOKEN_FILE_MODE))?;
        }
    }
    Ok(())
}

/// [`TOKEN_BYTES`] bytes from the system's random source, in lower-case hex.
fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the token beside its final place with owner-only permissions from the start, then
/// renames it there, so the file is never seen half written or readable by others.
fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(TOKEN_FILE_MODE);
    }
    let mut file = options.open(&partial)?;
    file.write_all(format!("{token}\n").as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(hosts: &[&str], origins: &[&str]) -> Access {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Access::new("s3cret".into(), &list(hosts), &list(origins))
    }

    #[test]
    fn hosts_are_ip_addresses_localhost_or_allowed_names() {
        let a = access(&["Games.Example.com"], &[]);
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[::1]",
            "::1",
            "192.0.2.7",
            "games.example.com:443",
            "games.example.com",
        ] {
            assert_eq!(a.check_host(Some(ok)), Ok(()), "{ok}");
        }
        assert_eq!(a.check_host(None), Ok(()));
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "example.com",
        ] {
            assert_eq!(
                a.check_host(Some(bad)),
                Err(Refusal::BadHost(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(access(&["*"], &[]).check_host(Some("evil.example")), Ok(()));
    }

    #[test]
    fn changes_come_only_from_the_servers_own_pages_or_no_page() {
        let a = access(&[], &["https://games.example.com"]);
        let host = Some("127.0.0.1:8080");
        assert_eq!(a.check_change(host, None, None), Ok(()));
        assert_eq!(
            a.check_change(host, Some("http://127.0.0.1:8080"), None),
            Ok(())
        );
        assert_eq!(
            a.check_change(host, Some("http://127.0.0.1:8080"), Some("same-origin")),
            Ok(())
        );
        assert_eq!(a.check_change(host, None, Some("none")), Ok(()));
        for (origin, site) in [
            (Some("http://evil.example"), None),
            (Some("null"), None),
            (Some("http://127.0.0.1:8081"), None),
            (Some("https://games.example.com"), None),
            (None, Some("cross-site")),
            (None, Some("same-site")),
            (Some("http://127.0.0.1:8080"), Some("cross-site")),
        ] {
            let refused = a.check_change(host, origin, site);
            assert!(
                matches!(refused, Err(Refusal::CrossOrigin(_))),
                "{origin:?} {site:?}: {refused:?}"
            );
        }
        assert!(a.check_change(None, Some("http://x"), None).is_err());
    }

    #[test]
    fn websockets_from_the_servers_pages_allowed_origins_or_no_page() {
        let a = access(&[], &["https://Games.example.com/"]);
        let host = Some("localhost:8080");
        assert_eq!(a.check_websocket(host, None), Ok(()));
        assert_eq!(
            a.check_websocket(host, Some("http://localhost:8080")),
            Ok(())
        );
        assert_eq!(
            a.check_websocket(host, Some("https://games.example.com")),
            Ok(())
        );
        assert_eq!(
            a.check_websocket(host, Some("http://evil.example")),
            Err(Refusal::CrossOriginSocket("http://evil.example".into()))
        );
        assert_eq!(
            access(&[], &["*"]).check_websocket(host, Some("http://evil.example")),
            Ok(())
        );
    }

    #[test]
    fn admin_requests_need_the_token() {
        let a = access(&[], &[]);
        assert_eq!(a.check_token(Some("Bearer s3cret")), Ok(()));
        assert_eq!(a.check_token(Some("bearer  s3cret ")), Ok(()));
        assert_eq!(a.check_token(None), Err(Refusal::TokenRequired));
        assert_eq!(a.check_token(Some("s3cret")), Err(Refusal::TokenRequired));
        assert_eq!(
            a.check_token(Some("Basic s3cret")),
            Err(Refusal::TokenRequired)
        );
        assert_eq!(a.check_token(Some("Bearer ")), Err(Refusal::TokenRequired));
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer S3CRET",
            "Bearer s3cret x",
        ] {
            assert_eq!(
                a.check_token(Some(wrong)),
                Err(Refusal::BadToken),
                "{wrong}"
            );
        }
    }

    #[test]
    fn the_token_is_made_once_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (token, source) = load_or_create(dir.path(), None).unwrap();
        assert_eq!(source, TokenSource::Generated(token_path(dir.path())));
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(token_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, TOKEN_FILE_MODE);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = token_path(dir.path());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            load_or_create(dir.path(), None).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                TOKEN_FILE_MODE,
                "a token readable by others is made private"
            );
        }
        let (again, source) = load_or_create(dir.path(), None).unwrap();
        assert_eq!(
            (again, source),
            (token.clone(), TokenSource::File(token_path(dir.path())))
        );
        let (set, source) = load_or_create(dir.path(), Some("mine".into())).unwrap();
        assert_eq!((set.as_str(), source), ("mine", TokenSource::Setting));
        assert_eq!(read_token(dir.path()).unwrap(), Some(token.clone()));
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path(), None).unwrap().0, token);
        std::fs::write(token_path(other.path()), "\n").unwrap();
        assert!(matches!(
            read_token(other.path()),
            Err(TokenError::Empty(_))
        ));
    }
}
