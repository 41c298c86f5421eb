//! The Windows inspector: image, command line and user of a process, with a handle kept
//! open so its exit is noticed.
//!
//! User mode cannot read `PsGetProcessStartKey`. PID reuse is ruled out instead by the
//! process's creation time: a process created after the event it is asked about cannot
//! have caused it. Once opened, the handle pins the identity: `is_alive` asks the handle
//! (signalled = exited), and a later process with the same pid arrives with another start
//! key, hence another cache entry.

use std::collections::HashMap;
use std::ptr::{null, null_mut};

use picket_enrich::ProcessInspector;
use picket_model::{ProcessInfo, ProcessKey, Timestamp};
use windows_sys::Wdk::System::Threading::{
    NtQueryInformationProcess, ProcessCommandLineInformation,
};
use windows_sys::Win32::Foundation::{FILETIME, STATUS_INFO_LENGTH_MISMATCH, WAIT_TIMEOUT};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountSidW, TokenUser, SID_NAME_USE, TOKEN_QUERY,
};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, OpenProcessToken, QueryFullProcessImageNameW,
    WaitForSingleObject, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE,
};

use crate::handle::OwnedHandle;
use crate::logic::filetime;

fn text(units: &[u16]) -> String {
    picket_parse::text::utf16_text(
        &units
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// Looks processes up with `OpenProcess`; keeps one handle per cached process.
#[derive(Debug, Default)]
pub struct WindowsInspector {
    handles: HashMap<ProcessKey, OwnedHandle>,
}

fn creation_time(process: &OwnedHandle) -> Option<u64> {
    let (mut created, mut exited, mut kernel, mut user) = (
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
    );
    // SAFETY: the handle is open with PROCESS_QUERY_LIMITED_INFORMATION; the out pointers
    // are valid locals.
    let ok = unsafe {
        GetProcessTimes(
            process.raw(),
            &raw mut created,
            &raw mut exited,
            &raw mut kernel,
            &raw mut user,
        )
    };
    (ok != 0).then(|| filetime(created.dwLowDateTime, created.dwHighDateTime))
}

fn image(process: &OwnedHandle) -> Option<String> {
    let mut buffer = vec![0u16; 32_768];
    let mut len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
    // SAFETY: `buffer` holds `len` code units; `len` is a valid in/out pointer.
    let ok = unsafe {
        QueryFullProcessImageNameW(
            process.raw(),
            PROCESS_NAME_WIN32,
            buffer.as_mut_ptr(),
            &raw mut len,
        )
    };
    let len = usize::try_from(len).unwrap_or(0);
    (ok != 0).then(|| text(buffer.get(..len).unwrap_or_default()))
}

/// `ProcessCommandLineInformation` returns a `UNICODE_STRING` whose buffer lies inside our
/// own output buffer: its position is computed from the pointer, then read with bounds
/// checks — never dereferenced.
fn command_line(process: &OwnedHandle) -> Option<String> {
    let mut storage = vec![0u64; 512];
    for _ in 0..3 {
        let size = u32::try_from(storage.len() * 8).unwrap_or(u32::MAX);
        let mut needed = 0u32;
        // SAFETY: `storage` is `size` bytes, 8-byte aligned; `needed` is a valid out pointer.
        let status = unsafe {
            NtQueryInformationProcess(
                process.raw(),
                ProcessCommandLineInformation,
                storage.as_mut_ptr().cast(),
                size,
                &raw mut needed,
            )
        };
        if status == STATUS_INFO_LENGTH_MISMATCH {
            storage = vec![0u64; usize::try_from(needed).unwrap_or(0).div_ceil(8).max(1)];
            continue;
        }
        if status < 0 {
            return None;
        }
        let bytes: Vec<u8> = storage.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let length = usize::from(u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]));
        let pointer = usize::from_ne_bytes(bytes.get(8..16)?.try_into().ok()?);
        let offset = pointer.checked_sub(storage.as_ptr() as usize)?;
        let units: Vec<u16> = bytes
            .get(offset..offset.checked_add(length)?)?
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        return Some(text(&units));
    }
    None
}

fn user(process: &OwnedHandle) -> Option<String> {
    let mut raw = null_mut();
    // SAFETY: the process handle is open; `raw` is a valid out pointer.
    let ok = unsafe { OpenProcessToken(process.raw(), TOKEN_QUERY, &raw mut raw) };
    if ok == 0 {
        return None;
    }
    let token = OwnedHandle::new(raw)?;
    let mut storage = vec![0u64; 64];
    let mut needed = 0u32;
    let size = u32::try_from(storage.len() * 8).unwrap_or(u32::MAX);
    // SAFETY: `storage` is `size` bytes, 8-byte aligned; `needed` is a valid out pointer.
    let ok = unsafe {
        GetTokenInformation(
            token.raw(),
            TokenUser,
            storage.as_mut_ptr().cast(),
            size,
            &raw mut needed,
        )
    };
    if ok == 0 {
        return None;
    }
    // TOKEN_USER starts with the SID pointer, which points into `storage` (still alive).
    let sid = std::ptr::with_exposed_provenance_mut::<core::ffi::c_void>(
        usize::try_from(*storage.first()?).ok()?,
    );
    let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
    let (mut name_len, mut domain_len) = (256u32, 256u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: `sid` points into `storage`, which outlives the call; the name buffers hold
    // the lengths given; the out pointers are valid locals.
    let ok = unsafe {
        LookupAccountSidW(
            null(),
            sid,
            name.as_mut_ptr(),
            &raw mut name_len,
            domain.as_mut_ptr(),
            &raw mut domain_len,
            &raw mut kind,
        )
    };
    if ok == 0 {
        return None;
    }
    name.truncate(usize::try_from(name_len).unwrap_or(0));
    domain.truncate(usize::try_from(domain_len).unwrap_or(0));
    Some(format!(r"{}\{}", text(&domain), text(&name)))
}

impl ProcessInspector for WindowsInspector {
    fn inspect(&mut self, key: ProcessKey, seen_at: Timestamp) -> ProcessInfo {
        let unknown = ProcessInfo {
            key,
            ..ProcessInfo::default()
        };
        // SAFETY: no pointers; a failure returns null, handled by `OwnedHandle::new`.
        let raw = unsafe {
            OpenProcess(
                PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
                0,
                key.pid,
            )
        };
        let Some(process) = OwnedHandle::new(raw) else {
            return unknown;
        };
        match creation_time(&process) {
            // Created after the event: the pid was reused, this is not the process.
            Some(created) if seen_at.0 != 0 && created > seen_at.0 => return unknown,
            None => return unknown,
            Some(_) => {}
        }
        let info = ProcessInfo {
            key,
            image: image(&process),
            command_line: command_line(&process),
            user: user(&process),
            uid: None,
            parent_pid: None,
            ..ProcessInfo::default()
        };
        self.handles.insert(key, process);
        info
    }

    fn is_alive(&mut self, key: ProcessKey) -> bool {
        self.handles.get(&key).is_some_and(|process| {
            // SAFETY: the handle is open with SYNCHRONIZE; a zero timeout only polls.
            let state = unsafe { WaitForSingleObject(process.raw(), 0) };
            state == WAIT_TIMEOUT
        })
    }

    fn forget(&mut self, key: ProcessKey) {
        self.handles.remove(&key);
    }
}
