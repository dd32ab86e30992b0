//! The process's file-descriptor table, grown once at start.
//!
//! Linux grows a process's descriptor table when a new descriptor passes a power of two (256,
//! 512, 1,024, ...), and in a process with more than one thread each growth waits for an RCU grace
//! period inside the `socket()` or `accept()` that needed it. Measured on the 2-core bench machine
//! with `strace`: `socket()` calls taking 9-13 ms as loadsuite's 256th and 512th connections
//! opened, stalling its one event-loop thread; in an arrival-rate run those were the late starts
//! below saturation (`make bench-streams`). Grown while the process still has one thread, the
//! table needs no grace period, and it never shrinks.

/// The largest table grown at start: 65,536 descriptors (512 KiB of kernel memory); a process
/// allowed more grows further as it goes, at the old cost.
const MAX_RESERVED: u64 = 1 << 16;

/// Grows the descriptor table to hold as many descriptors as the soft open-file limit allows
/// (at most [`MAX_RESERVED`]); call it first in `main`, before any thread starts. Returns the
/// size it made room for (`None` where it could not: no finite limit, or no `/dev/null`), and
/// never fails the program.
pub fn reserve_table() -> Option<u64> {
    let limit = soft_limit()?.min(MAX_RESERVED);
    let null = std::fs::File::open("/dev/null").ok()?;
    let top = i32::try_from(limit.checked_sub(1)?).ok()?;
    // A duplicate at the top of the range (the lowest free number at or above it, never
    // replacing an open one) makes the kernel grow the table; it is closed when dropped.
    let copy = rustix::io::fcntl_dupfd_cloexec(&null, top).ok()?;
    drop(copy);
    Some(limit)
}

/// The soft `RLIMIT_NOFILE` (`None`: unlimited).
fn soft_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_grown_to_the_limit_and_no_descriptor_is_left_open() {
        let count = || std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
        let before = count();
        let reserved = reserve_table().expect("a finite open-file limit");
        assert_eq!(reserved, soft_limit().unwrap().min(MAX_RESERVED));
        assert_eq!(count(), before, "the duplicate is closed");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let size: u64 = status.lines().find_map(|l| l.strip_prefix("FDSize:")).unwrap().trim().parse().unwrap();
        assert!(size >= reserved, "the kernel's table holds {size} descriptors, {reserved} reserved");
        // The table now holds the top of the range: a descriptor can be made there.
        let null = std::fs::File::open("/dev/null").unwrap();
        let top = i32::try_from(reserved - 1).unwrap();
        let copy = rustix::io::fcntl_dupfd_cloexec(&null, top).expect("a descriptor at the top");
        assert!(std::os::fd::AsRawFd::as_raw_fd(&copy) >= top);
    }
}
