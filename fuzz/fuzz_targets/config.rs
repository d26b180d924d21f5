//! Any configuration file: the JSON config parser turns it into the flags it
//! stands for, or a clear error naming the file — never a panic — and every
//! flag it yields is one flag (`-name=value`), so no value can smuggle a
//! second flag in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_agent::config_file::to_flags;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match to_flags(&text, "fuzz.json") {
        Ok(f) => {
            for flag in &f.flags {
                assert!(flag.starts_with('-'), "not a flag: {flag:?}");
                let name = flag[1..].split('=').next().unwrap_or("");
                assert!(
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                    "flag name from a value: {flag:?}"
                );
            }
        }
        Err(e) => assert!(e.starts_with("fuzz.json"), "error without its file: {e}"),
    }
});
