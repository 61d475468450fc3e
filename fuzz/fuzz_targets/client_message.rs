//! Fuzzes the mapping from decoded GGS 1.0 frames to client messages: never panics.
#![no_main]

use bytes::BytesMut;
use ggs_server::protocol::ggs10::{Decoded, Decoder};
use ggs_server::protocol::message::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(decoded)) = decoder.decode(&mut buf) {
        if let Decoded::Frame(frame) = decoded {
            let _ = ClientMessage::from_frame(&frame);
        }
    }
});
