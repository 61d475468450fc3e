//! Fuzzes the mapping from decoded GGS 1.0 frames to client messages and what travels beside
//! them (GGS 1.1's `GGS-Versions`, `Ack`, `Seq`): never panics, and keeps the bounds.
#![no_main]

use bytes::BytesMut;
use ggs_server::protocol::ggs10::{Decoded, Decoder};
use ggs_server::protocol::message::{ClientMessage, MAX_OFFERED_VERSIONS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(decoded)) = decoder.decode(&mut buf) {
        if let Decoded::Frame(frame) = decoded {
            if let Ok((_, meta)) = ClientMessage::from_frame(&frame) {
                assert!(meta.versions.as_ref().map_or(0, Vec::len) <= MAX_OFFERED_VERSIONS);
                assert_ne!(meta.seq, Some(0), "Seq counts from 1");
            }
        }
    }
});
