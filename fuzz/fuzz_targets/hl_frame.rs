//! Hyperliquid WebSocket frames: `parse_frame` / `parse_frame_keeping`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tradehook_fuzz::frames::check(data);
});
