//! Fuzzes the GGS 1.0 decoder: arbitrary bytes, fed in arbitrary chunks, never panic, never
//! buffer past the limits, and decode the same whether fed whole or in pieces.
#![no_main]

use bytes::BytesMut;
use ggs_server::protocol::ggs10::{Decoded, Decoder, FrameError, MAX_HEADER_BLOCK};
use libfuzzer_sys::fuzz_target;

/// Body limit used here: small, so the over-limit paths are reached.
const MAX_BODY: usize = 4096;

fn run(chunks: &[&[u8]]) -> Vec<Result<Decoded, FrameError>> {
    let mut decoder = Decoder::new(MAX_BODY);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(d)) => out.push(Ok(d)),
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
        assert!(buf.len() <= MAX_HEADER_BLOCK + MAX_BODY + chunk.len());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size; the rest is the stream.
    let Some((&size, stream)) = data.split_first() else { return };
    let size = (size as usize % 64) + 1;
    let whole = run(&[stream]);
    let pieces: Vec<&[u8]> = stream.chunks(size).collect();
    assert_eq!(whole, run(&pieces));
});
