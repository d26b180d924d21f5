//! Transparent huge pages for the simulators' heaps.
//!
//! A simulated cluster is N nodes of small tables, and a datagram touches one
//! random node's tables: at 5,000 members that is ~900 MiB read at random, so
//! on 4 KiB pages nearly every table access also misses the TLB. This
//! machine's kernel hands out huge pages only to memory that asks for them
//! (`transparent_hugepage=madvise`), and glibc asks for its heap when the
//! tunable `glibc.malloc.hugetlb=1` is set at start-up. A tunable cannot be set
//! from inside a running process, so the simulators re-execute themselves
//! once with it set (it measured about 20% faster at 5,000 members).

use std::env;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

const KEY: &str = "glibc.malloc.hugetlb";

/// Re-executes the current binary with glibc's huge-page tunable added to
/// `GLIBC_TUNABLES`, unless it already names it (set
/// `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` to measure on small pages). Returns
/// only when it does not re-execute, or could not (then says so on stderr).
pub fn ask_for_huge_pages(tool: &str) {
    let current = env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains(KEY) {
        return;
    }
    let Ok(exe) = env::current_exe() else {
        return;
    };
    let value = if current.is_empty() {
        format!("{KEY}=1")
    } else {
        format!("{current}:{KEY}=1")
    };
    let mut args = env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from(tool));
    let err = Command::new(exe)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", value)
        .exec();
    eprintln!("{tool}: could not re-execute with huge pages ({err}); running on small pages");
}
