//! TradingView intake, MultiLeg format: any bytes through `signals::parse`,
//! then the same body coerced into the MultiLeg shape. See `src/lib.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradehook_core::signals::Format;

fuzz_target!(|data: &[u8]| {
    tradehook_fuzz::signals::check(data, Format::MultiLeg);
});
