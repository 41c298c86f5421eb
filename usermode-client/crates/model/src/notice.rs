use serde::Serialize;

/// Why events were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossCause {
    /// The driver's ring was full.
    RingFull,
    /// No client was connected.
    NoClient,
    /// The driver could not deliver a batch.
    SendFailed,
    /// The driver could not build a record.
    EncodeFailed,
    /// The kernel queue overflowed (Linux `FAN_Q_OVERFLOW`).
    QueueOverflow,
    /// Sequence numbers were skipped without a loss record explaining them.
    SequenceGap,
    /// A batch arrived malformed and was skipped whole.
    MalformedBatch,
    /// The client's own bounded queue was full (backpressure).
    ClientBackpressure,
    /// A batch header declared records lost (`lost_since_previous`) that no loss record
    /// or sequence gap accounted for.
    BatchHeader,
    /// A reason code this client does not know.
    Other,
}

/// Something about the stream rather than a file: always reported, never hidden.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Events were captured but never reached us.
    EventsLost {
        /// How many: exactly, or at least (see `exact`).
        count: u64,
        /// Whether `count` is exact. A Linux `FAN_Q_OVERFLOW` does not say how many events
        /// the kernel dropped: its notice is `exact: false` and `count` is only a lower
        /// bound (the JSON line then says `"count": null, "count_at_least": N`).
        exact: bool,
        /// First lost sequence number, where known.
        first_seq: Option<u64>,
        /// Last lost sequence number, where known.
        last_seq: Option<u64>,
        /// Why.
        cause: LossCause,
    },
    /// A batch failed validation and was skipped.
    MalformedBatch {
        /// Index of the batch in the stream (0-based).
        batch_index: u64,
        /// Byte offset of the problem inside the batch.
        offset: usize,
        /// What is wrong.
        error: String,
    },
    /// The sequence went backwards: the driver (or source) restarted.
    SourceRestarted {
        /// Sequence expected.
        expected: u64,
        /// Sequence received.
        got: u64,
    },
    /// The driver introduced itself.
    DriverHello {
        /// `major.minor.patch`.
        driver_version: String,
        /// Protocol major.
        protocol_major: u16,
        /// Protocol minor.
        protocol_minor: u16,
        /// Capability bits.
        capabilities: u64,
    },
    /// The driver's periodic counters.
    DriverStats {
        /// Events captured.
        events_seen: u64,
        /// Events delivered.
        events_sent: u64,
        /// Events dropped.
        events_dropped: u64,
        /// Ring high-water mark.
        ring_high_water: u32,
        /// Ring capacity.
        ring_capacity: u32,
    },
}
