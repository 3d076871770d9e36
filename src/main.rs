fn main() {
    std::process::exit(tw_inspect::launch::main());
}
