//! The one client connection: the connect-hello check and the connection state the I/O
//! callbacks and the sender thread read.
//!
//! The connect callback (`PASSIVE_LEVEL`) hands [`ClientSlot::begin`] the connection context
//! exactly as Filter Manager gave it; the bytes are only checked for size, magic and
//! version by `picket_protocol::ClientHello::decode`, never otherwise interpreted.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use picket_protocol::{ClientHello, HelloError};

const EMPTY: u8 = 0;
const CONNECTING: u8 = 1;
const CONNECTED: u8 = 2;
const CLOSED: u8 = 3;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The context is not a valid client hello of our major version.
    Hello(HelloError),
    /// A client is already connected (one at most).
    Busy,
    /// The driver is unloading.
    Closed,
}

/// State of the single client connection.
#[derive(Debug, Default)]
pub struct ClientSlot {
    state: AtomicU8,
    /// Sequence number of the driver hello sent to the current client: records numbered
    /// below it predate the connection and are not sent to it.
    first_seq: AtomicU64,
    /// Connections accepted so far.
    generation: AtomicU64,
}

impl ClientSlot {
    /// A slot with no client.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            first_seq: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// Checks the hello and claims the slot.
    ///
    /// # Errors
    /// [`Refusal`] when the hello is malformed, a client is connected, or the driver is
    /// unloading. Nothing changed in that case.
    pub fn begin(&self, context: &[u8]) -> Result<ClientHello, Refusal> {
        let hello = ClientHello::decode(context).map_err(Refusal::Hello)?;
        match self
            .state
            .compare_exchange(EMPTY, CONNECTING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(hello),
            Err(CLOSED) => Err(Refusal::Closed),
            Err(_) => Err(Refusal::Busy),
        }
    }

    /// The connection is set up and the driver hello stored with `first_seq`: from now on
    /// file events are stored for the client. Returns `false` (nothing changed) when the
    /// slot was closed for unload meanwhile: the caller must refuse the connection, which
    /// would otherwise never be served.
    #[must_use]
    pub fn complete(&self, first_seq: u64) -> bool {
        if self.state.load(Ordering::Acquire) != CONNECTING {
            return false;
        }
        self.first_seq.store(first_seq, Ordering::Release);
        let connected = self
            .state
            .compare_exchange(CONNECTING, CONNECTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if connected {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        connected
    }

    /// Setting up the connection failed after [`ClientSlot::begin`]: free the slot.
    pub fn abort(&self) {
        let _ = self
            .state
            .compare_exchange(CONNECTING, EMPTY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The client disconnected (exit, crash or close).
    pub fn disconnect(&self) {
        let _ = self
            .state
            .compare_exchange(CONNECTED, EMPTY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Unloading: refuse every later connection and stop wanting events. Returns whether a
    /// client was connected (its port is closed by the disconnect callback, which Filter
    /// Manager calls during `FltUnregisterFilter`).
    pub fn close(&self) -> bool {
        self.state.swap(CLOSED, Ordering::AcqRel) == CONNECTED
    }

    /// Whether file events are wanted now.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.state.load(Ordering::Acquire) == CONNECTED
    }

    /// Whether no client is connected *or being connected*: only then may the sender throw
    /// away what the ring holds (a connect in progress has already stored, or is storing,
    /// the driver hello its client must receive first).
    #[must_use]
    pub fn is_vacant(&self) -> bool {
        matches!(self.state.load(Ordering::Acquire), EMPTY | CLOSED)
    }

    /// The first sequence number the current client wants.
    #[must_use]
    pub fn first_seq(&self) -> u64 {
        self.first_seq.load(Ordering::Acquire)
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_hello_connects_once() {
        let slot = ClientSlot::new();
        let hello = ClientHello::default().encode();
        assert!(!slot.is_connected());
        assert!(slot.is_vacant());
        assert_eq!(slot.begin(&hello), Ok(ClientHello::default()));
        assert!(
            !slot.is_connected(),
            "not before the hello record is stored"
        );
        assert!(!slot.is_vacant(), "a client is being connected");
        assert!(slot.complete(17));
        assert!(slot.is_connected());
        assert_eq!((slot.first_seq(), slot.generation()), (17, 1));
        assert_eq!(slot.begin(&hello), Err(Refusal::Busy), "one client at most");
    }

    #[test]
    fn malformed_hellos_are_refused_without_claiming_the_slot() {
        let slot = ClientSlot::new();
        let mut wrong_major = ClientHello::default().encode();
        wrong_major[6] = 9;
        assert_eq!(
            slot.begin(&wrong_major),
            Err(Refusal::Hello(HelloError::UnsupportedMajor(9)))
        );
        assert!(matches!(
            slot.begin(&[0u8; 3]),
            Err(Refusal::Hello(HelloError::WrongSize { .. }))
        ));
        assert!(matches!(slot.begin(&[]), Err(Refusal::Hello(_))));
        assert!(slot.begin(&ClientHello::default().encode()).is_ok());
    }

    #[test]
    fn disconnect_frees_the_slot_for_a_new_client() {
        let slot = ClientSlot::new();
        let hello = ClientHello::default().encode();
        slot.begin(&hello).unwrap();
        assert!(slot.complete(1));
        slot.disconnect();
        assert!(!slot.is_connected());
        slot.begin(&hello).unwrap();
        assert!(slot.complete(50));
        assert_eq!((slot.first_seq(), slot.generation()), (50, 2));
    }

    #[test]
    fn an_aborted_connection_frees_the_slot() {
        let slot = ClientSlot::new();
        let hello = ClientHello::default().encode();
        slot.begin(&hello).unwrap();
        slot.abort();
        assert!(slot.begin(&hello).is_ok());
    }

    #[test]
    fn closing_refuses_later_clients_and_reports_the_connected_one() {
        let slot = ClientSlot::new();
        let hello = ClientHello::default().encode();
        slot.begin(&hello).unwrap();
        assert!(slot.complete(1));
        assert!(slot.close());
        assert!(!slot.is_connected());
        assert!(slot.is_vacant());
        assert_eq!(slot.begin(&hello), Err(Refusal::Closed));
        assert!(!slot.close());
    }

    #[test]
    fn a_connection_still_being_set_up_when_unload_closes_the_slot_is_refused() {
        let slot = ClientSlot::new();
        let hello = ClientHello::default().encode();
        slot.begin(&hello).unwrap();
        assert!(!slot.close(), "not connected yet");
        assert!(
            !slot.complete(9),
            "the connect callback must refuse: nobody would serve or close it"
        );
        assert!(!slot.is_connected());
        assert_eq!((slot.first_seq(), slot.generation()), (0, 0));
        slot.abort();
        assert_eq!(
            slot.begin(&hello),
            Err(Refusal::Closed),
            "abort keeps it closed"
        );
    }
}
