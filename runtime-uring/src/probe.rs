//! Opening the ring, and saying plainly why not when the kernel will not:
//! no io_uring at all, io_uring switched off, a filter forbidding it, or a
//! kernel too old for multishot receives and buffer rings.

use io_uring::{opcode, IoUring, Probe};

/// Why io_uring cannot run here, in words for the operator.
pub(crate) fn explain_open(e: std::io::Error) -> std::io::Error {
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (ENOSYS; built without CONFIG_IO_URING, or older than 5.1)".to_string(),
        Some(libc::EPERM) => match disabled_sysctl() {
            Some(v) if v > 0 => format!("io_uring is switched off on this host (kernel.io_uring_disabled = {v})"),
            _ => "io_uring is not permitted here (EPERM: a seccomp filter, a container runtime, or kernel.io_uring_group)".to_string(),
        },
        Some(libc::EACCES) => "io_uring is not permitted here (EACCES: a security module denies it)".to_string(),
        Some(libc::ENOMEM) => "the ring cannot be allocated (ENOMEM: RLIMIT_MEMLOCK too low for this queue depth?)".to_string(),
        _ => format!("io_uring setup failed: {e}"),
    };
    std::io::Error::new(std::io::ErrorKind::Unsupported, why)
}

/// Why a buffer ring cannot be registered.
pub(crate) fn explain_buf_ring(e: std::io::Error) -> std::io::Error {
    let why = match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            "this kernel has no provided-buffer rings (Linux 5.19 or later is needed)".to_string()
        }
        _ => format!("cannot register the receive buffer ring: {e}"),
    };
    std::io::Error::new(std::io::ErrorKind::Unsupported, why)
}

fn disabled_sysctl() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A ring of `entries` submission slots on a kernel that has what the
/// runtime needs, or an `Unsupported` error naming what is missing.
pub(crate) fn open(entries: u32) -> std::io::Result<IoUring> {
    // One thread submits and reaps (single issuer), so completions' task
    // work can wait until the ring thread enters the kernel anyway (defer
    // taskrun: no interrupting it per datagram). Kernels before 6.1 lack
    // these; the plain ring works there.
    let uring = IoUring::builder()
        .setup_cqsize(entries.saturating_mul(4))
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)
        .or_else(|_| {
            IoUring::builder()
                .setup_cqsize(entries.saturating_mul(4))
                .build(entries)
        })
        .map_err(explain_open)?;
    if !uring.params().is_feature_ext_arg() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this kernel's io_uring cannot wait with a timeout argument (Linux 5.11 or later is needed)",
        ));
    }
    let mut probe = Probe::new();
    uring
        .submitter()
        .register_probe(&mut probe)
        .map_err(explain_open)?;
    // Multishot recvmsg cannot be probed itself; SendZc arrived in the same
    // release (6.0), so it stands in.
    if !probe.is_supported(opcode::SendZc::CODE) || !probe.is_supported(opcode::RecvMsg::CODE) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this kernel's io_uring has no multishot receive (Linux 6.0 or later is needed)",
        ));
    }
    Ok(uring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_is_named() {
        let says = |errno| explain_open(std::io::Error::from_raw_os_error(errno)).to_string();
        assert!(says(libc::ENOSYS).contains("no io_uring"));
        assert!(says(libc::EPERM).contains("io_uring"));
        assert!(says(libc::ENOMEM).contains("RLIMIT_MEMLOCK"));
        let old = explain_buf_ring(std::io::Error::from_raw_os_error(libc::EINVAL)).to_string();
        assert!(old.contains("5.19"));
    }
}
