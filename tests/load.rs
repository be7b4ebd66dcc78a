//! Proof under load: 1000 requests in flight (0–2 s each) against the `complete`
//! example at SIGTERM, with the drill users get from `winddown::testing`.
//! Repeated, since a reset at exit is a race: ten drills, none may show one.
//! Its own test binary, so it runs alone; its bounds are loose (10x the expected time).

use std::time::Duration;

use winddown::testing::{Drill, Ending};

fn example(name: &str) -> std::path::PathBuf {
    let me = std::env::current_exe().expect("test binary path");
    let dir = me
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Ten drills: every request in flight completes, and across all of them no late
/// request is ever reset, dropped or cut (the listen queue at exit included).
const DRILLS: usize = 10;

#[test]
fn a_thousand_requests_in_flight_at_sigterm_all_complete() {
    let mut late = [0usize; 4];
    for drill in 0..DRILLS {
        let report = Drill::new(example("complete"))
            .requests(1000)
            .path(|ms| format!("/work?ms={ms}"))
            .durations(0, 2000)
            .late_requests(300)
            .time_limit(Duration::from_secs(60))
            .run()
            .expect("the drill runs");
        eprint!("drill {drill}: {report}");
        assert_eq!(report.completed, 1000, "{report}");
        assert!(report.failed.is_empty(), "{report}");
        for bad in [Ending::Reset, Ending::Eof, Ending::Other] {
            assert_eq!(report.late_count(bad), 0, "drill {drill}: {report}");
        }
        // Late requests: 200 during the drain delay, then 503 or refused.
        assert!(report.late_count(Ending::Status(200)) > 0, "{report}");
        assert_eq!(report.health_failures, 0, "{report}");
        assert!(
            report
                .ready_503_after
                .is_some_and(|t| t < Duration::from_secs(5)),
            "{report}"
        );
        assert_eq!(report.exit_code, 0, "{report}\n{}", report.stderr);
        assert!(report.exit_after < Duration::from_secs(40), "{report}");
        for (n, ending) in late.iter_mut().zip([
            Ending::Status(200),
            Ending::Status(503),
            Ending::Refused,
            Ending::Reset,
        ]) {
            *n += report.late_count(ending);
        }
    }
    eprintln!(
        "{DRILLS} drills, late requests: {} ok, {} answered 503, {} refused, {} reset",
        late[0], late[1], late[2], late[3]
    );
}
