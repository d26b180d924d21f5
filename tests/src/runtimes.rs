//! Real members on loopback sockets, on either runtime, so one scenario
//! runs against both: [`each_runtime`] hands a scenario the std runtime and
//! (where the kernel has it) an io_uring ring.
//!
//! ```
//! use serf_tests::runtimes::each_runtime;
//! each_runtime(|rt| {
//!     let (a, _) = rt.member("doc-a");
//!     assert_eq!(a.members().len(), 1, "on {}", rt.name());
//! });
//! ```

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serf_core::Config;
use serf_runtime_std::member::{Member, MemberBuilder, Output};

/// Which runtime drives the members of a scenario.
pub enum Runtime {
    /// One thread per member, std sockets.
    Std,
    /// Every member on one io_uring ring.
    Uring(serf_runtime_uring::Runtime),
}

impl Runtime {
    /// `std` or `uring`.
    pub fn name(&self) -> &'static str {
        match self {
            Runtime::Std => "std",
            Runtime::Uring(_) => "uring",
        }
    }

    /// Starts `b` on this runtime.
    pub fn start(&self, b: MemberBuilder) -> (Member, Receiver<Output>) {
        match self {
            Runtime::Std => b.start(),
            Runtime::Uring(r) => r.spawn(b),
        }
        .unwrap_or_else(|e| panic!("member failed to start on {}: {e}", self.name()))
    }

    /// A member named `name` on 127.0.0.1, any port, the local profile.
    pub fn member(&self, name: &str) -> (Member, Receiver<Output>) {
        self.start(builder(name))
    }
}

/// A loopback member with the local profile.
pub fn builder(name: &str) -> MemberBuilder {
    let local = "127.0.0.1:0".parse().expect("address");
    Member::builder(name).bind(local).config(Config::local())
}

/// Runs `scenario` on the std runtime and then on an io_uring ring (skipped,
/// with the reason printed, where io_uring is unavailable).
pub fn each_runtime(mut scenario: impl FnMut(&Runtime)) {
    scenario(&Runtime::Std);
    match serf_runtime_uring::Runtime::builder().members(8).start() {
        Ok(r) => scenario(&Runtime::Uring(r)),
        Err(e) => eprintln!("io_uring half skipped: {e}"),
    }
}

/// The first output `want` picks out within `limit`.
pub fn next_output<T>(
    rx: &Receiver<Output>,
    limit: Duration,
    mut want: impl FnMut(Output) -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + limit;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(o) => {
                if let Some(t) = want(o) {
                    return Some(t);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

/// Status of `name` as `m` sees it.
pub fn status_of(m: &Member, name: &str) -> Option<&'static str> {
    m.members()
        .into_iter()
        .find(|x| x.name == name)
        .map(|x| x.status)
}
