//! A background job's socket is private to its user: 0600 whatever the umask, and a process of
//! another user can neither connect to it nor take the result (nor, had it connected, read it).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::temp_dir;

#[test]
#[ignore = "run by the other tests, in a process of its own"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let path =
        std::path::PathBuf::from(std::env::var("PAR_DIR").expect("PAR_DIR")).join("job.socket");
    match mode.as_str() {
        // Starts a job under umask 000 and prints its socket's permissions.
        "start" => {
            // SAFETY (test): umask only changes this process' file-creation mask.
            unsafe { libc::umask(0) };
            par::background(&path, || 42u32).expect("start the job");
            let mode = std::fs::metadata(&path)
                .expect("the socket")
                .permissions()
                .mode();
            println!("mode {:o}", mode & 0o777);
        }
        // Run as another user: tries to collect the job.
        "intrude" => match par::BackgroundQueue::<u32>::connect(&path) {
            Ok(mut q) => println!("intruder got {:?}", q.recv()),
            Err(e) => println!("intruder refused: {e}"),
        },
        other => panic!("unknown fixture {other}"),
    }
}

fn run(mode: &str, dir: &std::path::Path, uid: Option<u32>) -> String {
    let mut cmd = common::run_fixture(mode, Some(dir));
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{mode}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_socket_is_private_whatever_the_umask_and_other_users_cannot_take_the_result() {
    let _guard = common::watchdog("background-security");
    if !common::loops_fork() {
        return;
    }
    let dir = temp_dir("background-security");
    // Others may enter the directory, so only the socket's own mode keeps them out.
    std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run("start", &dir, None);
    assert!(out.contains("mode 600"), "{out}");
    let socket = dir.join("job.socket");
    // SAFETY (test): geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let out = run("intrude", &dir, Some(65534));
        assert!(out.contains("intruder refused"), "{out}");
        assert!(out.contains("Permission denied"), "{out}");
    } else {
        common::skip("not root: cannot run a process as another user to try the socket");
    }
    // The owner still collects the result: the intruder took nothing.
    let mut q = par::BackgroundQueue::<u32>::connect(&socket)
        .and_then(|q| q.timeout(Duration::from_secs(30)))
        .expect("the owner connects");
    assert_eq!(q.recv().expect("the result"), 42);
}
