//! Byte offsets of every field: the single place the encoder and the decoder take them from.
//! `docs/PROTOCOL.md` documents the same table for C and Python authors.

/// Batch header.
pub(crate) mod batch {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const MAJOR: usize = 4;
    pub(crate) const MINOR: usize = 6;
    pub(crate) const HEADER_LEN: usize = 8;
    pub(crate) const FLAGS: usize = 10;
    pub(crate) const RECORD_COUNT: usize = 12;
    pub(crate) const TOTAL_LEN: usize = 16;
    pub(crate) const RESERVED: usize = 20;
    pub(crate) const FIRST_SEQ: usize = 24;
    pub(crate) const LOST_SINCE_PREVIOUS: usize = 32;
}

/// Common record header.
pub(crate) mod record {
    pub(crate) const LEN: usize = 0;
    pub(crate) const KIND: usize = 4;
    pub(crate) const FLAGS: usize = 6;
    pub(crate) const SEQ: usize = 8;
    pub(crate) const TIMESTAMP: usize = 16;
    pub(crate) const PID: usize = 24;
    pub(crate) const TID: usize = 28;
    pub(crate) const PROCESS_START_KEY: usize = 32;
    pub(crate) const FIXED_LEN: usize = 40;
    pub(crate) const NAME_LEN: usize = 42;
    pub(crate) const NEW_NAME_LEN: usize = 44;
    pub(crate) const RESERVED: usize = 46;
}

/// Fixed part shared by every file record: handle id and file id.
pub(crate) mod file {
    pub(crate) const HANDLE_ID: usize = 0;
    pub(crate) const FILE_ID: usize = 8;
    // The kind's own fields start at 24.
}

/// `FileCreate` fixed part.
pub(crate) mod create {
    pub(crate) const DISPOSITION: usize = 24;
    pub(crate) const CREATE_OPTIONS: usize = 28;
    pub(crate) const DESIRED_ACCESS: usize = 32;
    pub(crate) const RESULT: usize = 36;
    pub(crate) const LEN: usize = 40;
}

/// `FirstWrite` / `CloseModified` fixed part.
pub(crate) mod file_op {
    pub(crate) const LEN: usize = 24;
}

/// `Rename` / `HardLink` fixed part.
pub(crate) mod link {
    pub(crate) const FLAGS: usize = 24;
    pub(crate) const RESERVED: usize = 28;
    pub(crate) const LEN: usize = 32;
}

/// `Delete` / `DeleteStream` fixed part.
pub(crate) mod delete {
    pub(crate) const METHOD: usize = 24;
    pub(crate) const RESERVED: usize = 28;
    pub(crate) const LEN: usize = 32;
}

/// `SetSize` fixed part.
pub(crate) mod set_size {
    pub(crate) const NEW_SIZE: usize = 24;
    pub(crate) const KIND: usize = 32;
    pub(crate) const RESERVED: usize = 36;
    pub(crate) const LEN: usize = 40;
}

/// `SetAttributes` fixed part.
pub(crate) mod set_attributes {
    pub(crate) const ATTRIBUTES: usize = 24;
    pub(crate) const RESERVED: usize = 28;
    pub(crate) const LEN: usize = 32;
}

/// `ProcessStart` fixed part.
pub(crate) mod process_start {
    pub(crate) const PARENT_PID: usize = 0;
    pub(crate) const SESSION_ID: usize = 4;
    pub(crate) const PARENT_START_KEY: usize = 8;
    pub(crate) const CREATING_PID: usize = 16;
    pub(crate) const CREATING_TID: usize = 20;
    pub(crate) const USER_ID: usize = 24;
    pub(crate) const RESERVED: usize = 28;
    pub(crate) const LEN: usize = 32;
}

/// `ProcessExit` fixed part.
pub(crate) mod process_exit {
    pub(crate) const EXIT_STATUS: usize = 0;
    pub(crate) const RESERVED: usize = 4;
    pub(crate) const LEN: usize = 8;
}

/// `DriverHello` fixed part.
pub(crate) mod hello {
    pub(crate) const DRIVER_VERSION: usize = 0; // three u16
    pub(crate) const RESERVED0: usize = 6;
    pub(crate) const PROTOCOL_MAJOR: usize = 8;
    pub(crate) const PROTOCOL_MINOR: usize = 10;
    pub(crate) const RESERVED1: usize = 12;
    pub(crate) const CAPABILITIES: usize = 16;
    pub(crate) const RING_CAPACITY: usize = 24;
    pub(crate) const MAX_BATCH_BYTES: usize = 28;
    pub(crate) const SEND_TIMEOUT_MS: usize = 32;
    pub(crate) const RESERVED2: usize = 36;
    pub(crate) const LEN: usize = 40;
}

/// `Stats` fixed part.
pub(crate) mod stats {
    pub(crate) const EVENTS_SEEN: usize = 0;
    pub(crate) const EVENTS_SENT: usize = 8;
    pub(crate) const EVENTS_DROPPED: usize = 16;
    pub(crate) const BATCHES_SENT: usize = 24;
    pub(crate) const SEND_FAILURES: usize = 32;
    pub(crate) const RING_HIGH_WATER: usize = 40;
    pub(crate) const RING_CAPACITY: usize = 44;
    pub(crate) const LEN: usize = 48;
}

/// `Loss` fixed part.
pub(crate) mod loss {
    pub(crate) const FIRST_LOST_SEQ: usize = 0;
    pub(crate) const LAST_LOST_SEQ: usize = 8;
    pub(crate) const COUNT: usize = 16;
    pub(crate) const REASON: usize = 24;
    pub(crate) const RESERVED: usize = 28;
    pub(crate) const LEN: usize = 32;
}

/// Client hello (user → kernel).
pub(crate) mod client_hello {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const SIZE: usize = 4;
    pub(crate) const MAJOR: usize = 6;
    pub(crate) const MINOR: usize = 8;
    pub(crate) const FLAGS: usize = 10;
    pub(crate) const RESERVED: usize = 12;
    pub(crate) const LEN: usize = 16;
}

/// Verdict reply (user → kernel).
pub(crate) mod verdict_reply {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const SIZE: usize = 4;
    pub(crate) const MAJOR: usize = 6;
    pub(crate) const VERDICT: usize = 8;
    pub(crate) const RESERVED: usize = 12;
    pub(crate) const REQUEST_SEQ: usize = 16;
    pub(crate) const LEN: usize = 24;
}
