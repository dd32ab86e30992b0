//! What a process does first in `main`, before any thread starts, so that growing later never
//! stalls it: a load generator's clock must not stop while the kernel catches up.
//!
//! **The descriptor table.** Linux grows a process's descriptor table when a new descriptor
//! passes a power of two (256, 512, 1,024, ...), and in a process with more than one thread each
//! growth waits for an RCU grace period inside the `socket()` or `accept()` that needed it.
//! Measured on the 2-core bench machine with `strace`: `socket()` calls taking 9-13 ms as
//! loadsuite's 256th and 512th connections opened, stalling its one event-loop thread; in an
//! arrival-rate run those were late starts below saturation (`make bench-streams`). Grown while
//! the process still has one thread, the table needs no grace period, and it never shrinks.
//!
//! **Transparent huge pages.** Where the kernel backs the allocator's memory with 2 MiB pages, the
//! first touch of each one zeroes all of it in the page fault. On the bench machine `perf`
//! showed 14 ms of one such burst on loadsuite's event-loop thread as a run's first streams ended
//! and its memory grew, the rest of the late starts at 400 starts/s; with huge pages off those
//! runs had none, for about 5% more CPU per token at 10,000 streams (fewer TLB hits).

use std::io;

/// The largest table grown at start: 65,536 descriptors (512 KiB of kernel memory); a process
/// allowed more grows further as it goes, at the old cost.
const MAX_RESERVED: u64 = 1 << 16;

/// Grows the descriptor table to hold as many descriptors as the soft open-file limit allows
/// (at most [`MAX_RESERVED`]); call it first in `main`, before any thread starts. Returns the
/// size it made room for (`None` where it could not: no finite limit, or no `/dev/null`), and
/// never fails the program.
pub fn reserve_descriptor_table() -> Option<u64> {
    let limit = open_file_limit()?.min(MAX_RESERVED);
    let null = std::fs::File::open("/dev/null").ok()?;
    let top = i32::try_from(limit.checked_sub(1)?).ok()?;
    // A duplicate at the top of the range (the lowest free number at or above it, never
    // replacing an open one) makes the kernel grow the table; it is closed when dropped.
    let copy = rustix::io::fcntl_dupfd_cloexec(&null, top).ok()?;
    drop(copy);
    Some(limit)
}

/// Turns transparent huge pages off for this process (and what it starts): memory comes in 4 KiB
/// pages, each zeroed when first touched, never 2 MiB at once. Call it first in `main`, before
/// any thread starts.
pub fn avoid_huge_page_stalls() -> io::Result<()> {
    rustix::thread::disable_transparent_huge_pages(true).map_err(io::Error::from)
}

/// The soft open-file limit (`RLIMIT_NOFILE`; `None`: unlimited): what the table is grown to,
/// and what a server sizes its connection cap from.
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_grown_to_the_limit_and_no_descriptor_is_left_open() {
        let reserved = reserve_descriptor_table().expect("a finite open-file limit");
        assert_eq!(reserved, open_file_limit().unwrap().min(MAX_RESERVED));
        let open: Vec<u64> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        assert!(open.iter().all(|&fd| fd < reserved - 1), "the duplicate is closed: {open:?}");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let size: u64 = status.lines().find_map(|l| l.strip_prefix("FDSize:")).unwrap().trim().parse().unwrap();
        assert!(size >= reserved, "the kernel's table holds {size} descriptors, {reserved} reserved");
        // The table now holds the top of the range: a descriptor can be made there.
        let null = std::fs::File::open("/dev/null").unwrap();
        let top = i32::try_from(reserved - 1).unwrap();
        let copy = rustix::io::fcntl_dupfd_cloexec(&null, top).expect("a descriptor at the top");
        assert!(std::os::fd::AsRawFd::as_raw_fd(&copy) >= top);
    }

    #[test]
    fn huge_pages_are_off_for_the_process_after_the_call() {
        avoid_huge_page_stalls().expect("prctl");
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("THP_enabled:"));
        // Kernels since 5.0 show the flag per process; older ones have no line.
        assert!(line.is_none_or(|l| l.ends_with('0')), "{line:?}");
    }
}
