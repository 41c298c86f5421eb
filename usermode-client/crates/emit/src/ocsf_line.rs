//! The OCSF File System Activity line written straight from the event: the sensor's hottest
//! output path (one line per file event). Byte for byte what serialising [`FileActivity`]
//! with `serde_json` gives (a test checks it on varied events), without building the
//! intermediate structs and their formatted `String`s: constant keys and names are written as
//! pre-escaped bytes, strings are escaped in one pass (eight bytes tested at a time) that
//! copies the runs between escapes, and a [`LineWriter`] keeps what repeats from line to line
//! (each operation's constant parts, the metadata and device, busy processes' parts, the last
//! file object, the time and the sequence number).

use std::sync::Arc;

use picket_model::{CreateDetails, FileEvent, FilePath, Host, Level, Operation, ProcessInfo};

use super::{activity, disposition_name, image_name, result_name, severity, OCSF_VERSION};
use crate::HostInfo;

/// Bytes JSON must escape: `"`, `\` and the control characters.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Eight copies of a byte, one per lane of a `u64`.
const fn lanes(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// Whether any of the eight bytes in `x` needs escaping (exact, no false positives: each
/// test is the classic "has a byte less than n" for n <= 128, and "has a zero byte" after
/// xor-ing out the quote and the backslash).
const fn chunk_needs_escape(x: u64) -> bool {
    const HIGH: u64 = lanes(0x80);
    let control = x.wrapping_sub(lanes(0x20)) & !x;
    let quote = x ^ lanes(b'"');
    let backslash = x ^ lanes(b'\\');
    let quote = quote.wrapping_sub(lanes(1)) & !quote;
    let backslash = backslash.wrapping_sub(lanes(1)) & !backslash;
    (control | quote | backslash) & HIGH != 0
}

/// Whether no byte of `bytes` needs escaping, eight at a time.
fn is_clean(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let clean = chunks.by_ref().all(|chunk| {
        <[u8; 8]>::try_from(chunk).is_ok_and(|c| !chunk_needs_escape(u64::from_le_bytes(c)))
    });
    clean && !chunks.remainder().iter().any(|&b| needs_escape(b))
}

/// Appends the escape sequence `serde_json` writes for `b` (a byte [`needs_escape`]).
fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// A JSON string, escaped exactly as `serde_json` escapes it, in one pass that copies the
/// runs between escapes. Eight bytes are tested at a time: paths and command lines are
/// long and mostly need no escape (Windows paths have a backslash every ten bytes or so,
/// which still leaves most chunks clean).
fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if is_clean(bytes) {
        // The common case (POSIX paths, names, most command lines): one copy.
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        let end = at.saturating_add(8).min(bytes.len());
        if let Some(chunk) = bytes.get(at..end).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
            if !chunk_needs_escape(u64::from_le_bytes(chunk)) {
                at = end;
                continue;
            }
        }
        // A chunk with an escape: copy the clean run before it in one go, then this chunk
        // byte by byte (cheaper than a copy per run when escapes are dense, as the
        // backslashes of Windows paths are).
        out.extend_from_slice(&bytes[start..at]);
        for &b in &bytes[at..end] {
            if needs_escape(b) {
                escape(out, b);
            } else {
                out.push(b);
            }
        }
        at = end;
        start = end;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A JSON string known to need no escape (a part of a string [`is_clean`] accepted).
fn clean_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// An unsigned integer in decimal, as `itoa` (which `serde_json` uses) writes it.
fn number(out: &mut Vec<u8>, n: impl Into<u64>) {
    Decimal::new(n.into()).write(out);
}

/// A number's decimal digits, from the first, in a fixed array: written out as one copy of
/// the whole array cut back to the digits. A copy of fixed size is a few stores the compiler
/// inlines; the digits' own length, `itoa`'s way, was a library `memcpy` call, and numbers
/// made nearly half of a line's calls. Kept, they are written again without dividing (the
/// line's time, which a read's events share; a process's start key).
#[derive(Debug, Clone, Copy)]
struct Decimal {
    value: u64,
    len: usize,
    digits: [u8; 20],
}

impl Decimal {
    fn new(value: u64) -> Self {
        const PAIRS: [[u8; 2]; 100] = {
            let mut pairs = [[0u8; 2]; 100];
            let mut i = 0;
            while i < 100 {
                // Below 100: the casts cannot truncate.
                #[allow(clippy::cast_possible_truncation)]
                {
                    pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
                }
                i += 1;
            }
            pairs
        };
        // `u64::MAX` has 20 digits: `ilog10` is at most 19.
        let len = value.checked_ilog10().map_or(1, |log| log as usize + 1);
        let mut digits = [0u8; 20];
        let mut n = value;
        let mut at = len;
        // Two digits a step, from the last.
        while n >= 100 {
            // Below 100: the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let pair = (n % 100) as usize;
            n /= 100;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair]);
        }
        // Below 100 here, and `at` is 2 or 1 as it has two digits or one.
        #[allow(clippy::cast_possible_truncation)]
        let n = n as usize;
        if n >= 10 {
            digits[..2].copy_from_slice(&PAIRS[n]);
        } else {
            digits[0] = PAIRS[n][1];
        }
        Self { value, len, digits }
    }

    /// Becomes `value + 1` by adding one to the digits (no division: a line's sequence
    /// number is usually the last line's plus one).
    fn increment(&mut self) {
        let Some(value) = self.value.checked_add(1) else {
            return;
        };
        let mut at = self.len;
        while at > 0 {
            at -= 1;
            if self.digits[at] < b'9' {
                self.digits[at] += 1;
                self.value = value;
                return;
            }
            self.digits[at] = b'0';
        }
        // All nines: one digit more.
        *self = Self::new(value);
    }

    fn write(&self, out: &mut Vec<u8>) {
        let end = out.len() + self.len;
        out.extend_from_slice(&self.digits);
        out.truncate(end);
    }
}

/// Lower-case hexadecimal without leading zeros (what `{:x}` writes), without `fmt`: two
/// digits per step.
fn hex(out: &mut Vec<u8>, mut n: u128) {
    const PAIRS: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            pairs[i] = [HEX[i >> 4], HEX[i & 0xf]];
            i += 1;
        }
        pairs
    };
    let mut digits = [0u8; 32];
    let mut at = digits.len();
    loop {
        at -= 2;
        // Masked to eight bits: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let byte = (n & 0xff) as usize;
        digits[at..at + 2].copy_from_slice(&PAIRS[byte]);
        n >>= 8;
        if n == 0 {
            break;
        }
    }
    // The last pair may start with a zero digit; `{:x}` writes none (but writes "0" for 0).
    if digits[at] == b'0' && at + 1 < digits.len() {
        at += 1;
    }
    out.extend_from_slice(&digits[at..]);
}

fn user(out: &mut Vec<u8>, p: &ProcessInfo) {
    out.extend_from_slice(b"{\"name\":");
    opt_string(out, p.user.as_deref());
    if let Some(uid) = p.uid {
        out.extend_from_slice(b",\"uid\":\"");
        number(out, uid);
        out.push(b'"');
    }
    out.push(b'}');
}

/// The file object; returns whether `path` needed no escape. Name, directory and extension
/// are parts of the path: when it is clean, so are they, and they are copied unchecked.
fn file(out: &mut Vec<u8>, path: &FilePath, file_id: u128) -> bool {
    let clean = is_clean(path.path().as_bytes());
    let part = if clean { clean_string } else { string };
    out.extend_from_slice(b"{\"path\":");
    part(out, path.path());
    out.extend_from_slice(b",\"name\":");
    part(out, path.name());
    out.extend_from_slice(b",\"parent_folder\":");
    part(out, path.directory());
    if let Some(ext) = &path.extension() {
        out.extend_from_slice(b",\"ext\":");
        part(out, ext);
    }
    out.extend_from_slice(if path.is_directory {
        b",\"type_id\":2,\"type\":\"Folder\""
    } else {
        b",\"type_id\":1,\"type\":\"Regular File\""
    });
    if file_id != 0 {
        out.extend_from_slice(b",\"uid\":\"");
        hex(out, file_id);
        out.push(b'"');
    }
    out.push(b'}');
    clean
}

/// The last file object rendered, kept for the next: a written file's events (its creation,
/// first write and close; a rename's new name and its deletion) follow one another with the
/// same file, and its object is then one copy instead of the path written three times over.
#[derive(Debug, Default)]
struct RenderedFile {
    /// The path it was rendered from. Compared whole: its directory, name and extension are
    /// spans of its text set by its host's rules, so equal paths with equal spans render
    /// alike, and one comparison of the text decides (four, of each part's text, cost a
    /// sixth of the line's rendering).
    file: FilePath,
    file_id: u128,
    /// What [`file`] returned for it.
    clean: bool,
    /// The object, `{` to `}`.
    bytes: Vec<u8>,
}

impl RenderedFile {
    fn is_of(&self, path: &FilePath, file_id: u128) -> bool {
        // Empty before the first rendering, which must not pass for an empty path's.
        !self.bytes.is_empty() && self.file_id == file_id && self.file == *path
    }

    /// [`file`], from the last rendering when it was of the same file.
    fn write(&mut self, out: &mut Vec<u8>, path: &FilePath, file_id: u128) -> bool {
        if self.is_of(path, file_id) {
            out.extend_from_slice(&self.bytes);
            return self.clean;
        }
        let start = out.len();
        self.clean = file(out, path, file_id);
        // The path's text is shared: kept by reference, not copied.
        self.file.clone_from(path);
        self.file_id = file_id;
        self.bytes.clear();
        self.bytes
            .extend_from_slice(out.get(start..).unwrap_or_default());
        self.clean
    }
}

/// The kernel's original of `path`: the path again unless it differs (`clean` is what
/// [`file`] found for the path).
fn original(out: &mut Vec<u8>, path: &FilePath, clean: bool) {
    if clean && !path.original_differs() {
        clean_string(out, path.path());
    } else {
        string(out, path.original());
    }
}

/// The last `"create"` object rendered, kept for the next: a process's creations mostly
/// share their disposition, result, options and access (on Linux only the first two vary),
/// and the object is then one copy instead of two names and two numbers written again.
#[derive(Debug, Default)]
struct RenderedCreate {
    /// What it was rendered from; `None` before the first.
    details: Option<CreateDetails>,
    /// `,"create":{` to `}`.
    bytes: Vec<u8>,
}

impl RenderedCreate {
    fn write(&mut self, out: &mut Vec<u8>, c: CreateDetails) {
        if self.details != Some(c) {
            let bytes = &mut self.bytes;
            bytes.clear();
            bytes.extend_from_slice(b",\"create\":{\"disposition\":");
            string(bytes, disposition_name(c.disposition));
            bytes.extend_from_slice(b",\"result\":");
            string(bytes, result_name(c.result));
            bytes.extend_from_slice(b",\"options\":");
            number(bytes, c.options);
            bytes.extend_from_slice(b",\"desired_access\":");
            number(bytes, c.desired_access);
            bytes.push(b'}');
            self.details = Some(c);
        }
        out.extend_from_slice(&self.bytes);
    }
}

/// A quoted name from a fixed set (a delete's method), kept for the next: the names repeat
/// from line to line, and comparing a few bytes costs less than checking them for escapes.
#[derive(Debug, Default)]
struct RenderedName {
    name: &'static str,
    /// `name` as a JSON string; empty before the first.
    bytes: Vec<u8>,
}

impl RenderedName {
    fn write(&mut self, out: &mut Vec<u8>, name: &'static str) {
        if self.bytes.is_empty() || self.name != name {
            self.bytes.clear();
            string(&mut self.bytes, name);
            self.name = name;
        }
        out.extend_from_slice(&self.bytes);
    }
}

/// The rendering of one process's part of the line, kept while its events come.
#[derive(Debug)]
struct RenderedActor {
    /// The process it renders (held, so the pointer cannot be reused by another).
    process: Arc<ProcessInfo>,
    /// The host kind of the events it was rendered for.
    host: Host,
    /// `},"device":{…},"actor":{"process":{"pid":…,"uid":"…"`: from the end of the
    /// sequence number to the event's thread id.
    head: Vec<u8>,
    /// From the process's `,"file":` to the end of the actor object and the `,"file":` key
    /// of the event's file.
    tail: Vec<u8>,
    /// The process's start key, which the line's `unmapped` object repeats.
    start_key: Decimal,
}

impl RenderedActor {
    fn new(process: &Arc<ProcessInfo>, host: Host, device: &[u8]) -> Self {
        let mut actor = Self {
            process: Arc::clone(process),
            host,
            head: Vec::with_capacity(device.len() + 64),
            tail: Vec::with_capacity(256),
            start_key: Decimal::new(process.key.start_key),
        };
        actor.render(device);
        actor
    }

    /// Renders `self.process` into the buffers (kept: a slot taken over by another process
    /// reuses them).
    fn render(&mut self, device: &[u8]) {
        let p = &*self.process;
        self.start_key = Decimal::new(p.key.start_key);
        let head = &mut self.head;
        head.clear();
        head.extend_from_slice(device);
        head.extend_from_slice(b",\"actor\":{\"process\":{\"pid\":");
        number(head, p.key.pid);
        head.extend_from_slice(b",\"uid\":\"");
        number(head, p.key.pid);
        head.push(b'-');
        self.start_key.write(head);
        head.push(b'"');
        let out = &mut self.tail;
        out.clear();
        out.extend_from_slice(b",\"file\":{\"path\":");
        opt_string(out, p.image.as_deref());
        out.extend_from_slice(b",\"name\":");
        opt_string(out, p.image.as_deref().map(image_name));
        out.extend_from_slice(b",\"type_id\":1},\"cmd_line\":");
        opt_string(out, p.command_line.as_deref());
        out.extend_from_slice(b",\"user\":");
        user(out, p);
        if let Some(pid) = p.parent_pid {
            out.extend_from_slice(b",\"parent_process\":{\"pid\":");
            number(out, pid);
            if let Some(key) = p.parent_start_key {
                out.extend_from_slice(b",\"uid\":\"");
                number(out, pid);
                out.push(b'-');
                number(out, key);
                out.push(b'"');
            }
            if let Some(image) = p.parent_image.as_deref() {
                out.extend_from_slice(b",\"file\":{\"path\":");
                string(out, image);
                out.extend_from_slice(b",\"name\":");
                string(out, image_name(image));
                out.extend_from_slice(b",\"type_id\":1}");
            }
            if let Some(cmd_line) = p.parent_command_line.as_deref() {
                out.extend_from_slice(b",\"cmd_line\":");
                string(out, cmd_line);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"},\"user\":");
        user(out, p);
        out.extend_from_slice(b"},\"file\":");
    }
}

/// Processes whose rendering is kept: events of a few busy processes interleave, and each
/// finds its own rendering again. Four ways per set, by the `Arc`'s address (see
/// [`actor_set`]); a miss takes the way of its set used least recently.
const ACTOR_SETS: usize = 64;
const ACTOR_WAYS: usize = 4;

/// The set of the process at `address`. Multiplied through (Fibonacci hashing) and taken
/// from the top bits: the allocator places processes' records a size class apart (512
/// bytes, say), and the low bits of their addresses, which a direct-mapped slot used to be,
/// took two values between them. Even spread evenly, 37 interleaved processes (the pipeline
/// benchmark's) collide in 64 direct-mapped slots, and a third process in the same set of
/// two ways is likely somewhere; a fifth in a set of four is not (the benchmark's 30 000
/// lines: 8 200 to 17 400 renderings direct-mapped, 5 000 with two ways, 37 with four: one
/// per process).
fn actor_set(address: usize) -> usize {
    const SET_BITS: u32 = ACTOR_SETS.trailing_zeros();
    let mixed = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SET_BITS);
    usize::try_from(mixed).unwrap_or(0) % ACTOR_SETS
}

/// The constant parts of a line for one operation.
#[derive(Debug)]
struct OperationPieces {
    operation: Operation,
    /// From the start of the line to `"time":`.
    head: Vec<u8>,
    /// `,"unmapped":{"picket":{"operation":"…","original_path":`.
    unmapped: Vec<u8>,
}

impl OperationPieces {
    fn new(operation: Operation) -> Self {
        let (activity_id, activity_name) = activity(operation);
        let (severity_id, severity_name) = severity(Level::Informational);
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(
            b"{\"class_uid\":1001,\"class_name\":\"File System Activity\",\"category_uid\":1,\"category_name\":\"System Activity\",\"activity_id\":",
        );
        number(&mut head, activity_id);
        head.extend_from_slice(b",\"activity_name\":");
        string(&mut head, activity_name);
        head.extend_from_slice(b",\"type_uid\":");
        number(&mut head, 100_100 + u32::from(activity_id));
        head.extend_from_slice(b",\"severity_id\":");
        number(&mut head, severity_id);
        head.extend_from_slice(b",\"severity\":");
        string(&mut head, severity_name);
        head.extend_from_slice(b",\"time\":");
        let mut unmapped = Vec::with_capacity(64);
        unmapped.extend_from_slice(b",\"unmapped\":{\"picket\":{\"operation\":");
        string(&mut unmapped, operation.as_str());
        unmapped.extend_from_slice(b",\"original_path\":");
        Self {
            operation,
            head,
            unmapped,
        }
    }
}

/// Writes OCSF file-activity lines for one host. What does not change from event to event
/// is rendered once: the metadata and device objects, and the acting process's part while
/// the process stays busy (the pipeline shares one `Arc<ProcessInfo>` between a process's
/// events, so a pointer comparison finds it; the held `Arc` keeps the pointer from being
/// reused by another process).
#[derive(Debug)]
pub struct LineWriter {
    /// `,"metadata":{…,"sequence":` (the sequence number follows).
    metadata: Vec<u8>,
    /// `},"device":{…}` for a Windows event (closing the metadata object first).
    device_windows: Vec<u8>,
    /// `},"device":{…}` for a Linux event.
    device_linux: Vec<u8>,
    /// Recent processes rendered, by slot.
    actors: Vec<Option<RenderedActor>>,
    /// When each entry was used last (in lines written).
    used: Vec<u64>,
    lines: u64,
    /// The constant parts of each operation's lines.
    operations: Vec<OperationPieces>,
    /// The last file object.
    last_file: RenderedFile,
    /// The last create object.
    last_create: RenderedCreate,
    /// The last delete method.
    last_delete_method: RenderedName,
    /// The last line's time (a read's events share it).
    time: Decimal,
    /// The last line's sequence number (the next is usually one more).
    seq: Decimal,
}

impl LineWriter {
    /// A writer for events of `host`.
    #[must_use]
    pub fn new(host: &HostInfo) -> Self {
        let mut metadata = Vec::with_capacity(96);
        metadata.extend_from_slice(b",\"metadata\":{\"version\":");
        string(&mut metadata, OCSF_VERSION);
        metadata.extend_from_slice(
            b",\"product\":{\"name\":\"Picket\",\"vendor_name\":\"Picket\",\"version\":",
        );
        string(&mut metadata, env!("CARGO_PKG_VERSION"));
        metadata.extend_from_slice(b"},\"sequence\":");
        let device = |os: &[u8]| {
            let mut out = Vec::with_capacity(96);
            out.extend_from_slice(b"},\"device\":{\"hostname\":");
            opt_string(&mut out, host.hostname.as_deref());
            out.extend_from_slice(os);
            out
        };
        Self {
            metadata,
            device_windows: device(
                b",\"os\":{\"type\":\"windows\",\"type_id\":100,\"name\":\"Windows\"}}",
            ),
            device_linux: device(
                b",\"os\":{\"type\":\"linux\",\"type_id\":200,\"name\":\"Linux\"}}",
            ),
            actors: std::iter::repeat_with(|| None)
                .take(ACTOR_SETS * ACTOR_WAYS)
                .collect(),
            used: vec![0; ACTOR_SETS * ACTOR_WAYS],
            lines: 0,
            operations: Operation::ALL
                .into_iter()
                .map(OperationPieces::new)
                .collect(),
            last_file: RenderedFile::default(),
            last_create: RenderedCreate::default(),
            last_delete_method: RenderedName::default(),
            time: Decimal::new(0),
            seq: Decimal::new(0),
        }
    }

    /// Appends the line (without its newline) for `event`.
    pub fn file_activity(&mut self, out: &mut Vec<u8>, event: &FileEvent) {
        let (subject, result) = match event.source.as_deref() {
            Some(source) => (source, Some(&event.target)),
            None => (&event.target, None),
        };
        let pieces = match self
            .operations
            .iter()
            .position(|o| o.operation == event.operation)
        {
            Some(at) => &self.operations[at],
            None => {
                self.operations.push(OperationPieces::new(event.operation));
                let last = self.operations.len() - 1;
                &self.operations[last]
            }
        };
        out.extend_from_slice(&pieces.head);
        let millis = event.time.unix_millis();
        if self.time.value != millis {
            self.time = Decimal::new(millis);
        }
        self.time.write(out);
        out.extend_from_slice(&self.metadata);
        if self.seq.value.checked_add(1) == Some(event.seq) {
            self.seq.increment();
        } else if self.seq.value != event.seq {
            self.seq = Decimal::new(event.seq);
        }
        self.seq.write(out);
        let p = &event.process;
        let device = match event.host {
            Host::Windows => &self.device_windows,
            Host::Linux => &self.device_linux,
        };
        let set = actor_set(Arc::as_ptr(p) as usize);
        let ways = set * ACTOR_WAYS..(set + 1) * ACTOR_WAYS;
        let found = self.actors[ways.clone()].iter().position(|slot| {
            slot.as_ref()
                .is_some_and(|a| Arc::ptr_eq(&a.process, p) && a.host == event.host)
        });
        // A miss takes the way of the set used least recently (an empty one never was).
        let way = found.unwrap_or_else(|| {
            self.used[ways.clone()]
                .iter()
                .enumerate()
                .min_by_key(|&(_, &used)| used)
                .map_or(0, |(way, _)| way)
        });
        self.lines += 1;
        self.used[ways.start + way] = self.lines;
        let actor = match &mut self.actors[ways.start + way] {
            Some(actor) if found.is_some() => actor,
            Some(actor) => {
                actor.process = Arc::clone(p);
                actor.host = event.host;
                actor.render(device);
                actor
            }
            empty @ None => empty.insert(RenderedActor::new(p, event.host, device)),
        };
        out.extend_from_slice(&actor.head);
        if event.thread_id != 0 {
            out.extend_from_slice(b",\"tid\":");
            number(out, event.thread_id);
        }
        out.extend_from_slice(&actor.tail);
        let subject_clean = self.last_file.write(out, subject, event.details.file_id);
        let result_clean = result.map(|result| {
            out.extend_from_slice(b",\"file_result\":");
            self.last_file.write(out, result, event.details.file_id)
        });
        out.extend_from_slice(&pieces.unmapped);
        original(out, subject, subject_clean);
        rest(
            out,
            event,
            (
                &actor.start_key,
                &mut self.last_create,
                &mut self.last_delete_method,
            ),
            subject,
            result.zip(result_clean),
        );
    }
}

/// Appends the line (without its newline) for `event`. A [`LineWriter`] kept between events
/// writes the same bytes with less work.
pub fn file_activity(out: &mut Vec<u8>, event: &FileEvent, host: &HostInfo) {
    LineWriter::new(host).file_activity(out, event);
}

/// From the event's `"original_new_path"` to the end of the line.
fn rest(
    out: &mut Vec<u8>,
    event: &FileEvent,
    (start_key, last_create, last_delete_method): (
        &Decimal,
        &mut RenderedCreate,
        &mut RenderedName,
    ),
    subject: &FilePath,
    result: Option<(&FilePath, bool)>,
) {
    let d = &event.details;
    if let Some((result, clean)) = result {
        out.extend_from_slice(b",\"original_new_path\":");
        original(out, result, clean);
    }
    out.extend_from_slice(b",\"process_start_key\":");
    start_key.write(out);
    if d.handle_id != 0 {
        out.extend_from_slice(b",\"handle_id\":");
        number(out, d.handle_id);
    }
    if let Some(c) = d.create {
        last_create.write(out, c);
    }
    if let Some(method) = d.delete_method {
        out.extend_from_slice(b",\"delete_method\":");
        last_delete_method.write(out, method);
    }
    if d.named_stream {
        out.extend_from_slice(b",\"named_stream\":true");
    }
    if let Some(size) = d.new_size {
        out.extend_from_slice(b",\"new_size\":");
        number(out, size);
    }
    if let Some(kind) = d.size_kind {
        out.extend_from_slice(b",\"size_kind\":");
        string(out, kind);
    }
    if let Some(attributes) = d.attributes {
        out.extend_from_slice(b",\"attributes\":");
        number(out, attributes);
    }
    if let Some(flags) = d.link_flags {
        out.extend_from_slice(b",\"link_flags\":");
        number(out, flags);
    }
    if subject.truncated {
        out.extend_from_slice(b",\"path_truncated\":true");
    }
    if result.is_some_and(|(r, _)| r.truncated) {
        out.extend_from_slice(b",\"new_path_truncated\":true");
    }
    if let Some(entropy) = event.entropy {
        out.extend_from_slice(b",\"entropy\":");
        let _ = serde_json::to_writer(&mut *out, &entropy);
    }
    out.extend_from_slice(b"}}}");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use picket_model::{CreateDetails, Details, Operation, ProcessInfo, ProcessKey, Timestamp};

    use super::*;
    use crate::ocsf::FileActivity;

    /// Windows-looking paths carry a kernel original that differs; POSIX ones, as on Linux,
    /// do not (the writer then copies the path's rendering).
    fn path(p: &str) -> FilePath {
        let path = FilePath::from_text(p);
        if p.starts_with('/') {
            path
        } else {
            path.with_original(format!(r"\Device\HarddiskVolume3{p}"))
        }
    }

    #[allow(clippy::field_reassign_with_default)] // Robust to fields added to the model.
    fn events() -> Vec<FileEvent> {
        let names = [
            r"C:\Users\José\AppData\Local\Temp\a.tmp",
            "/home/bob/notes.txt",
            "/tmp/new\nline \"q\"\\.txt",
            "C:\\odd \"quoted\"\\tab\there\\nl\nx\u{1}\u{8}\u{c}\r\u{1f}\u{7f}.bin",
            r"C:\Users\Дмитрий\Documents\Отчёт.docx",
            "plain",
        ];
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for (k, operation) in Operation::ALL.into_iter().enumerate() {
                let rich = (i + k) % 2 == 0;
                let mut info = ProcessInfo::default();
                info.key = ProcessKey {
                    pid: 40 + u32::try_from(k).unwrap(),
                    start_key: 9_000_000_000 + k as u64,
                };
                info.image = rich.then(|| r"C:\Windows\System32\cmd.exe".to_owned());
                info.command_line = rich.then(|| "cmd /c \"echo\\x\"".to_owned());
                info.user = rich.then(|| r"CORP\José".to_owned());
                info.uid = (!rich).then_some(1000);
                info.parent_pid = (rich || k % 3 == 0).then_some(4);
                info.parent_start_key = (rich && k % 2 == 0).then_some(17);
                info.parent_image = rich.then(|| "/usr/bin/ba\"sh".to_owned());
                info.parent_command_line = (k % 4 == 0).then(|| "bash -c 'x\ty'".to_owned());
                let process = Arc::new(info);
                let source =
                    matches!(operation, Operation::Rename | Operation::HardLink).then(|| {
                        let mut source = path(&format!("{name}.old"));
                        source.truncated = rich;
                        source
                    });
                out.push(FileEvent {
                    seq: (i * 100 + k) as u64,
                    // Half a millisecond apart: pairs share the millisecond the line shows.
                    time: Timestamp::from_unix_nanos(
                        1_700_000_000_123_456_789 + k as u64 * 500_000,
                    ),
                    host: if name.starts_with('/') {
                        Host::Linux
                    } else {
                        Host::Windows
                    },
                    operation,
                    process,
                    thread_id: u32::try_from(k % 3).unwrap(),
                    target: {
                        let mut target = path(name);
                        target.truncated = !rich && k == 1;
                        target.is_directory = k == 2;
                        target
                    },
                    source: source.map(Box::new),
                    details: Details {
                        handle_id: if rich { 77 } else { 0 },
                        file_id: if rich { 0xdead_beef_u128 << 70 } else { 0 },
                        create: rich.then_some(CreateDetails {
                            disposition: 2,
                            options: 0x40,
                            desired_access: 0x12_0116,
                            result: 2,
                        }),
                        delete_method: rich.then_some("disposition_ex"),
                        named_stream: rich && k % 3 == 1,
                        new_size: rich.then_some(4096),
                        size_kind: (k % 2 == 1).then_some("valid_data_length"),
                        attributes: rich.then_some(0x20),
                        link_flags: rich.then_some(1),
                    },
                    entropy: rich.then_some(7.25 + k as f64 / 3.0),
                });
            }
        }
        out
    }

    /// One writer over a stream: runs of one process (the cached rendering is reused), a
    /// change of process, a return to an earlier one, and an equal but distinct process.
    /// The kept writer's line for `event` is exactly serde's.
    fn assert_writes_serde(writer: &mut LineWriter, event: &FileEvent, host: &HostInfo) {
        let mut fast = Vec::new();
        writer.file_activity(&mut fast, event);
        let serde = serde_json::to_vec(&FileActivity::new(event, host)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&serde),
            "{event:?}"
        );
    }

    #[test]
    fn a_kept_writer_writes_exactly_what_serde_writes() {
        let host = HostInfo {
            hostname: Some("h\u{1}".to_owned()),
        };
        let mut writer = LineWriter::new(&host);
        let stream = events();
        let mut shared = stream.clone();
        let first = Arc::clone(&shared[0].process);
        for event in shared.iter_mut().step_by(3) {
            event.process = Arc::clone(&first);
        }
        let mut twin = shared[1].clone();
        twin.process = Arc::new((*shared[1].process).clone());
        shared.push(twin);
        for event in stream.iter().chain(&shared).chain(stream.iter().rev()) {
            assert_writes_serde(&mut writer, event, &host);
        }
    }

    /// The create object and the delete method are copied from the last line only when
    /// they are the same: each field changed on its own, and a return to an earlier value,
    /// is written anew, and every line is exactly serde's.
    #[test]
    fn a_repeated_create_or_delete_method_is_reused_only_when_equal() {
        let host = HostInfo::default();
        let mut writer = LineWriter::new(&host);
        let base = events()[0].clone();
        let first = CreateDetails {
            disposition: 2,
            options: 0x40,
            desired_access: 0x12_0116,
            result: 2,
        };
        let creates = [
            first,
            first,
            CreateDetails {
                disposition: 3,
                ..first
            },
            CreateDetails { result: 1, ..first },
            CreateDetails {
                options: 0x41,
                ..first
            },
            CreateDetails {
                desired_access: 0x8000_0000,
                ..first
            },
            first,
        ];
        for create in creates {
            let mut event = base.clone();
            event.operation = Operation::Create;
            event.details.create = Some(create);
            assert_writes_serde(&mut writer, &event, &host);
        }
        let mut without = base.clone();
        without.details.create = None;
        assert_writes_serde(&mut writer, &without, &host);
        for method in [
            "unlink",
            "unlink",
            "disposition",
            "disposition_ex",
            "unlink",
        ] {
            let mut event = base.clone();
            event.operation = Operation::Delete;
            event.details.delete_method = Some(method);
            assert_writes_serde(&mut writer, &event, &host);
        }
    }

    /// A file's object is copied from the last line when it is the same file: the same
    /// path with another id, kind, or split into other parts (another host's rules) is
    /// rendered anew, and every line is exactly serde's.
    #[test]
    fn a_repeated_file_object_is_reused_only_for_the_same_file() {
        let host = HostInfo::default();
        let mut writer = LineWriter::new(&host);
        let base = events()[0].clone();
        let text = r"C:\Users\a/b\c.d/e.txt";
        // First an empty path (a zero-length name decodes to one) with no id: the kept
        // object starts empty and must not pass for its rendering.
        let mut empty = base.clone();
        empty.details.file_id = 0;
        empty.target = FilePath::from_text("");
        let mut stream = vec![empty];
        for (file_id, is_directory, separators) in [
            (7, false, &['/', '\\'][..]),
            (7, false, &['/', '\\'][..]),
            (8, false, &['/', '\\'][..]),
            (8, true, &['/', '\\'][..]),
            (8, true, &['\\'][..]),
            (8, true, &['\\'][..]),
            (8, true, &['/'][..]),
        ] {
            let mut event = base.clone();
            event.details.file_id = file_id;
            event.target = FilePath::from_text_at(text, separators);
            event.target.is_directory = is_directory;
            stream.push(event);
        }
        let mut rename = stream[1].clone();
        rename.source = Some(Box::new(stream[1].target.clone()));
        rename.target = FilePath::from_text(r"C:\Users\a\c.locked");
        stream.push(rename);
        stream.push(stream[1].clone());
        for event in &stream {
            assert_writes_serde(&mut writer, event, &host);
        }
    }

    /// Processes' records a size class apart (as an allocator places them) take nearly as
    /// many sets as there are processes; the address's low bits gave them two.
    #[test]
    fn processes_a_size_class_apart_take_different_sets() {
        for stride in [64_usize, 256, 512, 1024, 4096] {
            let sets: std::collections::HashSet<usize> = (0..16)
                .map(|k| actor_set(0x7f3a_5c00_0000 + k * stride))
                .collect();
            assert!(sets.len() >= 12, "stride {stride}: {} sets", sets.len());
        }
    }

    /// More busy processes than slots, interleaved twice over: slots are taken over and
    /// rendered again, and every line is still exactly serde's.
    #[test]
    fn taken_over_slots_render_the_new_process() {
        let host = HostInfo::default();
        let mut writer = LineWriter::new(&host);
        let base = &events()[0];
        let processes: Vec<Arc<ProcessInfo>> = (0..3 * ACTOR_SETS * ACTOR_WAYS)
            .map(|i| {
                let mut p = (*base.process).clone();
                p.key.pid = 1000 + u32::try_from(i).unwrap();
                p.command_line = Some(format!("worker --id {i}"));
                Arc::new(p)
            })
            .collect();
        for round in 0..2 {
            for (i, process) in processes.iter().enumerate() {
                let mut event = base.clone();
                event.process = Arc::clone(process);
                event.seq = (round * 1000 + i) as u64;
                let mut fast = Vec::new();
                writer.file_activity(&mut fast, &event);
                let serde = serde_json::to_vec(&FileActivity::new(&event, &host)).unwrap();
                assert_eq!(fast, serde, "process {i}, round {round}");
            }
        }
    }

    /// Every digit count, both sides of each power of ten, and the extremes.
    #[test]
    fn number_writes_what_format_writes() {
        let mut values: Vec<u64> = (0..=1000).chain([u64::MAX, u64::MAX - 1]).collect();
        let mut power = 1_u64;
        while let Some(next) = power.checked_mul(10) {
            values.extend([power - 1, power, power + 1, next / 2 + 7]);
            power = next;
        }
        values.extend([power - 1, power, power + 1]);
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        let mut out = b"prefix:".to_vec();
        for n in values {
            out.truncate(7);
            number(&mut out, n);
            assert_eq!(out, format!("prefix:{n}").as_bytes(), "{n}");
            let kept = Decimal::new(n);
            kept.write(&mut out);
            assert_eq!(out, format!("prefix:{n}{n}").as_bytes(), "{n} kept");
            let mut next = kept;
            next.increment();
            let expected = Decimal::new(n.saturating_add(1));
            assert_eq!(next.value, expected.value, "{n} + 1");
            assert_eq!(
                next.digits[..next.len],
                expected.digits[..expected.len],
                "{n} + 1"
            );
        }
    }

    #[test]
    fn hex_writes_what_format_writes() {
        let mut values = vec![
            0_u128,
            1,
            0xf,
            0x10,
            0xff,
            0x100,
            0xabc,
            u128::MAX,
            u128::MAX >> 4,
        ];
        values.extend((0..128).map(|shift| 1_u128 << shift));
        values.extend((0..128).map(|shift| (1_u128 << shift) - 1));
        for n in values {
            let mut out = Vec::new();
            hex(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n:x}"), "{n}");
        }
    }

    /// The eight-byte test agrees with the byte test on every byte in every lane.
    #[test]
    fn chunk_test_agrees_with_the_byte_test() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut chunk = [b'a'; 8];
                chunk[lane] = b;
                assert_eq!(
                    chunk_needs_escape(u64::from_le_bytes(chunk)),
                    needs_escape(b),
                    "byte {b:#x} in lane {lane}"
                );
                // Neighbours that would borrow or carry must not hide or invent one.
                let mut high = [0xffu8; 8];
                high[lane] = b;
                assert_eq!(
                    chunk_needs_escape(u64::from_le_bytes(high)),
                    needs_escape(b),
                    "byte {b:#x} among 0xff in lane {lane}"
                );
            }
        }
        let mut escaped = Vec::new();
        string(&mut escaped, "0123456\"89abcdef\\x\u{7}yz");
        assert_eq!(escaped, br#""0123456\"89abcdef\\x\u0007yz""#);
    }

    #[test]
    fn writes_exactly_what_serde_writes() {
        for hostname in [None, Some("ws-01 \"lab\"".to_owned())] {
            let host = HostInfo { hostname };
            for event in events() {
                let mut fast = Vec::new();
                file_activity(&mut fast, &event, &host);
                let serde = serde_json::to_vec(&FileActivity::new(&event, &host)).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&serde),
                    "{event:?}"
                );
            }
        }
    }
}
