//! What watching costs the writer (see `overhead/linux.rs`). fanotify is Linux's, so on any
//! other target this benchmark says so and measures nothing: `cargo bench --workspace` and
//! `cargo build --all-targets` still work on a Windows host.

#[cfg(target_os = "linux")]
#[path = "overhead/linux.rs"]
mod linux;

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!(
        "overhead: fanotify is Linux-only; nothing to measure on {}",
        std::env::consts::OS
    );
}
