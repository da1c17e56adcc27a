//! Feeds arbitrary bytes to the JUnit parser: it must return items or an error,
//! never panic, and keep its invariants.
#![no_main]

use flakewatch::junit::{Item, JunitReader, ParseOptions, Summary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits so the fuzzer also explores the limit paths.
    let opts = ParseOptions {
        max_captured_output: 64,
        max_text: 64,
        max_depth: 16,
        max_decompressed_bytes: 1 << 20,
        max_token_bytes: 4096,
    };
    let Ok(mut reader) = JunitReader::new(data, "fuzz.xml", opts) else {
        return;
    };
    let mut cases = Summary::default();
    loop {
        match reader.next_item() {
            Ok(Some(Item::Case(case))) => {
                assert!(case.text.as_ref().is_none_or(|t| t.text.len() <= 64));
                assert!(case.system_out.as_ref().is_none_or(|t| t.text.len() <= 64));
                assert!(case.attempts.len() <= 100);
                let _ = serde_json::to_string(&case);
                cases.add(&case);
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                assert_eq!(reader.summary(), cases);
                break;
            }
            Err(e) => {
                assert!(e.line >= 1 && e.column >= 1);
                assert!(e.to_string().starts_with("fuzz.xml:"));
                break;
            }
        }
    }
});
