//! `vivaldi-eval` and `gen-matrix` end to end, plus the filter comparison.

use std::process::Command;
use std::time::Duration;

use serf_bench::eval;
use serf_bench::matrix::{generate, GenConfig};
use serf_core::vivaldi::VivaldiConfig;

fn field(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} missing in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].parse().unwrap()
}

fn matrix_file(hosts: usize, seed: u64) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_gen-matrix"))
        .args(["--hosts", &hosts.to_string(), "--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = std::env::temp_dir().join(format!(
        "serf-matrix-{}-{hosts}-{seed}.txt",
        std::process::id()
    ));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

fn eval_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vivaldi-eval"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn vivaldi_eval_prints_the_summary_json_in_both_shapes() {
    let path = matrix_file(80, 3);
    let p = path.to_str().unwrap();
    for extra in [&[][..], &["--protocol", "--cycles", "300"][..]] {
        let mut args = vec!["--matrix", p];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = eval_cli(&args);
        assert!(ok, "{stderr}");
        let last = stdout.lines().last().unwrap();
        assert_eq!(field(last, "nodes"), 80.0);
        let pairs = field(last, "pairs");
        assert!(pairs > 3000.0 && pairs <= 3160.0, "{last}");
        let (med, mean, p90) = (
            field(last, "median_rel_err"),
            field(last, "mean_rel_err"),
            field(last, "p90_rel_err"),
        );
        assert!(
            med > 0.0 && med < 0.25 && med <= p90 && mean > 0.0,
            "{extra:?}: {last}"
        );
        println!("{extra:?}: {last}");
    }
    std::fs::remove_file(path).ok();
}

#[test]
fn vivaldi_eval_rejects_bad_files_and_flags_with_clear_errors() {
    let dir = std::env::temp_dir();
    let cases = [
        ("0 1 2\n1 0\n", "line 2"),
        ("0 1\n1 zz\n", "not a number"),
        ("0 1 2\n1 0 2\n", "not square"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.join(format!("serf-bad-{}-{i}.txt", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let (ok, _, stderr) = eval_cli(&["--matrix", path.to_str().unwrap()]);
        assert!(!ok);
        assert!(stderr.contains(want), "{stderr}");
        std::fs::remove_file(path).ok();
    }
    let (ok, _, stderr) = eval_cli(&["--matrix", "/nonexistent/file"]);
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");
    let (ok, _, stderr) = eval_cli(&["--matrix", "x", "--units", "furlongs"]);
    assert!(!ok && stderr.contains("--units"), "{stderr}");
    let (ok, _, stderr) = eval_cli(&["--dims", "9", "--matrix", "x"]);
    assert!(!ok && stderr.contains("--dims"), "{stderr}");
    let (ok, _, stderr) = eval_cli(&["--bogus"]);
    assert!(!ok && stderr.contains("unknown flag"), "{stderr}");
}

#[test]
fn default_filter_beats_serfs_median_in_the_tail_under_jitter() {
    let m = generate(
        &GenConfig {
            hosts: 100,
            ..GenConfig::default()
        },
        11,
    )
    .scaled(1e-3);
    let jitter = Duration::from_millis(5);
    let serf = eval::protocol(&m, 400, 1, &VivaldiConfig::serf(), jitter);
    let ours = eval::protocol(&m, 400, 1, &VivaldiConfig::default(), jitter);
    println!("jitter 5 ms: serf {} / ours {}", serf.json(), ours.json());
    assert!(ours.errors.p90 < serf.errors.p90);
    assert!(ours.errors.median <= serf.errors.median);
    // Without jitter the two filters see identical samples.
    let a = eval::simulate(&m, 500, 1, &VivaldiConfig::serf(), eval::Stream::Sim);
    let b = eval::simulate(&m, 500, 1, &VivaldiConfig::default(), eval::Stream::Sim);
    assert_eq!(a.errors, b.errors);
}

#[test]
fn go_stream_reproduces_serfs_own_coordinate_code_on_a_generated_matrix() {
    // Figures of HashiCorp Serf's own `coordinate` package (Go 1.19, its
    // DefaultConfig, `Simulate`'s loop with the peer generator and the global
    // one both seeded with the seed, RTTs as whole-nanosecond durations,
    // unmeasured pairs skipped), run on `gen-matrix --hosts 100 --seed 11`
    // for 500 cycles. Every peer choice, random direction and float must
    // match to give the same figures.
    let path = matrix_file(100, 11);
    let text = std::fs::read_to_string(&path).unwrap();
    let m = serf_bench::matrix::Matrix::parse(&text)
        .unwrap()
        .scaled(1e-3);
    for (seed, median, mean, p90) in [
        (1, 0.145431, 0.276217, 0.531873),
        (2, 0.132883, 0.256450, 0.546001),
    ] {
        let r = eval::simulate(&m, 500, seed, &VivaldiConfig::serf(), eval::Stream::Go);
        println!("seed {seed}: {}", r.json());
        assert_eq!(r.pairs, 4908);
        for (ours, serfs) in [
            (r.errors.median, median),
            (r.errors.mean, mean),
            (r.errors.p90, p90),
        ] {
            assert!(
                (ours - serfs).abs() < 5e-7,
                "seed {seed}: {ours:.6} against Serf's {serfs:.6}"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
}
