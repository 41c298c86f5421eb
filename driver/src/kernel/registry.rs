//! Reads the `Parameters` values (`RingCapacity`, `MaxBatchBytes`, `SendTimeoutMs`) of the
//! service key `DriverEntry` was given. `PASSIVE_LEVEL`.

use wdk_sys::{
    ntddk::{ZwClose, ZwOpenKey, ZwQueryValueKey},
    _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation,
    HANDLE, KEY_READ, KEY_VALUE_PARTIAL_INFORMATION, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE,
    PCUNICODE_STRING, REG_DWORD,
};

use super::flt::{nt_success, object_attributes};
use super::ustr::{unicode, utf16};
use crate::config::{DriverConfig, MAX_BATCH_BYTES, RING_CAPACITY, SEND_TIMEOUT_MS};

static PARAMETERS: [u16; 10] = utf16("Parameters");
static RING_CAPACITY_NAME: [u16; 12] = utf16(RING_CAPACITY.name);
static MAX_BATCH_BYTES_NAME: [u16; 13] = utf16(MAX_BATCH_BYTES.name);
static SEND_TIMEOUT_MS_NAME: [u16; 13] = utf16(SEND_TIMEOUT_MS.name);

/// An open registry key, closed on drop.
struct Key(HANDLE);

impl Key {
    /// Opens `name` relative to `root` (or the absolute `name` when `root` is null).
    fn open(root: HANDLE, name: &mut wdk_sys::UNICODE_STRING) -> Option<Self> {
        let mut attributes = object_attributes(
            name,
            OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
            root,
            core::ptr::null_mut(),
        );
        let mut handle: HANDLE = core::ptr::null_mut();
        // SAFETY: both out-pointers are valid locals; the name buffer is valid for the call.
        let status = unsafe { ZwOpenKey(&raw mut handle, KEY_READ, &raw mut attributes) };
        // Not `then_some(Self(handle))`: that `Key` would be built eagerly and, on failure,
        // dropped, closing the null handle (`ZwClose(NULL)`).
        if nt_success(status) {
            Some(Self(handle))
        } else {
            None
        }
    }

    /// A `REG_DWORD` value; `None` when missing or of another type or size.
    fn dword(&self, name: &'static [u16]) -> Option<u32> {
        /// `KEY_VALUE_PARTIAL_INFORMATION` with room for 4 data bytes.
        #[repr(C)]
        struct Partial {
            info: KEY_VALUE_PARTIAL_INFORMATION,
            _rest: [u8; 4],
        }
        // SAFETY: plain C data; all-zero is valid.
        let mut buffer: Partial = unsafe { core::mem::zeroed() };
        let mut name = unicode(name);
        let mut returned = 0u32;
        // SAFETY: the key is open; `buffer` is a local of the size passed; out-pointers are
        // valid locals.
        let status = unsafe {
            ZwQueryValueKey(
                self.0,
                &raw mut name,
                KeyValuePartialInformation,
                core::ptr::addr_of_mut!(buffer).cast(),
                u32::try_from(core::mem::size_of::<Partial>()).unwrap_or(0),
                &raw mut returned,
            )
        };
        if !nt_success(status) || buffer.info.Type != REG_DWORD || buffer.info.DataLength != 4 {
            return None;
        }
        // `Data` starts at offset 12 and the 4 data bytes run into `_rest`: copy them out
        // of the struct's bytes without indexing.
        let base = core::ptr::addr_of!(buffer.info.Data).cast::<[u8; 4]>();
        // SAFETY: `Data` (1 byte) is followed by `_rest`/padding inside `buffer`, so 4 bytes
        // from `base` are inside the local; `[u8; 4]` has alignment 1.
        let bytes = unsafe { base.read() };
        Some(u32::from_le_bytes(bytes))
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the handle is an open kernel handle owned by this value.
        let _ = unsafe { ZwClose(self.0) };
    }
}

/// The configuration from `<registry_path>\Parameters`; defaults when anything is missing.
pub fn read_config(registry_path: PCUNICODE_STRING) -> DriverConfig {
    // SAFETY: `registry_path` is the valid UNICODE_STRING DriverEntry received.
    let Some(service) = (unsafe { registry_path.as_ref() }) else {
        return DriverConfig::default();
    };
    let mut service_name = *service;
    let Some(service) = Key::open(core::ptr::null_mut(), &mut service_name) else {
        return DriverConfig::default();
    };
    let mut parameters_name = unicode(&PARAMETERS);
    let Some(parameters) = Key::open(service.0, &mut parameters_name) else {
        return DriverConfig::default();
    };
    DriverConfig::from_raw(
        parameters.dword(&RING_CAPACITY_NAME),
        parameters.dword(&MAX_BATCH_BYTES_NAME),
        parameters.dword(&SEND_TIMEOUT_MS_NAME),
    )
}
