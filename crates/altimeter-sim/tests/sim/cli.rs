//! The `altimeter-sim` binary's command line, as SPEC §4 lists it.

use std::process::Command;

#[test]
fn help_lists_every_flag_of_the_spec() {
    let output = Command::new(env!("CARGO_BIN_EXE_altimeter-sim"))
        .arg("--help")
        .output()
        .expect("running altimeter-sim --help");
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--bind",
        "--api-key",
        "--webhook-url",
        "--webhook-secret",
        "--rate-limit",
        "--data",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
    assert!(
        help.contains("127.0.0.1:9090"),
        "the --bind default:\n{help}"
    );
}

#[test]
fn a_missing_api_key_is_refused_naming_the_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_altimeter-sim"))
        .env_remove("ALTIMETER_API_KEY")
        .output()
        .expect("running altimeter-sim");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--api-key"), "{stderr}");
}
