//! Every compile-time message a user can hit, snapshot-tested against the
//! compiler's real output (`fail/`), and every form the design allows (`pass/`).
//! Snapshots belong to the machine's toolchain (rustc 1.95); regenerate them with
//! `TRYBUILD=overwrite cargo test -p winddown-ui-tests` and read each one.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
