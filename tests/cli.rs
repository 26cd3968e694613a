//! The showcase binary: its flags, its refusals, and that it serves.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_realtime-web");

/// Runs the binary to completion: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .output()
        .expect("run the binary");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_one_line_refusal((code, stdout, stderr): (i32, String, String)) {
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "one line, not: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Usage: realtime-web"));
    assert!(stdout.contains("--allow-origin"));
}

#[test]
fn bad_flags_exit_1_with_one_line() {
    assert_one_line_refusal(run(&["--frobnicate"]));
    assert_one_line_refusal(run(&["--window", "zero"]));
    assert_one_line_refusal(run(&["--addr"]));
    assert_one_line_refusal(run(&["--addr", "not an address"]));
}

#[test]
fn taken_port_exits_1_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stdout, stderr) = run(&["--addr", &addr]);
    assert!(stderr.contains(&addr), "{stderr}");
    assert_one_line_refusal((code, stdout, stderr));
}

#[test]
fn serves_on_the_given_address() {
    let mut child = Command::new(BIN)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--allow-origin",
            "https://a.example",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("realtime-web listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let health = common::get(&format!("{url}health"));
    let publish = common::post(&format!("{url}channels/cli/publish"), b"hi");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health, (200, "ok".into()));
    assert_eq!(publish, (200, r#"{"id":1}"#.into()));
}
