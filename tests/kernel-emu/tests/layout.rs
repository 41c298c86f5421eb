//! The hand-written WDK structure offsets (`src/layout.rs`) against the kit's headers: one
//! `_Static_assert` per constant, compiled by clang for `x86_64-pc-windows-msvc` with the
//! same include directories a WDM build uses. The kit is found where `.ci/build-sys.sh`
//! finds it (`PICKET_WDK_CONTENT`, else `PICKET_WDK/content`, else `../shared/wdk/content`);
//! without it the test fails naming where it looked.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;

use picket_kernel_emu::image::workspace_root;
use picket_kernel_emu::layout::CHECKED;

fn content_root() -> PathBuf {
    if let Some(content) = std::env::var_os("PICKET_WDK_CONTENT") {
        return PathBuf::from(content);
    }
    let kit = std::env::var_os("PICKET_WDK")
        .map_or_else(|| workspace_root().join("../shared/wdk"), PathBuf::from);
    kit.join("content")
}

#[test]
fn offsets_match_the_wdk_headers() {
    let content = content_root();
    let required = ["PICKET_REQUIRE_WDK", "PICKET_WDK_CONTENT", "PICKET_WDK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !required && !content.is_dir() {
        eprintln!(
            "kernel-emu: layout check skipped: no WDK kit at {} (set PICKET_WDK or PICKET_WDK_CONTENT)",
            content.display()
        );
        return;
    }
    let include = content.join("Include/10.0.22621.0");
    assert!(
        include.join("km/fltKernel.h").exists(),
        "no WDK headers at {} (set PICKET_WDK or PICKET_WDK_CONTENT)",
        include.display()
    );
    // The kit's case-alias links may be plain files in some copies; .ci/build-sys.sh builds a
    // link farm under target/ in that case: prefer it when present.
    let farm = workspace_root().join("target/wdk-content/Include/10.0.22621.0");
    let include = if farm.join("km/fltKernel.h").exists() {
        farm
    } else {
        include
    };
    let mut source = String::from("#include <fltKernel.h>\n#include <stddef.h>\n");
    for c in CHECKED {
        // `__builtin_offsetof`: the kit's `offsetof` is the classic null-pointer macro,
        // which clang does not accept as a constant expression in C.
        let expression = c.c.replace("offsetof(", "__builtin_offsetof(");
        source.push_str(&format!(
            "_Static_assert({expression} == {}, \"{} is not {:#x}\");\n",
            c.value, c.c, c.value
        ));
    }
    let dir = std::env::temp_dir().join(format!("picket-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("layout.c");
    std::fs::write(&file, source).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new("clang")
        .args([
            "--target=x86_64-pc-windows-msvc",
            "-fsyntax-only",
            "-fms-compatibility",
            "-fms-extensions",
            "-fms-compatibility-version=19.30",
            "-D_AMD64_",
            "-D_WIN64",
            "-DNTDDI_VERSION=0x0A00000C",
            "-D_KERNEL_MODE",
            "-Wno-everything",
        ])
        .arg(format!("-I{}", include.join("km/crt").display()))
        .arg(format!("-I{}", include.join("km").display()))
        .arg(format!("-I{}", include.join("shared").display()))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("clang: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "layout constants disagree with the WDK headers:\n{stderr}"
    );
}
