fn main() {
    std::process::exit(tw_inspect::cli::main());
}
