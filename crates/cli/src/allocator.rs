//! The allocator of the `netpipe` binary and the benchmarks (one place, so
//! their figures match).
//!
//! Events are many small allocations; mimalloc serves them faster than
//! glibc's malloc. By default it returns freed memory to the system after a
//! second, but a pipeline frees and reallocates batch-sized buffers all the
//! time, and pages returned are faulted back in zeroed: up to a third of the
//! Parquet sink's profile. Holding freed memory for a few seconds keeps it
//! for the next batches; memory stays bounded by the batches in flight.
//!
//! Built with mimalloc's `no_thp`: otherwise it asks for transparent huge
//! pages on its memory, and each page it hands out again after a purge is
//! faulted back as a whole zeroed 2 MiB page. Measured on the WebSocket to
//! stdout path, that zeroing was a fifth of the CPU; without it peak RSS
//! falls by a fifth to a third on every end-to-end path (Parquet 123-137
//! against 137-169 MiB), at the same speed or better.

/// `mi_option_purge_delay` in mimalloc.h (the Rust bindings do not name it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const PURGE_DELAY_MS: std::ffi::c_long = 5_000;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sets the allocator's options; call first thing in `main`.
pub fn tune() {
    // SAFETY: setting an option is thread-safe, and this one only changes
    // when freed memory is returned to the system.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_set_is_the_purge_delay() {
        // SAFETY: reading an option is thread-safe.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        // 1000 ms is mimalloc's default purge delay and no neighbouring
        // option's default, so a wrong option number fails here.
        assert_eq!(get(), 1000);
        super::tune();
        assert_eq!(get(), super::PURGE_DELAY_MS);
    }
}
