fn main() -> std::process::ExitCode {
    tillwatch::cli::main()
}
