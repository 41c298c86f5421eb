//! Turns a batch written by this version into one a *newer minor* driver could send: a
//! higher minor number, a longer batch header, and longer fixed parts on known records. The
//! compatibility rules say a 1.0 client decodes such a batch, skipping what it does not know.

/// What a newer minor adds to a batch.
#[derive(Clone, Debug, Default)]
pub struct Future {
    /// The minor version written in the header.
    pub minor: u16,
    /// Bytes appended to the 40-byte batch header (a multiple of 8).
    pub header_extension: Vec<u8>,
    /// `(record index, bytes)`: bytes appended to that record's fixed part (multiples of 8).
    pub fixed_extensions: Vec<(usize, Vec<u8>)>,
}

fn put_u16(bytes: &mut [u8], at: usize, value: usize) {
    let value = u16::try_from(value).expect("fits a u16");
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, value: usize) {
    let value = u32::try_from(value).expect("fits a u32");
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Rewrites `batch` (as written by `BatchWriter`, 40-byte header) the way `future` says.
pub fn apply(batch: &[u8], future: &Future) -> Vec<u8> {
    assert_eq!(future.header_extension.len() % 8, 0);
    let mut out = batch[..40].to_vec();
    out.extend_from_slice(&future.header_extension);
    put_u16(&mut out, 6, usize::from(future.minor));
    put_u16(&mut out, 8, 40 + future.header_extension.len());
    let mut offset = 40;
    let mut index = 0;
    while offset < batch.len() {
        let len = u32::from_le_bytes(batch[offset..offset + 4].try_into().expect("4")) as usize;
        let mut record = batch[offset..offset + len].to_vec();
        for (_, extension) in future.fixed_extensions.iter().filter(|(i, _)| *i == index) {
            assert_eq!(extension.len() % 8, 0);
            let fixed_len = usize::from(u16::from_le_bytes([record[40], record[41]]));
            let at = 48 + fixed_len;
            record.splice(at..at, extension.iter().copied());
            put_u16(&mut record, 40, fixed_len + extension.len());
            let new_len = record.len();
            put_u32(&mut record, 0, new_len);
        }
        out.extend_from_slice(&record);
        offset += len;
        index += 1;
    }
    let total = out.len();
    put_u32(&mut out, 16, total);
    out
}
