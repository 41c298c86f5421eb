//! `picket watch` without the privileges fanotify needs must stop with an error that names
//! the missing capability. The capability is dropped from the child's bounding set with
//! `setpriv` (util-linux), or the child runs as `nobody`; each must fail, and say why.

// fanotify, setpriv and /proc: Linux only (the Windows harness is tests/vm/).
#![cfg(target_os = "linux")]

#[path = "e2e_support/mod.rs"]
mod support;

use std::process::Command;

fn run_unprivileged(wrapper: &[&str]) -> (bool, String) {
    let dir = support::TempDir::new("priv");
    // A copy any user can execute (the target dir may sit under a private home).
    let bin = dir.path().join("picket");
    std::fs::copy(support::picket_bin(), &bin).expect("copy picket");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let out = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(&bin)
        .arg("watch")
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (install util-linux)", wrapper[0]));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_cap_sys_admin_the_error_names_it() {
    let (ok, stderr) = run_unprivileged(&["setpriv", "--bounding-set=-sys_admin", "--"]);
    assert!(!ok, "picket watch must fail without CAP_SYS_ADMIN");
    assert!(stderr.contains("CAP_SYS_ADMIN"), "stderr: {stderr}");
    // Which call the kernel refuses depends on the group: since Linux 5.13 an unprivileged
    // `fanotify_init` is allowed without pidfds (as with process tracking), and the file
    // system mark is what is refused. The error names the call either way.
    assert!(
        stderr.contains("fanotify_init") || stderr.contains("fanotify_mark"),
        "stderr: {stderr}"
    );
}

#[test]
fn without_cap_dac_read_search_the_error_names_it() {
    let (ok, stderr) = run_unprivileged(&["setpriv", "--bounding-set=-dac_read_search", "--"]);
    assert!(!ok, "picket watch must fail without CAP_DAC_READ_SEARCH");
    assert!(stderr.contains("CAP_DAC_READ_SEARCH"), "stderr: {stderr}");
}

#[test]
fn as_an_ordinary_user_the_error_names_the_privilege() {
    let (ok, stderr) = run_unprivileged(&["runuser", "-u", "nobody", "--"]);
    assert!(!ok);
    assert!(stderr.contains("CAP_SYS_ADMIN"), "stderr: {stderr}");
    assert!(
        stderr.contains("root"),
        "the error says how to get it: {stderr}"
    );
}
