//! Operating a service, from the outside: a real process reading real environment
//! variables (`WINDDOWN_GRACE`, `WINDDOWN_DRAIN_DELAY`, `WINDDOWN_LOG_FORMAT`,
//! `WINDDOWN_TERMINATION_LOG`), writing a real file, and a real tracing layer
//! seeing the steps.

mod common;

use std::time::Instant;

use common::{PATIENCE, Proc, SIGTERM};

const OPS: &str = env!("CARGO_BIN_EXE_winddown-ops");

/// The number after `field=` on the first stderr line containing every needle.
fn field_on(stderr: &str, needles: &[&str], field: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?}:\n{stderr}"));
    let rest = line
        .split(&format!("{field}="))
        .nth(1)
        .unwrap_or_else(|| panic!("no {field}= in {line}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{field} in {line}"))
}

#[test]
fn the_deployment_overrides_the_compiled_timings() {
    // Compiled: grace 10s, drain delay 3s. The deployment shortens the drain delay.
    let mut p = Proc::start_bin(
        OPS,
        "env_drain",
        &[("WINDDOWN_DRAIN_DELAY", "200ms"), ("WINDDOWN_GRACE", "20s")],
    );
    p.wait_ready();
    p.assert_log("grace=20s (WINDDOWN_GRACE) drain_delay=200ms (WINDDOWN_DRAIN_DELAY)");
    let t = Instant::now();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let took = t.elapsed();
    let drained = field_on(
        &p.stderr(),
        &["report", "phase=\"drain_delay\""],
        "elapsed_ms",
    );
    assert!(
        (150..2_500).contains(&drained),
        "drain delay took {drained}ms, not the 200ms the deployment set:\n{}",
        p.stderr()
    );
    assert!(took < PATIENCE, "{took:?}");

    // Unset, the compiled values hold and the log says so.
    let mut p = Proc::start_bin(OPS, "compiled", &[]);
    p.wait_ready();
    p.assert_log("grace=10s (compiled) drain_delay=3s (compiled)");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    let drained = field_on(
        &p.stderr(),
        &["report", "phase=\"drain_delay\""],
        "elapsed_ms",
    );
    assert!(drained >= 2_900, "compiled drain delay 3s took {drained}ms");
}

#[test]
fn a_bad_value_stops_the_start_with_exit_code_1() {
    let mut p = Proc::start_bin(OPS, "bad_grace", &[("WINDDOWN_GRACE", "45x")]);
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    p.assert_log(
        "environment variable WINDDOWN_GRACE: invalid duration \"45x\": `x` is not a unit; \
         write whole numbers with the units h, m, s or ms, largest first, e.g. \"1m30s\" or \"250ms\"",
    );
    p.assert_log("cannot start");
    assert!(!p.has_event("ready"), "{:?}", p.events);

    let mut p = Proc::start_bin(OPS, "bad_drain", &[("WINDDOWN_DRAIN_DELAY", "1.5s")]);
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    p.assert_log("environment variable WINDDOWN_DRAIN_DELAY: invalid duration \"1.5s\": decimals are not allowed");
}

#[test]
fn a_budget_broken_by_the_deployment_is_refused_with_the_compile_time_message() {
    let mut p = Proc::start_bin(OPS, "budget", &[("WINDDOWN_GRACE", "5s")]);
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    // What `#[service]` would say at compile time with grace = "5s", then which
    // values the deployment changed.
    p.assert_log(
        "the shutdown does not fit in grace: drain_delay 3s + hooks::close 3s + 100ms margin for \
         the report = 6s100ms is more than grace 5s; raise grace to 7s, or shorten the drain delay \
         or the timeouts on this chain (with grace=5s (WINDDOWN_GRACE) drain_delay=3s (compiled))",
    );
    assert!(!p.has_event("ready"), "{:?}", p.events);
}

/// A fresh path in the temporary directory, for this test alone.
fn temp_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("winddown-ops-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn the_termination_message_says_why_the_shutdown_failed() {
    let path = temp_path("termination-log");
    let shown = path.to_str().unwrap();
    let mut p = Proc::start_bin(
        OPS,
        "termination_log",
        &[
            ("WINDDOWN_TERMINATION_LOG", shown),
            ("WINDDOWN_DRAIN_DELAY", "0s"),
            ("OPS_FAIL", "1"),
        ],
    );
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    let message = std::fs::read_to_string(&path).expect("the termination message was written");
    assert!(
        message.starts_with("winddown: shutdown of ops (signal SIGTERM) took "),
        "{message}"
    );
    assert!(
        message.contains(
            "exited 1: 1 step(s) failed: hook `hooks::close` failed: the database refused to close."
        ),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "one paragraph: {message}");
    let _ = std::fs::remove_file(&path);

    // A start-up error is said there too.
    let mut p = Proc::start_bin(
        OPS,
        "termination_log_start",
        &[
            ("WINDDOWN_TERMINATION_LOG", shown),
            ("WINDDOWN_GRACE", "soon"),
        ],
    );
    assert_eq!(p.exit_code(), 1);
    let message = std::fs::read_to_string(&path).expect("written at a failed start");
    assert!(
        message.starts_with(
            "winddown: ops could not start and exited 1: environment variable WINDDOWN_GRACE"
        ),
        "{message}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_termination_message_that_cannot_be_written_never_fails_the_shutdown() {
    let mut p = Proc::start_bin(
        OPS,
        "termination_log_unwritable",
        &[
            (
                "WINDDOWN_TERMINATION_LOG",
                "/nonexistent-winddown-dir/termination-log",
            ),
            ("WINDDOWN_DRAIN_DELAY", "0s"),
        ],
    );
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log("cannot write the termination message; the shutdown goes on");

    // `off` writes nothing.
    let path = temp_path("off");
    let mut p = Proc::start_bin(
        OPS,
        "termination_log_off",
        &[
            ("WINDDOWN_TERMINATION_LOG", "off"),
            ("WINDDOWN_DRAIN_DELAY", "0s"),
        ],
    );
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    assert!(!path.exists());
}

/// `event step started PHASE/STEP service=..` / `event step ended PHASE/STEP outcome=.. elapsed_ms=N service=..`.
fn steps_seen(p: &Proc, what: &str) -> Vec<String> {
    (p.events.iter())
        .filter_map(|e| e.strip_prefix(&format!("step {what} ")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_tracing_layer_sees_every_step_start_and_end() {
    let mut p = Proc::start_bin(OPS, "events", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let started = steps_seen(&p, "started");
    let ended = steps_seen(&p, "ended");
    for step in [
        "readiness/readiness",
        "drain_delay/drain delay",
        "intake/intake",
        "worker/ticker",
        "in_flight/in-flight calls",
        "hook/close",
    ] {
        assert!(
            started
                .iter()
                .any(|s| s == &format!("{step} service=ops-events")),
            "{step} not started: {started:?}"
        );
        assert!(
            ended
                .iter()
                .any(|s| s.starts_with(&format!("{step} outcome=ok elapsed_ms="))
                    && s.ends_with(" service=ops-events")),
            "{step} not ended: {ended:?}"
        );
    }
    // In the order of the sequence, and the drain delay measured by its span.
    let at = |step: &str| {
        (p.events.iter())
            .position(|e| e.starts_with(&format!("step ended {step}")))
            .unwrap()
    };
    assert!(at("readiness/") < at("drain_delay/") && at("drain_delay/") < at("hook/"));
    let drain = ended
        .iter()
        .find(|s| s.starts_with("drain_delay/"))
        .unwrap();
    let ms: u64 = drain
        .split("elapsed_ms=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!((250..5_000).contains(&ms), "drain delay 300ms took {ms}ms");
    // The user's own fmt layer shows the structure: the hook's own line inside its step.
    p.assert_log(
        "shutdown{service=ops-events cause=signal SIGTERM}:step{phase=\"hook\" step=\"close\"}: \
         winddown_ops: closing, inside the hook's step",
    );
}

#[test]
fn json_logs_when_the_deployment_asks_for_them() {
    let mut p = Proc::start_bin(OPS, "json", &[("WINDDOWN_LOG_FORMAT", "json")]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let stderr = p.stderr();
    let lines: Vec<serde_json::Value> = (stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let starting = (lines.iter())
        .find(|l| l["fields"]["message"] == "starting")
        .unwrap_or_else(|| panic!("no start line:\n{stderr}"));
    assert_eq!(starting["level"], "INFO");
    assert_eq!(starting["fields"]["grace"], "10s (compiled)");
    assert_eq!(starting["fields"]["drain_delay"], "3s (compiled)");
    // A step's line carries its span, and the shutdown's above it.
    let done = (lines.iter())
        .find(|l| l["fields"]["message"] == "step done" && l["fields"]["phase"] == "hook")
        .unwrap_or_else(|| panic!("no hook step line:\n{stderr}"));
    assert_eq!(done["span"]["name"], "step");
    assert_eq!(done["span"]["step"], "hooks::close");
    assert_eq!(done["spans"][0]["name"], "shutdown");
    assert_eq!(done["spans"][0]["cause"], "signal SIGTERM");

    // The generic LOG_FORMAT works too; without either, the lines are text.
    let mut p = Proc::start_bin(
        OPS,
        "json_generic",
        &[("LOG_FORMAT", "json"), ("WINDDOWN_GRACE", "x")],
    );
    assert_eq!(p.exit_code(), 1);
    let line = p.stderr();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).expect("JSON");
    assert_eq!(v["fields"]["message"], "cannot start");
    let mut p = Proc::start_bin(OPS, "text", &[("WINDDOWN_GRACE", "x")]);
    assert_eq!(p.exit_code(), 1);
    assert!(serde_json::from_str::<serde_json::Value>(p.stderr().lines().next().unwrap()).is_err());
}

#[test]
fn json_logs_never_replace_the_users_own_subscriber() {
    let mut p = Proc::start_bin(OPS, "events", &[("WINDDOWN_LOG_FORMAT", "json")]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    // The fixture's own fmt layer (text) wrote every line.
    let stderr = p.stderr();
    assert!(
        stderr.contains("INFO winddown::sequence: starting service=ops-events"),
        "{stderr}"
    );
    assert!(!stderr.lines().any(|l| l.starts_with('{')), "{stderr}");
}

#[test]
fn a_second_signal_is_in_the_termination_message() {
    let path = temp_path("second-signal");
    let mut p = Proc::start_bin(
        OPS,
        "second_signal",
        &[("WINDDOWN_TERMINATION_LOG", path.to_str().unwrap())],
    );
    p.wait_ready();
    p.signal(SIGTERM);
    // Within the 3s drain delay.
    let deadline = Instant::now() + PATIENCE;
    while !p
        .stderr()
        .contains("still serving while load balancers notice")
    {
        assert!(Instant::now() < deadline, "{}", p.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 128 + SIGTERM, "{}", p.stderr());
    let message = std::fs::read_to_string(&path).expect("written at the forced exit");
    assert_eq!(
        message,
        "winddown: shutdown of ops (signal SIGTERM) was cut short by a second signal, SIGTERM, \
         and exited 143 without finishing."
    );
    let _ = std::fs::remove_file(&path);
}
