//! `decode_batch` on any bytes: it must not panic, every view it returns must lie inside the
//! input, and whatever it accepts must survive a re-encode: decode(encode(decode(x))) equals
//! decode(x).
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_protocol::{decode_batch, BatchWriter, Body, Record};

fn views<'a>(record: &Record<'a>) -> [&'a [u8]; 3] {
    match record.body {
        Body::FileCreate(b) => [b.name.bytes, &[], &[]],
        Body::FirstWrite(b) | Body::CloseModified(b) => [b.name.bytes, &[], &[]],
        Body::Rename(b) | Body::HardLink(b) => [b.name.bytes, b.new_name.bytes, &[]],
        Body::Delete(b) | Body::DeleteStream(b) => [b.name.bytes, &[], &[]],
        Body::SetSize(b) => [b.name.bytes, &[], &[]],
        Body::SetAttributes(b) => [b.name.bytes, &[], &[]],
        Body::ProcessStart(b) => [b.image.bytes, b.command_line.bytes, &[]],
        Body::ProcessExit(_) | Body::DriverHello(_) | Body::Stats(_) | Body::Loss(_) => {
            [&[], &[], &[]]
        }
        Body::Unknown {
            fixed,
            name,
            new_name,
            ..
        } => [fixed, name, new_name],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = decode_batch(data) else {
        return;
    };
    let input = data.as_ptr_range();
    let records: Vec<Record<'_>> = batch.records().collect();
    assert_eq!(records.len(), batch.header.record_count as usize);
    for record in &records {
        for view in views(record) {
            let range = view.as_ptr_range();
            assert!(view.is_empty() || (input.start <= range.start && range.end <= input.end));
        }
    }

    let mut out = vec![0u8; data.len() + 64];
    let mut writer = BatchWriter::new(
        &mut out,
        batch.header.flags,
        batch.header.lost_since_previous,
    )
    .expect("a header fits");
    for record in &records {
        writer.push(record).expect("an accepted record re-encodes");
    }
    let len = writer.finish();
    let again = decode_batch(&out[..len]).expect("the re-encoded batch decodes");
    assert!(again.records().eq(records.iter().copied()));
});
