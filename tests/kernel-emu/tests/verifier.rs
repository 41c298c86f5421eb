//! Each Verifier check, proven to catch its fault: a deliberately broken fake kernel (a
//! lost free = a leak, a lost name release = a missing release, a callback at too high an
//! IRQL, a double free) or an image importing something the fake kernel lacks.
#![cfg(target_os = "linux")]

mod common;

use common::harness;
use picket_kernel_emu::emu::Emu;
use picket_kernel_emu::image::{Image, ImportSlot};
use picket_kernel_emu::kernel::{status, Kernel};
use picket_kernel_emu::verifier::{irql, Rule, Violation};
use picket_kernel_emu::{workload, Harness};

fn run_workload(h: &mut Harness) -> Result<(), Violation> {
    let w = workload::load().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.driver_entry()?, status::SUCCESS);
    assert_eq!(h.connect_client()?, status::SUCCESS);
    workload::run(h, &w)?;
    h.settle(2)?;
    assert_eq!(h.unload()?, status::SUCCESS);
    Ok(())
}

#[test]
fn a_leak_is_reported_by_tag_and_size() {
    picket_kernel_emu::skip_without_image!();
    let mut h = harness();
    h.emu.k.inject.lose_frees_of_tag = Some(u32::from_le_bytes(*b"PkOp"));
    run_workload(&mut h).unwrap_or_else(|v| panic!("{v}"));
    let problems = h.final_checks();
    let leak = problems
        .iter()
        .find(|v| v.rule == Rule::PoolLeak)
        .unwrap_or_else(|| panic!("no leak reported: {problems:?}"));
    assert!(leak.detail.contains("PkOp"), "{leak}");
    assert!(
        leak.detail.contains("callbacks::"),
        "the allocating function is named: {leak}"
    );
}

#[test]
fn a_missing_name_release_is_reported() {
    picket_kernel_emu::skip_without_image!();
    let mut h = harness();
    h.emu.k.inject.lose_name_releases = true;
    run_workload(&mut h).unwrap_or_else(|v| panic!("{v}"));
    let problems = h.final_checks();
    assert!(
        problems
            .iter()
            .any(|v| v.rule == Rule::Unbalanced && v.detail.contains("file name information")),
        "{problems:?}"
    );
}

#[test]
fn a_callback_at_too_high_an_irql_is_caught_at_the_first_api_it_may_not_call() {
    picket_kernel_emu::skip_without_image!();
    let mut h = harness();
    h.emu.k.inject.pre_write_irql = Some(irql::DISPATCH);
    let violation = run_workload(&mut h).expect_err("a pre-write at DISPATCH_LEVEL must fault");
    assert_eq!(violation.rule, Rule::Irql, "{violation}");
    assert!(violation.detail.contains("at IRQL 2"), "{violation}");
    assert!(
        violation.at.as_deref().is_some_and(|at| at.contains("::")),
        "located by function name: {violation}"
    );
}

#[test]
fn a_double_free_is_caught() {
    picket_kernel_emu::skip_without_image!();
    let mut h = harness();
    h.emu.k.inject.free_twice = true;
    let violation = run_workload(&mut h).expect_err("a second free must fault");
    assert_eq!(violation.rule, Rule::DoubleFree, "{violation}");
}

#[test]
fn an_import_without_a_handler_fails_the_load_naming_it() {
    picket_kernel_emu::skip_without_image!();
    let mut image = Image::load_default().unwrap_or_else(|e| panic!("{e}"));
    let slot = image.imports.last().map_or(0, |i| i.iat_rva);
    image.imports.push(ImportSlot {
        library: "ntoskrnl.exe".into(),
        name: "KeBugCheckEx".into(),
        iat_rva: slot,
    });
    let Err(violation) = Emu::load(image, Kernel::new(None)) else {
        panic!("an unknown import must fail the load");
    };
    assert_eq!(violation.rule, Rule::UnknownImport);
    assert!(
        violation.detail.contains("ntoskrnl.exe!KeBugCheckEx"),
        "{violation}"
    );
}

#[test]
fn a_missing_image_names_the_path_and_the_build_script() {
    let error =
        Image::load(std::path::Path::new("/nonexistent/picket_driver.sys")).expect_err("missing");
    let text = error.to_string();
    assert!(
        text.contains("/nonexistent/picket_driver.sys") && text.contains(".ci/build-sys.sh"),
        "{text}"
    );
}
