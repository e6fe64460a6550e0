//! Policy files are operator input: parsing arbitrary TOML or JSON must return a typed error or a
//! valid policy, never panic; a parsed policy must survive a JSON round trip unchanged.
#![no_main]

use ledger_core::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for parsed in [Policy::from_toml_str(text), Policy::from_json_str(text)] {
        if let Ok(policy) = parsed {
            let json = serde_json::to_string(&policy).unwrap_or_default();
            assert_eq!(Policy::from_json_str(&json).ok(), Some(policy));
        }
    }
});
