//! Build script: without the `kernel` feature it does nothing (the crate is plain Rust).
//! With it, it configures the WDM driver build through `wdk_build` and generates the
//! Filter Manager (`fltKernel.h`) bindings that `wdk-sys` does not carry.

fn main() {
    #[cfg(feature = "kernel")]
    if let Err(error) = flt_bindings::generate() {
        // A build script reports failure by exiting non-zero with a message.
        eprintln!("picket-driver build script: {error}");
        std::process::exit(1);
    }
}

#[cfg(feature = "kernel")]
mod flt_bindings {
    use std::{env, path::PathBuf};

    use bindgen::callbacks::{DeriveTrait, ImplementsTrait, ParseCallbacks};
    use wdk_build::BuilderExt;

    /// Types from `wdk_sys` that bindgen does not see (allowlisting is not recursive) but
    /// that the Filter Manager structures embed. bindgen assumes such types implement no
    /// trait, which would turn `FLT_PARAMETERS` into `__BindgenUnionField` unions and strip
    /// `Copy`/`Default` from `FLT_REGISTRATION`. They are all plain C data in `wdk_sys`:
    /// `Copy` and `Default` hold.
    #[derive(Debug)]
    struct WdkSysTypesAreCopy;

    impl ParseCallbacks for WdkSysTypesAreCopy {
        fn blocklisted_type_implements_trait(
            &self,
            _name: &str,
            derive_trait: DeriveTrait,
        ) -> Option<ImplementsTrait> {
            match derive_trait {
                DeriveTrait::Copy => Some(ImplementsTrait::Yes),
                DeriveTrait::Default => Some(ImplementsTrait::Manually),
                _ => None,
            }
        }
    }

    pub fn generate() -> Result<(), Box<dyn std::error::Error>> {
        let config = wdk_build::Config::from_env_auto()?;
        config.configure_binary_build()?;
        // fltMgr.lib: the Filter Manager's import library, in the WDK's km lib dir that
        // `configure_binary_build` put on the search path.
        println!("cargo::rustc-link-lib=fltMgr");
        // /RELEASE: the PE checksum, as the WDK's MSBuild driver targets set it (wdk-build
        // does not); /INTEGRITYCHECK (FORCE_INTEGRITY, which PsSetCreateProcessNotifyRoutineEx
        // requires) is also emitted by wdk-build, repeated so the image test's requirement
        // does not rest on a dependency's choice. tests/driver-image checks both.
        println!("cargo::rustc-cdylib-link-arg=/RELEASE");
        println!("cargo::rustc-cdylib-link-arg=/INTEGRITYCHECK");

        let out = PathBuf::from(env::var("OUT_DIR")?).join("flt.rs");
        bindgen::Builder::wdk_default(&config)?
            .header_contents("picket-flt.h", "#include <fltKernel.h>\n")
            .allowlist_recursively(false)
            .allowlist_function("Flt.*")
            .allowlist_var("FLT_.*|FLTFL_.*")
            .allowlist_type("_?P?C?FLT.*|_?P?(FILTER|INSTANCE)_.*")
            .allowlist_type("_?FILTER_INFORMATION_CLASS|_?INSTANCE_INFORMATION_CLASS")
            .allowlist_type("_?FILTER_VOLUME_INFORMATION_CLASS|_?P?FLTOPLOCK_.*")
            .raw_line("#[allow(clippy::wildcard_imports)]")
            .raw_line("use wdk_sys::*;")
            .parse_callbacks(Box::new(WdkSysTypesAreCopy))
            .generate()?
            .write_to_file(&out)?;
        Ok(())
    }
}
