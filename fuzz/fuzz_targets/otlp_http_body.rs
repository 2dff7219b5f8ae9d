//! An OTLP/HTTP body under any Content-Encoding (gzip, deflate, zstd, identity) and either
//! Content-Type: decompressed within the receiver's size limit, then decoded. Besides the
//! checks in the functions called, this target counts the Rust heap: decompressing may never
//! hold more than the limit's worth of output (see MAX_HEAP).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tracegate_receiver_otlp::fuzzing::{http_decode, http_decompress, BODY_LIMIT};

/// The output buffer may grow to twice the limit while it is read (a Vec doubles), plus
/// the decoder's own state (flate2's inflater and window, ~100 KiB) and the input's copy.
/// zstd's window is allocated by libzstd, outside the Rust heap, and bounded by the
/// decoder's `window_log_max` instead.
const MAX_HEAP: usize = 2 * (BODY_LIMIT + 1) + 256 * 1024;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = http_decompress(data);
    let held = PEAK.load(Ordering::Relaxed) - before;
    assert!(held <= MAX_HEAP + data.len(), "decompressing {} input bytes held {held} bytes of heap", data.len());
    if let Some((format, Ok(body))) = out {
        http_decode(format, body);
    }
});
