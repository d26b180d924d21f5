//! `serf version`: prints the version and protocol range.

use crate::cli::{parse_flags, CliError};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    parse_flags(argv, &[], &[])?;
    println!("Serf v{} (Rust)", env!("CARGO_PKG_VERSION"));
    println!("Agent Protocol: 5 (Understands back to: 2)");
    Ok(0)
}
