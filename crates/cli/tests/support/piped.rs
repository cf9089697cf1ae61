//! Runs a command with its standard input given: stdin, stdout and stderr piped, the input written and stdin
//! closed, as an agent runs a hook. A process that answers before reading all of it (a refusal) may close its
//! end first: that broken pipe is not a test failure, its output is the answer.
#![allow(dead_code, reason = "each test file uses the runner it needs")]

use std::io::Write as _;
use std::process::{Child, Command, Output, Stdio};

/// Starts `command` and writes `input` to its stdin, then closes it.
pub fn spawn_with_input(command: &mut Command, input: &[u8]) -> Child {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Err(err) = child.stdin.take().unwrap().write_all(input) {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    }
    child
}

/// [`spawn_with_input`], then waits for the process and returns what it printed.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    spawn_with_input(command, input).wait_with_output().unwrap()
}
