//! Stored bytes are untrusted on read: decoding arbitrary bytes as a record, an event, a head, a
//! snapshot, an account, policies or a protection read model returns a value or a typed error, never a panic; an event
//! that decodes re-encodes to bytes that decode to the same event.
#![no_main]

#[path = "../../crates/ledger-store/src/codec.rs"]
#[allow(dead_code, reason = "the fuzz target uses part of the codec")]
mod codec;
#[path = "../../crates/ledger-store/src/error.rs"]
#[allow(dead_code, reason = "the fuzz target uses part of the error type")]
mod error;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let seq = data.first().copied().map_or(1, u64::from);
    let _ = codec::Record::decode(seq, data);
    let _ = codec::decode_head(data);
    let _ = codec::decode_snapshot(data);
    let _ = codec::decode_account(data);
    let _ = codec::decode_policies(data);
    let _ = codec::decode_protections(data);
    let _ = codec::decode_reservation(data);
    let _ = codec::decode_protection_settings(data);
    let _ = codec::decode_risk_seq(data);
    if let Ok(event) = codec::decode_event(seq, data) {
        let bytes = codec::encode_event(&event).expect("a decoded event encodes");
        let again = codec::decode_event(seq, &bytes).expect("re-encoded bytes decode");
        assert_eq!(again, event);
    }
});
