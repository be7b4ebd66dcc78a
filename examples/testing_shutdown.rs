//! The seed's "Testing Shutdown", done so a test can assert on it: start the service,
//! keep requests in flight, send SIGTERM, and check that every request finished, that
//! readiness turned first, that nothing was reset, and that the exit code was 0.
//!
//! The Go version backgrounds the server, fires curl in a loop, kills it and `wait`s:
//! it never looks at what the requests got. Copy the test below into your project,
//! with your binary in place of `complete` (in an integration test,
//! `env!("CARGO_BIN_EXE_<name>")` gives its path). As a program it drills the
//! `complete` example and prints the report: `cargo run --example testing_shutdown`
//! (after `cargo build --example complete`).

use std::path::PathBuf;

use winddown::testing::{Drill, DrillReport};

/// The drill: 100 requests of 0–1.5 s in flight at SIGTERM, 50 more during the drain.
fn drill(program: PathBuf) -> DrillReport {
    Drill::new(program)
        .requests(100)
        .path(|ms| format!("/work?ms={ms}"))
        .durations(0, 1500)
        .late_requests(50)
        .run()
        .expect("the drill runs")
}

/// The `complete` example, next to this one in the target directory.
fn complete() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    let dir = me.parent().expect("examples dir");
    // As a test this runs from target/<profile>/examples too.
    dir.join(format!("complete{}", std::env::consts::EXE_SUFFIX))
}

fn main() {
    let report = drill(complete());
    print!("{report}");
    std::process::exit(if report.is_clean() { 0 } else { 1 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use winddown::testing::Ending;

    #[test]
    fn sigterm_loses_no_request() {
        let report = drill(complete());
        assert_eq!(report.completed, 100, "{report}");
        assert!(report.failed.is_empty(), "{report}");
        assert_eq!(report.late_count(Ending::Reset), 0, "{report}");
        assert_eq!(report.late_count(Ending::Eof), 0, "{report}");
        assert!(
            report.ready_503_after.is_some(),
            "readiness never turned: {report}"
        );
        assert_eq!(report.health_failures, 0, "{report}");
        assert_eq!(report.exit_code, 0, "{report}\n{}", report.stderr);
    }
}
