//! Helpers shared by the integration tests: the golden-vector text format and annotator,
//! the golden cases, and the newer-minor rewrite used by the compatibility tests.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance at the `mod`.

pub mod annotate;
pub mod cases;
pub mod future;
pub mod hex;
pub mod process_cases;

use picket_protocol::{Batch, Body, Record};

/// Asserts that every slice the decoder returned lies inside `input`: views are borrowed
/// from the message, never from anywhere else.
pub fn assert_views_inside(input: &[u8], batch: &Batch<'_>) {
    let range = input.as_ptr_range();
    let inside = |slice: &[u8]| {
        let inner = slice.as_ptr_range();
        range.start <= inner.start && inner.end <= range.end
    };
    let mut count = 0u32;
    for record in batch.records() {
        count += 1;
        for slice in views(&record) {
            assert!(inside(slice), "a view points outside the input");
            assert!(slice.len() <= picket_protocol::MAX_NAME_BYTES.max(usize::from(u16::MAX)));
        }
    }
    assert_eq!(count, batch.header.record_count);
}

/// Every borrowed slice of a record.
pub fn views<'a>(record: &Record<'a>) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    match record.body {
        Body::FileCreate(b) => out.push(b.name.bytes),
        Body::FirstWrite(b) | Body::CloseModified(b) => out.push(b.name.bytes),
        Body::Rename(b) | Body::HardLink(b) => {
            out.push(b.name.bytes);
            out.push(b.new_name.bytes);
        }
        Body::Delete(b) | Body::DeleteStream(b) => out.push(b.name.bytes),
        Body::SetSize(b) => out.push(b.name.bytes),
        Body::SetAttributes(b) => out.push(b.name.bytes),
        Body::ProcessStart(b) => {
            out.push(b.image.bytes);
            out.push(b.command_line.bytes);
        }
        Body::ProcessExit(_) | Body::DriverHello(_) | Body::Stats(_) | Body::Loss(_) => {}
        Body::Unknown {
            fixed,
            name,
            new_name,
            ..
        } => {
            out.push(fixed);
            out.push(name);
            out.push(new_name);
        }
    }
    out
}
