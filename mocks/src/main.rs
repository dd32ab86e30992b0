//! The `mocks` binary: parses arguments and hands them to the library.

fn main() -> std::process::ExitCode {
    mocks::cli::main()
}
