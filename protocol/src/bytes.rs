//! Bounds-checked little-endian reads and writes. Every access returns `None` instead of
//! panicking, so the encoder and decoder have no panic path.

/// Reads a little-endian integer of `N` bytes at `offset`.
#[inline]
fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    let slice = bytes.get(offset..end)?;
    <[u8; N]>::try_from(slice).ok()
}

#[inline]
pub(crate) fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    read_array(bytes, offset).map(u16::from_le_bytes)
}

#[inline]
pub(crate) fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    read_array(bytes, offset).map(u32::from_le_bytes)
}

#[inline]
pub(crate) fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    read_array(bytes, offset).map(u64::from_le_bytes)
}

#[inline]
pub(crate) fn read_u128(bytes: &[u8], offset: usize) -> Option<u128> {
    read_array(bytes, offset).map(u128::from_le_bytes)
}

/// Writes `value` at `offset`; `None` when it does not fit.
#[inline]
pub(crate) fn write_bytes(out: &mut [u8], offset: usize, value: &[u8]) -> Option<()> {
    let end = offset.checked_add(value.len())?;
    out.get_mut(offset..end)?.copy_from_slice(value);
    Some(())
}

#[inline]
pub(crate) fn write_u16(out: &mut [u8], offset: usize, value: u16) -> Option<()> {
    write_bytes(out, offset, &value.to_le_bytes())
}

#[inline]
pub(crate) fn write_u32(out: &mut [u8], offset: usize, value: u32) -> Option<()> {
    write_bytes(out, offset, &value.to_le_bytes())
}

#[inline]
pub(crate) fn write_u64(out: &mut [u8], offset: usize, value: u64) -> Option<()> {
    write_bytes(out, offset, &value.to_le_bytes())
}

#[inline]
pub(crate) fn write_u128(out: &mut [u8], offset: usize, value: u128) -> Option<()> {
    write_bytes(out, offset, &value.to_le_bytes())
}

/// Zeroes `out[offset..end]`; `None` when the range is not inside `out`.
#[inline]
pub(crate) fn zero(out: &mut [u8], offset: usize, end: usize) -> Option<()> {
    out.get_mut(offset..end)?.fill(0);
    Some(())
}

/// Rounds `len` up to the record alignment; `None` on overflow.
#[inline]
pub(crate) fn align_up(len: usize) -> Option<usize> {
    let mask = crate::RECORD_ALIGN.checked_sub(1)?;
    Some(len.checked_add(mask)? & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_refuse_out_of_bounds_instead_of_panicking() {
        let bytes = [1u8, 2, 3];
        assert_eq!(read_u16(&bytes, 1), Some(0x0302));
        assert_eq!(read_u16(&bytes, 2), None);
        assert_eq!(read_u32(&bytes, usize::MAX), None);
    }

    #[test]
    fn writes_refuse_out_of_bounds_and_leave_the_buffer_alone() {
        let mut out = [0u8; 3];
        assert_eq!(write_u32(&mut out, 0, 7), None);
        assert_eq!(out, [0, 0, 0]);
        assert_eq!(write_u16(&mut out, 1, 0xABCD), Some(()));
        assert_eq!(out, [0, 0xCD, 0xAB]);
    }

    #[test]
    fn align_up_rounds_to_eight() {
        assert_eq!(align_up(0), Some(0));
        assert_eq!(align_up(1), Some(8));
        assert_eq!(align_up(48), Some(48));
        assert_eq!(align_up(usize::MAX), None);
    }
}
