//! Wire protocols: GGS 1.0 framing, the WebSocket JSON mapping, the human line mode, and the
//! transport-neutral client messages, and the resume tokens they carry.

pub mod ggs10;
pub mod json;
pub mod line;
pub mod message;
pub mod token;
