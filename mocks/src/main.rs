//! The `mocks` binary: parses arguments and hands them to the library.

/// mimalloc: the mocks allocate many small JSON values per request; glibc's malloc made it the
/// largest single cost in the benchmark (see bench/results/mocks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mocks::cli::main()
}
