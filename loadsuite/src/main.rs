//! The `loadsuite` binary: parses arguments and hands them to the library.

/// mimalloc: many small allocations per request on the hot path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    loadsuite::cli::main()
}
