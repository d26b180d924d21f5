//! `mem-probe` end to end: a small working set's figures, and bad flags.

use std::process::Command;

fn probe(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mem-probe"))
        .args(args)
        .output()
        .expect("run mem-probe");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn small_working_set_reports_both_read_times_as_json() {
    let (ok, stdout, stderr) = probe(&["--gib", "0.01", "--reads", "100000", "--json"]);
    assert!(ok, "{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    let independent = r["independent_ns"].as_f64().expect("independent_ns");
    let dependent = r["dependent_ns"].as_f64().expect("dependent_ns");
    assert!(independent > 0.0 && dependent > 0.0, "{r}");
}

#[test]
fn a_working_set_out_of_range_is_refused_with_a_clear_error() {
    for gib in ["--gib=0", "--gib=-1", "--gib=65", "--gib=many"] {
        let (ok, _, stderr) = probe(&[gib]);
        assert!(!ok, "--gib {gib} accepted");
        assert!(stderr.contains("--gib"), "{stderr}");
    }
}
