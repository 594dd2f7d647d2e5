//! The isolate's memory, and the guard that keeps a request from growing it past the limit.
//!
//! Workers kill an isolate whose memory passes 128 MB, with every request in it. Wasm linear
//! memory only grows, so what counts is the peak. Every allocation goes through a counting
//! allocator, which knows how much of the linear memory is in use; a request whose images
//! would need more than the budget leaves is answered 503 before a pixel is decoded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use facegate_pipeline::decode::{self, DecodeLimits};
use facegate_sessions::ApiError;
use serde_json::{json, Value};

/// The most linear memory a request may make the isolate use. Below Workers' 128 MB by what
/// the JS heap holds besides (the request body before wasm reads it, the runtime's own).
pub const BUDGET: usize = 104_000_000;

/// Beyond an image's own buffers: the detector's and embedder's tensors, a plan for a new input
/// shape, the JSON and form copies of the request.
const SCRATCH: usize = 6_000_000;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

thread_local! {
    /// Linear memory after each model was built, in load order.
    static LOAD_STEPS: RefCell<Vec<(&'static str, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Bytes of wasm linear memory (what Workers count, with the JS heap).
pub fn linear_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    return 0;
}

/// Bytes allocated and not yet freed.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Records the memory after a load step (a model built), for the health check.
pub fn record(step: &'static str) {
    LOAD_STEPS.with(|s| s.borrow_mut().push((step, linear_bytes())));
}

fn mb(bytes: usize) -> f64 {
    (bytes as f64 / 1e5).round() / 10.0
}

/// What fits: the budget less what is in use, or what the linear memory already has free if
/// that is more (it never shrinks, and reusing it costs nothing).
pub fn headroom_bytes() -> usize {
    BUDGET.max(linear_bytes()).saturating_sub(live_bytes())
}

/// `GET /system/healthcheck`: `wasm_memory_mb` as before, and the breakdown.
pub fn health() -> Value {
    json!({"status": "ok", "wasm_memory_mb": mb(linear_bytes()), "memory": report()})
}

/// The health check's memory figures.
fn report() -> Value {
    let steps: Vec<Value> = LOAD_STEPS.with(|s| {
        s.borrow()
            .iter()
            .map(|(step, bytes)| json!({"after": step, "wasm_memory_mb": mb(*bytes)}))
            .collect()
    });
    json!({
        "wasm_memory_mb": mb(linear_bytes()),
        "heap_in_use_mb": mb(live_bytes()),
        "heap_peak_mb": mb(PEAK.load(Ordering::Relaxed)),
        "guard_budget_mb": mb(BUDGET),
        "guard_headroom_mb": mb(headroom_bytes()),
        "model_loads": steps,
    })
}

/// How a request's decoded images live: one after the other (a challenge's frames, a
/// portrait), or all at once (a burst, whose cues compare its frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    OneAtATime,
    AllAtOnce,
}

/// Refuses (503, `Retry-After`) a request whose images, decoded as `held`, would need more
/// memory than the budget leaves. Images whose header is unreadable or out of limits pass:
/// decoding them fails with the right 400 before anything is allocated.
pub fn admit<B: AsRef<[u8]>>(
    images: &[B],
    limits: &DecodeLimits,
    held: Held,
) -> Result<(), ApiError> {
    let each = images
        .iter()
        .filter_map(|b| decode::probe(b.as_ref(), limits).ok())
        .map(|h| usize::try_from(h.peak_bytes()).unwrap_or(usize::MAX));
    let images_need = match held {
        Held::OneAtATime => each.max().unwrap_or(0),
        Held::AllAtOnce => each.fold(0usize, usize::saturating_add),
    };
    let need = images_need.saturating_add(SCRATCH);
    if need <= headroom_bytes() {
        return Ok(());
    }
    Err(ApiError::Unavailable {
        detail: format!(
            "The server has no memory free for this image right now ({} MB needed, {} MB free); retry shortly, or send a smaller image.",
            mb(need),
            mb(headroom_bytes())
        ),
        retry_after: 2,
        cause: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `width`x`height` with no pixel data: enough for `probe`.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d".to_vec();
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        // An empty IDAT and IEND: the decoder reads up to the image data before it answers.
        for chunk in [b"IDAT", b"IEND"] {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(chunk);
            out.extend_from_slice(&crc32(chunk).to_be_bytes());
        }
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn refuses_with_503_what_would_not_fit_and_admits_what_does() {
        let roomy = DecodeLimits {
            max_side: 20_000,
            max_pixels: 400_000_000,
            ..DecodeLimits::default()
        };
        // 10000x10000 would need 1.3 GB: refused before a pixel is decoded.
        let err = admit(&[png_header(10_000, 10_000)], &roomy, Held::OneAtATime).unwrap_err();
        let (status, headers, body) = err.to_http();
        assert_eq!(status, 503);
        assert!(headers.iter().any(|(k, v)| k == "Retry-After" && v == "2"));
        assert!(
            body["detail"].as_str().unwrap().contains("MB needed"),
            "{body}"
        );
        // A 640x480 frame fits; an unreadable image is left for the decoder's 400.
        assert!(admit(&[png_header(640, 480)], &roomy, Held::OneAtATime).is_ok());
        assert!(admit(&[b"junk".to_vec()], &roomy, Held::OneAtATime).is_ok());
        assert!(health()["memory"]["guard_headroom_mb"].as_f64().unwrap() > 0.0);
    }
}
