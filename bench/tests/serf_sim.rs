//! `serf-sim` end to end: a small warm run's JSON figures, and bad flags.

use std::process::Command;

fn sim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_serf-sim"))
        .args(args)
        .output()
        .expect("run serf-sim");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn small_warm_run_reports_convergence_detection_and_no_false_failures_as_json() {
    let (ok, stdout, stderr) = sim(&[
        "--members",
        "60",
        "--seconds",
        "40",
        "--crash",
        "0.05",
        "--broadcasts",
        "3",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let last = stdout.lines().last().expect("a JSON line");
    let r: serde_json::Value = serde_json::from_str(last).expect("JSON");
    println!("{last}");
    assert_eq!(r["members"], 60);
    assert_eq!(r["crashed"], 3);
    assert_eq!(r["false_failures"], 0);
    assert_eq!(
        r["broadcasts_fully_delivered"], 3,
        "every live member got each event"
    );
    assert!(r["converge_s"]["p9999"]
        .as_f64()
        .is_some_and(|t| t > 0.0 && t < 5.0));
    assert!(
        r["detect_s"]["all_p50"].as_f64().is_some(),
        "the crashes were seen by all"
    );
    assert_eq!(r["detect_s"]["incomplete"], 0);
    // Each crash reaches nearly every survivor as a suspect or dead rumour.
    let updates = r["updates_per_member_s"].as_f64().unwrap_or(0.0) * 60.0 * 40.0;
    assert!(
        updates >= 3.0 * 50.0,
        "{updates} membership updates handled"
    );
    assert!(r["speed"].as_f64().is_some_and(|s| s > 0.0));
    assert!(r["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0));
    assert!(
        r["pushpull_bytes"].as_u64().is_some_and(|b| b > 0),
        "push-pull ran"
    );
}

#[test]
fn same_seed_gives_the_same_figures() {
    let run = || {
        let (ok, stdout, stderr) = sim(&[
            "--members",
            "40",
            "--seconds",
            "20",
            "--crash",
            "0.05",
            "--loss",
            "0.05",
            "--json",
        ]);
        assert!(ok, "{stderr}");
        let mut r: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        for k in ["wall_s", "setup_wall_s", "speed", "peak_rss_bytes"] {
            r[k] = serde_json::Value::Null;
        }
        r
    };
    assert_eq!(run(), run());
}

#[test]
fn bad_flags_are_refused_with_clear_errors() {
    let (ok, _, stderr) = sim(&["--members", "1"]);
    assert!(!ok && stderr.contains("--members"), "{stderr}");
    let (ok, _, stderr) = sim(&["--crash", "1.5"]);
    assert!(!ok && stderr.contains("--crash"), "{stderr}");
    let (ok, _, stderr) = sim(&["--partition", "9:3"]);
    assert!(!ok && stderr.contains("--partition"), "{stderr}");
    let (ok, _, stderr) = sim(&["--bogus"]);
    assert!(!ok && stderr.contains("unknown flag"), "{stderr}");
}

#[test]
fn latency_matrix_run_reports_the_coordinates_error_and_slow_members_apart() {
    let dir = std::env::temp_dir().join(format!("serf-sim-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("m.txt");
    // Four sites 20-80 ms apart (RTTs in ms).
    std::fs::write(&file, "0 20 40 80\n20 0 30 60\n40 30 0 50\n80 60 50 0\n")
        .expect("write matrix");
    let path = file.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = sim(&[
        "--members",
        "40",
        "--seconds",
        "60",
        "--latency-matrix",
        &path,
        "--slow",
        "0.1",
        "--slow-ms",
        "2000",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    println!("{r}");
    assert_eq!(r["slow"], 4);
    let e = r["coord_median_error"].as_f64().expect("an error figure");
    assert!(e.is_finite() && e >= 0.0);
    assert_eq!(
        r["false_failures"], 0,
        "stalls shorter than the suspicion timeout fail no healthy member"
    );
    let (ok, _, stderr) = sim(&["--latency-matrix", "/nonexistent/m.txt"]);
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lifeguard_stops_slow_members_failing_healthy_ones() {
    // Slow members read their datagrams only after stalls (by default 10 s,
    // a quarter past the 8 s suspicion timeout of 100 members): without
    // Lifeguard their own suspicion timers fire before they read the
    // refutations waiting for them; with it their health score stretches
    // their probes and a lone accuser's suspicion lasts six times as long.
    let run = |lifeguard: bool| {
        let mut args = vec![
            "--members",
            "100",
            "--seconds",
            "90",
            "--slow",
            "0.1",
            "--json",
        ];
        if !lifeguard {
            args.push("--no-lifeguard");
        }
        let (ok, stdout, stderr) = sim(&args);
        assert!(ok, "{stderr}");
        let r: serde_json::Value =
            serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
        println!("lifeguard {lifeguard}: {r}");
        r["false_failure_reports"].as_u64().expect("a count")
    };
    let (with, without) = (run(true), run(false));
    assert!(
        without >= 10,
        "slow members without Lifeguard fail healthy ones ({without} reports)"
    );
    assert!(
        with * 10 <= without,
        "Lifeguard cuts those reports at least tenfold: {with} against {without}"
    );
}

#[test]
fn plot_writes_the_three_svg_charts() {
    let dir = std::env::temp_dir().join(format!("serf-sim-plot-{}", std::process::id()));
    let path = dir.to_string_lossy().into_owned();
    let (ok, _, stderr) = sim(&[
        "--members",
        "40",
        "--seconds",
        "30",
        "--crash",
        "0.05",
        "--plot",
        &path,
    ]);
    assert!(ok, "{stderr}");
    for name in ["convergence.svg", "detection.svg", "traffic.svg"] {
        let svg = std::fs::read_to_string(dir.join(name)).expect(name);
        assert!(
            svg.contains("<svg") && svg.contains("<polyline"),
            "{name} has a chart"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
