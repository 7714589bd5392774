//! Rule configs as the API receives them: `RuleConfig::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tradehook_fuzz::rules::check(data);
});
