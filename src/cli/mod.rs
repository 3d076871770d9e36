//! Command-line entry point: parses flags, wires sources → diagnosis → outputs.

pub mod args;

/// Runs the program and returns its exit code.
pub fn main() -> i32 {
    0
}
