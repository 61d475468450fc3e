//! Who may connect and join: the application's auth hook ([`Authenticate`]), what it is
//! asked ([`AuthRequest`]) and what it answers (an [`Identity`] or an [`AuthRefusal`]).
//!
//! The hook is called at the WebSocket upgrade of `/ws` (with the upgrade's headers, so a
//! session cookie can be checked) and at every `hello`, whatever the transport (with the
//! connection's upgrade headers, the hello's credential, the table and the game). Without a
//! hook every player is anonymous. A leaf: it imports nothing of the server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// Longest user id an identity may have, in bytes: a longer one is refused (`unauthorized`,
/// and an error in the log), never cut, since two cut ids could name one account.
pub const MAX_USER_ID: usize = 128;
/// Longest display name, in bytes: a longer one is cut to this length (at a character
/// boundary).
pub const MAX_DISPLAY_NAME: usize = 64;
/// Longest credential a `hello` may carry (`Auth` header, `"auth"` field, `/auth`), in bytes:
/// a longer one is refused with `unauthorized` without asking the hook.
pub const MAX_CREDENTIAL: usize = 4096;
/// Longest time the hook may take to answer: past it, the upgrade or the `hello` is refused
/// with `unauthorized`.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Who a player is, as the application says: its account's id and a name to show. Scripts
/// read it with `GGS.playerInfo(player)`; it is kept with the seat (so it survives restarts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The application's id of the account (1 to [`MAX_USER_ID`] bytes).
    pub user_id: String,
    /// The name to show (at most [`MAX_DISPLAY_NAME`] bytes are kept).
    pub name: String,
}

impl Identity {
    /// An identity of account `user_id`, shown as `name`.
    pub fn new(user_id: impl Into<String>, name: impl Into<String>) -> Identity {
        Identity {
            user_id: user_id.into(),
            name: name.into(),
        }
    }

    /// The identity as the server keeps it: the name cut to [`MAX_DISPLAY_NAME`] bytes; `Err`
    /// with why for an empty or over-long user id.
    pub(crate) fn bounded(mut self) -> Result<Identity, String> {
        if self.user_id.is_empty() {
            return Err("the auth hook gave an identity with an empty user id".into());
        }
        if self.user_id.len() > MAX_USER_ID {
            return Err(format!(
                "the auth hook gave a user id of {} bytes (at most {MAX_USER_ID})",
                self.user_id.len()
            ));
        }
        if self.name.len() > MAX_DISPLAY_NAME {
            let mut end = MAX_DISPLAY_NAME;
            while !self.name.is_char_boundary(end) {
                end -= 1;
            }
            self.name.truncate(end);
        }
        Ok(self)
    }
}

/// The hook's "no": the sentence the client is told, after the code `unauthorized`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRefusal {
    /// Why, for the client (e.g. "log in first").
    pub reason: String,
}

impl AuthRefusal {
    /// A refusal saying `reason`.
    pub fn new(reason: impl Into<String>) -> AuthRefusal {
        AuthRefusal {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for AuthRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// When the hook is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStage {
    /// At the WebSocket upgrade of `/ws`: a refusal answers `401` and no WebSocket opens.
    Upgrade,
    /// At a `hello`: a refusal answers `error unauthorized <reason>` and nothing changes.
    Hello,
}

/// What the hook is asked to decide.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// At the upgrade or at a `hello`.
    pub stage: AuthStage,
    /// The WebSocket upgrade request's headers (cookies, `Authorization`); empty for a TCP
    /// connection (GGS 1.0 or line mode).
    pub headers: HeaderMap,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
    /// At a `hello`: the credential it carries, if any (GGS 1.0: its `Auth` header;
    /// WebSocket: the `"auth"` field; line mode: the last `/auth <credential>`).
    pub credential: Option<String>,
    /// At a `hello`: the connection's identity so far (given at its upgrade or its last
    /// accepted `hello`), if any.
    pub identity: Option<Identity>,
    /// At a `hello` joining a table: its id (`None` when the `hello` creates one).
    pub table: Option<String>,
    /// At a `hello` creating a table of a catalogue game: the game's name.
    pub game: Option<String>,
}

/// The application's auth hook ([`crate::Builder::auth`]): decides, maybe asking a database,
/// whether a connection may open or a `hello` may seat its player, and who the player is.
///
/// Any `Fn(AuthRequest) -> impl Future<Output = Result<Identity, AuthRefusal>>` that is
/// `Send + Sync + 'static` (with a `Send + 'static` future) is one:
///
/// ```
/// use ggs_server::auth::{AuthRefusal, AuthRequest, Identity};
///
/// async fn check(request: AuthRequest) -> Result<Identity, AuthRefusal> {
///     let user = request.credential.or_else(|| {
///         let cookie = request.headers.get("cookie")?.to_str().ok()?;
///         cookie.strip_prefix("user=").map(str::to_string)
///     });
///     match user {
///         Some(user) if !user.is_empty() => Ok(Identity::new(user.clone(), user)),
///         _ => Err(AuthRefusal::new("log in first")),
///     }
/// }
///
/// let builder = ggs_server::Builder::new().auth(check);
/// ```
pub trait Authenticate: Send + Sync + 'static {
    /// The identity of the player `request` describes, or why not.
    fn authenticate(
        &self,
        request: AuthRequest,
    ) -> BoxFuture<'static, Result<Identity, AuthRefusal>>;
}

impl<F, Fut> Authenticate for F
where
    F: Fn(AuthRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, AuthRefusal>> + Send + 'static,
{
    fn authenticate(
        &self,
        request: AuthRequest,
    ) -> BoxFuture<'static, Result<Identity, AuthRefusal>> {
        Box::pin(self(request))
    }
}

/// The hook as the server holds it.
pub(crate) type AuthHook = Arc<dyn Authenticate>;

/// Asks `hook` about `request` within [`AUTH_TIMEOUT`], and bounds the identity it gives: the
/// identity, or the sentence of the `unauthorized` refusal.
pub(crate) async fn ask(hook: &AuthHook, request: AuthRequest) -> Result<Identity, String> {
    if request
        .credential
        .as_ref()
        .is_some_and(|c| c.len() > MAX_CREDENTIAL)
    {
        return Err(format!("a credential is at most {MAX_CREDENTIAL} bytes"));
    }
    let stage = request.stage;
    match tokio::time::timeout(AUTH_TIMEOUT, hook.authenticate(request)).await {
        Err(_) => {
            tracing::warn!(?stage, "the auth hook took longer than {AUTH_TIMEOUT:?}");
            Err("the sign-in check took too long; try again".into())
        }
        Ok(Err(refusal)) => Err(refusal.reason),
        Ok(Ok(identity)) => identity.bounded().map_err(|why| {
            tracing::error!(?stage, "refused: {why}");
            "the application gave this player an identity it may not have".to_string()
        }),
    }
}

/// What a connection brings to its `hello`s: its upgrade's headers, its peer, and the
/// identity it has so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Connection {
    /// The WebSocket upgrade's headers (empty over TCP).
    pub(crate) headers: HeaderMap,
    /// The peer's address.
    pub(crate) peer: Option<SocketAddr>,
    /// The identity given at the upgrade, then at each accepted `hello`.
    pub(crate) identity: Option<Identity>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_bounded() {
        let long = "é".repeat(MAX_DISPLAY_NAME);
        let cut = Identity::new("u1", long).bounded().unwrap();
        assert!(cut.name.len() <= MAX_DISPLAY_NAME && cut.name.len() >= MAX_DISPLAY_NAME - 1);
        assert!(cut.name.chars().all(|c| c == 'é'));
        assert!(Identity::new("", "x").bounded().is_err());
        assert!(Identity::new("u".repeat(MAX_USER_ID + 1), "x")
            .bounded()
            .is_err());
        let fine = Identity::new("u".repeat(MAX_USER_ID), "Alice");
        assert_eq!(fine.clone().bounded(), Ok(fine));
    }

    #[tokio::test]
    async fn the_hook_is_asked_and_its_answer_bounded() {
        let hook: AuthHook = Arc::new(|request: AuthRequest| async move {
            match request.credential.as_deref() {
                Some("alice") => Ok(Identity::new("1", "Alice")),
                Some("huge") => Ok(Identity::new("x".repeat(MAX_USER_ID + 1), "Huge")),
                _ => Err(AuthRefusal::new("who are you?")),
            }
        });
        let request = |credential: &str| AuthRequest {
            stage: AuthStage::Hello,
            headers: HeaderMap::new(),
            peer: None,
            credential: Some(credential.to_string()),
            identity: None,
            table: None,
            game: None,
        };
        assert_eq!(
            ask(&hook, request("alice")).await,
            Ok(Identity::new("1", "Alice"))
        );
        assert_eq!(
            ask(&hook, request("bob")).await,
            Err("who are you?".to_string())
        );
        assert!(ask(&hook, request("huge")).await.is_err());
        let long = "a".repeat(MAX_CREDENTIAL + 1);
        assert!(ask(&hook, request(&long))
            .await
            .unwrap_err()
            .contains("at most"));
    }
}
