//! Compile-time UTF-16 strings for the `UNICODE_STRING`s the driver needs (registry value
//! names, the port name).

use wdk_sys::{PCUNICODE_STRING, UNICODE_STRING};

/// Encodes ASCII `text` as UTF-16 at compile time.
// Evaluated only in `const` items: an out-of-bounds index or overflow fails the build, so
// no panic path exists at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub const fn utf16<const N: usize>(text: &str) -> [u16; N] {
    let bytes = text.as_bytes();
    assert!(bytes.len() == N);
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i] as u16;
        i += 1;
    }
    out
}

/// A `UNICODE_STRING` viewing `text` (not NUL-terminated, as the kernel expects).
#[must_use]
pub fn unicode(text: &'static [u16]) -> UNICODE_STRING {
    // Every string used here is a short constant: the byte length fits a u16.
    let bytes = u16::try_from(core::mem::size_of_val(text)).unwrap_or(0);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: text.as_ptr().cast_mut(),
    }
}

/// The bytes a `UNICODE_STRING` from Filter Manager holds.
///
/// # Safety
/// `string` must describe `Length` readable bytes at `Buffer` (or `Buffer` null), valid
/// for `'a`, in memory readable at the current IRQL.
pub unsafe fn bytes_of<'a>(string: PCUNICODE_STRING) -> &'a [u8] {
    // SAFETY: the caller guarantees `string` is null or valid.
    let Some(string) = (unsafe { string.as_ref() }) else {
        return &[];
    };
    if string.Buffer.is_null() {
        return &[];
    }
    // SAFETY: the caller guarantees `Length` bytes are readable at `Buffer` for `'a`.
    unsafe { core::slice::from_raw_parts(string.Buffer.cast::<u8>(), usize::from(string.Length)) }
}
