//! Wire protocols: GGS 1.0 framing and the transport-neutral client messages.

pub mod ggs10;
pub mod message;
