//! The allocator's settings, made at start before any thread runs. glibc's malloc raises its mmap
//! threshold each time a large block is freed, so after the first few megabyte-sized request bodies
//! every later one comes from a heap arena, and an arena keeps what it was given: resident memory
//! then climbs to the high-water mark of every arena (up to eight per core) and stays there. With a
//! fixed threshold, blocks of 256 KiB and more (request bodies, decoded batches) are mapped and
//! returned to the system when freed, and two arenas keep the small-object heaps few. What a
//! request may hold is bounded by the collector's in-flight budget; this keeps the process's
//! resident size close to that bound.

/// Applies the settings (glibc on Linux; elsewhere, nothing). An operator's own `MALLOC_*`
/// environment variables win: glibc reads them first and this then leaves them.
pub fn bound_the_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set_by_operator = |name: &str| std::env::var_os(name).is_some();
        // SAFETY: mallopt only changes allocator parameters; called once, before other threads.
        unsafe {
            if !set_by_operator("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
            }
            if !set_by_operator("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
        }
    }
}
