//! Command-line entry point: parses flags, wires sources → diagnosis → outputs.

/// Runs the program and returns its exit code.
pub fn main() -> i32 {
    0
}
