//! Short versions of the runtime benchmarks: `runtime-race` runs both
//! runtimes on the same loopback workload, `ring-scale` runs members on one
//! ring through join, steady state and a kill. The full-size runs are in the
//! README (2,000 members; 256 for the race).

use std::process::Command;

fn uring_or_skip() -> bool {
    match serf_runtime_uring::Runtime::builder().check() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: io_uring unavailable here: {e}");
            false
        }
    }
}

fn last_json(out: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.lines().last().unwrap_or_default()).expect("a JSON last line")
}

#[test]
fn runtime_race_reports_both_runtimes_work_per_cpu_second() {
    if !uring_or_skip() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_runtime-race"))
        .args(["--members", "16", "--seconds", "2", "--json", "--net", "11"])
        .output()
        .unwrap();
    let j = last_json(&out);
    for key in [
        "std_datagrams_per_cpu_s",
        "uring_datagrams_per_cpu_s",
        "ratio",
        "std_cpu_per_member_us",
        "uring_cpu_per_member_us",
    ] {
        let v = j[key].as_f64().unwrap_or(0.0);
        assert!(v.is_finite() && v > 0.0, "{key} = {v} in {j}");
    }
    assert_eq!(j["members"], 16);
}

#[test]
fn members_on_one_ring_converge_and_detect_a_kill() {
    if !uring_or_skip() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ring-scale"))
        .args(["--members", "60", "--seconds", "2", "--settle", "2"])
        .args([
            "--profile",
            "local",
            "--join-rate",
            "200",
            "--json",
            "--net",
            "12",
        ])
        .output()
        .unwrap();
    let j = last_json(&out);
    assert!(j["converge_s"].as_f64().is_some(), "never converged: {j}");
    assert!(j["detect_all_s"].as_f64().is_some(), "kill not seen: {j}");
    assert!(j["cpu_per_member_us"].as_f64().unwrap_or(0.0) > 0.0, "{j}");
    assert!(j["probe_rate"].as_f64().unwrap_or(0.0) > 0.5, "{j}");
}

#[test]
fn bad_flags_are_refused_with_a_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_runtime-race"))
        .args(["--engine", "fibers"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--engine must be std or uring"));
    let out = Command::new(env!("CARGO_BIN_EXE_ring-scale"))
        .args(["--members", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--members must be"));
}
