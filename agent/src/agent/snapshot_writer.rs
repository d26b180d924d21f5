//! The snapshot writer thread: member events and, every second, the clocks,
//! into the snapshot file; the leave marker on a graceful leave.

use std::sync::mpsc;
use std::time::Duration;

use crate::snapshot::Snapshot;
use serf_core::EventKind;
use serf_runtime_std::member::{Command, Commands, Output};

/// What the snapshot thread hears.
pub(crate) enum SnapMsg {
    /// Something happened in the cluster.
    Out(Output),
    /// The agent leaves gracefully: record it, then acknowledge.
    Leave,
}

/// Owns the snapshot file: records member events and, every second, the
/// clocks. Everything reaches it through its channel (no shared state).
pub(crate) fn snapshot_thread(
    mut snap: Snapshot,
    commands: Commands,
) -> (mpsc::Sender<SnapMsg>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel::<SnapMsg>();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(SnapMsg::Out(Output::Member(e))) => match e.kind {
                EventKind::Joined | EventKind::Alive | EventKind::Updated => {
                    snap.alive(&e.member.name, e.member.addr)
                }
                EventKind::Failed | EventKind::Left | EventKind::Reaped => {
                    snap.not_alive(&e.member.name)
                }
                _ => {}
            },
            Ok(SnapMsg::Leave) => {
                // The clocks as they are after the leave, then the marker.
                let (itx, irx) = mpsc::channel();
                if commands.send(Command::Info(itx)).is_ok() {
                    if let Ok(i) = irx.recv_timeout(Duration::from_secs(1)) {
                        snap.clocks(i.member_time, i.event_time, i.query_time);
                    }
                }
                snap.leave();
                let _ = done_tx.send(());
            }
            Ok(SnapMsg::Out(_)) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let (itx, irx) = mpsc::channel();
                if commands.send(Command::Info(itx)).is_err() {
                    return;
                }
                if let Ok(i) = irx.recv_timeout(Duration::from_secs(1)) {
                    snap.clocks(i.member_time, i.event_time, i.query_time);
                    snap.sync();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    });
    (tx, done_rx)
}
