//! A data export read the way `wdk-sys` declares it (a plain `extern` static) does not link
//! against the import library generated from `driver/defs/ntoskrnl.def`, and the way
//! `driver/src/kernel/data_imports.rs` declares it (`#[link(name = "ntoskrnl")]`) does. This
//! is what keeps the `PsThreadType` link failure from coming back unnoticed: `.ci/build-sys.sh`
//! links the driver against the same library. Should `DATA` be forgotten in the `.def`, the
//! wrong declaration links against the import's code thunk instead; the image check's
//! "code read as data" rule reports it (shown here on the linked DLL).
//!
//! Needs `llvm-dlltool` and the rustup target `x86_64-pc-windows-msvc` (what the cross-build
//! needs); skipped with one line, or failing, exactly when the image test is.

use std::path::{Path, PathBuf};
use std::process::Command;

use picket_driver_image::locate::{driver_image, workspace_root, Found};
use picket_driver_image::pe::Image;
use picket_driver_image::stack::Graph;

const TARGET: &str = "x86_64-pc-windows-msvc";

fn run(command: &mut Command) -> std::process::Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// `rust-lld`, shipped with the toolchain for the host.
fn rust_lld() -> PathBuf {
    let sysroot = run(Command::new(rustc()).args(["--print", "sysroot"]));
    let version = run(Command::new(rustc()).arg("-vV"));
    let host = String::from_utf8_lossy(&version.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names its host");
    Path::new(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-lld")
}

/// Compiles `source` (a `no_std` library reading `PsThreadType`) to an object and links it
/// as a DLL against `ntoskrnl.lib`; the linker's output.
fn link(dir: &Path, name: &str, source: &str, implib: &Path) -> std::process::Output {
    let src = dir.join(format!("{name}.rs"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, source).unwrap();
    let compiled = run(Command::new(rustc())
        .args(["--edition", "2021", "--crate-type", "lib", "--emit", "obj"])
        .args([
            "-C",
            "opt-level=1",
            "-C",
            "panic=abort",
            "--target",
            TARGET,
            "-o",
        ])
        .arg(&obj)
        .arg(&src));
    assert!(
        compiled.status.success(),
        "rustc: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    run(Command::new(rust_lld())
        .args([
            "-flavor",
            "link",
            "/dll",
            "/noentry",
            "/nodefaultlib",
            "/export:probe",
        ])
        .arg(format!(
            "/out:{}",
            dir.join(format!("{name}.dll")).display()
        ))
        .arg(&obj)
        .arg(implib))
}

#[test]
fn a_data_import_declared_without_dllimport_fails_the_link_or_the_image_check() {
    match driver_image() {
        Ok(Found::Skip(why)) => {
            eprintln!("picket-driver-image: skipped: {why}");
            return;
        }
        Ok(Found::Image(_)) | Err(_) => {} // the kit is here: the tools must be too
    }
    let dir = std::env::temp_dir().join(format!("picket-data-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let implib = dir.join("ntoskrnl.lib");
    let def = workspace_root().join("driver/defs/ntoskrnl.def");
    let made = Command::new("llvm-dlltool")
        .args(["-m", "i386:x86-64", "-d"])
        .arg(&def)
        .arg("-l")
        .arg(&implib)
        .output()
        .unwrap_or_else(|e| panic!("llvm-dlltool (apt-get install llvm): {e}"));
    assert!(
        made.status.success(),
        "llvm-dlltool: {}",
        String::from_utf8_lossy(&made.stderr)
    );

    let wrong = link(
        &dir,
        "wrong",
        "#![no_std]\nextern \"C\" { static PsThreadType: *mut usize; }\n\
         #[no_mangle] pub extern \"C\" fn probe() -> usize { unsafe { *PsThreadType } }\n",
        &implib,
    );
    let stderr = String::from_utf8_lossy(&wrong.stderr).into_owned()
        + &String::from_utf8_lossy(&wrong.stdout);
    assert!(
        !wrong.status.success(),
        "a plain extern static linked against a DATA export"
    );
    assert!(
        stderr.contains("undefined symbol: PsThreadType"),
        "unexpected linker output: {stderr}"
    );

    let right = link(
        &dir,
        "right",
        "#![no_std]\n#[link(name = \"ntoskrnl\")]\nextern \"C\" { static PsThreadType: *mut usize; }\n\
         #[no_mangle] pub extern \"C\" fn probe() -> usize { unsafe { *PsThreadType } }\n",
        &implib,
    );
    assert!(
        right.status.success(),
        "the dllimport declaration did not link: {}{}",
        String::from_utf8_lossy(&right.stderr),
        String::from_utf8_lossy(&right.stdout)
    );

    // The same wrong declaration with `DATA` forgotten in the .def: the link succeeds against
    // the code thunk, and the code would read the thunk's bytes. The image test catches it.
    let def_text = std::fs::read_to_string(&def).unwrap();
    let no_data = def_text.replace("PsThreadType DATA", "PsThreadType");
    assert_ne!(no_data, def_text, "ntoskrnl.def lists PsThreadType DATA");
    let no_data_def = dir.join("no-data.def");
    std::fs::write(&no_data_def, no_data).unwrap();
    let no_data_lib = dir.join("no-data").join("ntoskrnl.lib");
    std::fs::create_dir_all(no_data_lib.parent().unwrap()).unwrap();
    let made = run(Command::new("llvm-dlltool")
        .args(["-m", "i386:x86-64", "-d"])
        .arg(&no_data_def)
        .arg("-l")
        .arg(&no_data_lib));
    assert!(
        made.status.success(),
        "llvm-dlltool: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let silent = link(
        &dir,
        "silent",
        "#![no_std]\nextern \"C\" { static PsThreadType: *mut usize; }\n\
         #[no_mangle] pub extern \"C\" fn probe() -> usize { unsafe { *PsThreadType } }\n",
        &no_data_lib,
    );
    assert!(
        silent.status.success(),
        "{}",
        String::from_utf8_lossy(&silent.stderr)
    );
    let bytes = std::fs::read(dir.join("silent.dll")).unwrap();
    let image = Image::parse(&bytes).unwrap();
    let graph = Graph::read(&bytes, &image).unwrap();
    assert!(
        graph
            .code_reads
            .iter()
            .any(|r| r.contains("import thunk for PsThreadType")),
        "the image check missed the thunk read: {:?}",
        graph.code_reads
    );
    let _ = std::fs::remove_dir_all(&dir);
}
