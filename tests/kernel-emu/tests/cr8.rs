//! Unicorn has no APIC: `mov r64, cr8` reads 0 and `mov cr8, r64` is dropped. The emulator
//! finds those instructions in the image and hooks each one to the fake kernel's IRQL. The
//! release image has none (it raises IRQL only through the spin-lock APIs), so this proves
//! the hooks on a two-function image made here.
#![cfg(target_os = "linux")]

use picket_kernel_emu::emu::Emu;
use picket_kernel_emu::image::{Image, Section};
use picket_kernel_emu::kernel::Kernel;
use picket_kernel_emu::verifier::{irql, Rule};

fn image() -> Image {
    // 0x1000: mov rax, cr8 ; ret
    // 0x1010: mov cr8, rcx ; mov rax, cr8 ; ret
    let mut code = vec![0xCC; 0x20];
    code[..5].copy_from_slice(&[0x44, 0x0F, 0x20, 0xC0, 0xC3]);
    code[0x10..0x19].copy_from_slice(&[0x44, 0x0F, 0x22, 0xC1, 0x44, 0x0F, 0x20, 0xC0, 0xC3]);
    Image {
        path: "/nonexistent/cr8-test.sys".into(),
        base: 0x1_4000_0000,
        size: 0x2000,
        headers: vec![0; 0x200],
        sections: vec![Section {
            name: ".text".into(),
            rva: 0x1000,
            virtual_size: code.len() as u64,
            data: code,
            read: true,
            write: false,
            execute: true,
        }],
        imports: Vec::new(),
        driver_entry: 0x1000,
        dll_characteristics: 0,
    }
}

#[test]
fn mov_from_cr8_reads_the_irql_the_fake_kernel_runs_the_code_at() {
    let img = image();
    assert_eq!(img.cr8_moves().len(), 3, "{:?}", img.cr8_moves());
    let mut emu = Emu::load(img, Kernel::new(None)).unwrap_or_else(|v| panic!("{v}"));
    for level in [irql::PASSIVE, irql::APC, irql::DISPATCH] {
        let read = emu
            .call(0x1_4000_1000, &[], level)
            .unwrap_or_else(|v| panic!("{v}"));
        assert_eq!(read, u64::from(level));
    }
}

#[test]
fn mov_to_cr8_changes_the_irql_and_a_callee_that_keeps_it_raised_is_caught() {
    let mut emu = Emu::load(image(), Kernel::new(None)).unwrap_or_else(|v| panic!("{v}"));
    // Raising and returning raised: the IRQL-balance check fires.
    let violation = emu
        .call(0x1_4000_1010, &[2], irql::PASSIVE)
        .expect_err("returned at DISPATCH_LEVEL");
    assert_eq!(violation.rule, Rule::IrqlBalance, "{violation}");
    // Setting it to the level it was called at is balanced, and reads back.
    let read = emu
        .call(0x1_4000_1010, &[1], irql::APC)
        .unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(read, 1);
}
