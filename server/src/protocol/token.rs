//! Resume tokens: the secret a player presents to take back a held seat, apart from the public
//! player id that scripts and other players see.
//!
//! A token is [`TOKEN_BYTES`] bytes from the operating system's CSPRNG, written as a UUID
//! (8-4-4-4-12 hex digits, so 2011 clients that expect a UUID in the first field of the `hello`
//! reply take it as they are). The server keeps only its SHA-256 ([`TokenHash`]): a table's
//! seats and the store hold hashes, never tokens. Hashes are compared in constant time, in one
//! place ([`TokenHash::matches`]).

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Random bytes in a token (128 bits).
pub const TOKEN_BYTES: usize = 16;

/// Bytes of a [`TokenHash`] (SHA-256).
pub const TOKEN_HASH_BYTES: usize = 32;

/// A resume token as presented or issued. Its `Debug` hides it, so a logged message or event
/// never shows one; [`Token::reveal`] is the only way to its text.
#[derive(Clone)]
pub struct Token {
    text: Arc<str>,
    hash: TokenHash,
}

impl Token {
    /// A fresh token from the operating system's CSPRNG.
    pub fn generate() -> Token {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        Token::from_text(&Uuid::from_bytes(bytes).hyphenated().to_string())
    }

    /// A token as a client sent it (`Token` header, `"token"` field, the word after a table
    /// id in line mode); `None` when empty. Any text is a token: one that is not a UUID simply
    /// matches no seat.
    pub fn parse(text: &str) -> Option<Token> {
        let text = text.trim();
        (!text.is_empty()).then(|| Token::from_text(text))
    }

    /// The token whose text is `text`. A UUID hashes as its 16 bytes and is kept in its
    /// hyphenated lower-case form, so its spelling (case, braces) does not matter; anything
    /// else hashes as its UTF-8 bytes.
    pub fn from_text(text: &str) -> Token {
        match Uuid::parse_str(text) {
            Ok(uuid) => Token {
                text: Arc::from(uuid.hyphenated().to_string()),
                hash: TokenHash::of(uuid.as_bytes()),
            },
            Err(_) => Token {
                text: Arc::from(text),
                hash: TokenHash::of(text.as_bytes()),
            },
        }
    }

    /// The token's text, for the one place that must send it: the `hello` reply.
    pub fn reveal(&self) -> &str {
        &self.text
    }

    /// Its SHA-256, which is what the server keeps.
    pub fn hash(&self) -> &TokenHash {
        &self.hash
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Two tokens are equal when their hashes are (compared in constant time).
impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.hash.matches(&other.hash)
    }
}

impl Eq for Token {}

/// The SHA-256 of a token: what a seat and its store record keep.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; TOKEN_HASH_BYTES]);

impl TokenHash {
    /// The SHA-256 of `bytes`.
    fn of(bytes: &[u8]) -> TokenHash {
        TokenHash(Sha256::digest(bytes).into())
    }

    /// A hash as stored, or `None` if `bytes` is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<TokenHash> {
        bytes.try_into().ok().map(TokenHash)
    }

    /// The hash's bytes, to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether two hashes are the same, in time that does not depend on where they differ.
    pub fn matches(&self, other: &TokenHash) -> bool {
        same_secret(&self.0, &other.0)
    }
}

/// Compares two secrets in time that depends only on their lengths, not on where they differ.
/// Every comparison of a secret in the server (resume tokens, the admin token) goes through
/// here.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && std::hint::black_box(diff) == 0
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_uuid_shaped_and_hidden_from_debug() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_ne!(a, b);
        assert!(Uuid::parse_str(a.reveal()).is_ok(), "{}", a.reveal());
        assert_eq!(a.reveal().len(), 36);
        assert_eq!(format!("{a:?}"), "Token(..)");
        assert!(!format!("{:?}", a.hash()).contains(a.reveal()));
    }

    #[test]
    fn a_token_matches_its_own_spellings_and_nothing_else() {
        let t = Token::generate();
        let upper = Token::parse(&format!(" {} ", t.reveal().to_uppercase())).unwrap();
        assert!(t.hash().matches(upper.hash()));
        assert_eq!(t, upper);
        assert_eq!(upper.reveal(), t.reveal(), "kept in its canonical form");
        let braced = Token::parse(&format!("{{{}}}", t.reveal())).unwrap();
        assert_eq!(braced.reveal(), t.reveal());
        assert_ne!(t, Token::parse("not a uuid").unwrap());
        assert_eq!(Token::parse("  "), None);
        let stored = TokenHash::from_bytes(t.hash().as_bytes()).unwrap();
        assert!(stored.matches(t.hash()));
        assert_eq!(TokenHash::from_bytes(b"short"), None);
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(same_secret(b"", b""));
    }
}
