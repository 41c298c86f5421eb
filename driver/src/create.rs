//! What post-create does for a create it reports, depending on whether a client is
//! connected.
//!
//! Without one the record would only be dropped and counted (`NoClient`), so the
//! queries that exist only to fill it — the name, the file id — are not made; the handle
//! context is still attached (a client that connects while the handle is open gets correct
//! first-write, close-modified and delete reports for it, `docs/ARCHITECTURE.md` §2.1).

/// The work of one post-create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // each is one independent step of the callback
pub struct CreateWork {
    /// Attach the stream-handle context (handle id, directory flag, delete-on-close,
    /// overwritten/superseded): always.
    pub attach_context: bool,
    /// Query the file id (`FileInternalInformation`, then `FileIdInformation` for `ReFS`)
    /// and keep it in the context. Without a client the context keeps id 0 ("unknown"):
    /// the later records of that handle carry no file id, rather than every create
    /// paying a file-system query nobody reads.
    pub query_file_id: bool,
    /// Query the name (`FltGetFileNameInformation`).
    pub query_name: bool,
    /// Build and store the `FileCreate` record (otherwise one `NoClient` loss is counted).
    pub build_record: bool,
}

impl CreateWork {
    /// The work for a create when a client is (or is not) `connected`.
    #[must_use]
    pub const fn plan(connected: bool) -> Self {
        Self {
            attach_context: true,
            query_file_id: connected,
            query_name: connected,
            build_record: connected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_client_gets_the_full_record() {
        let work = CreateWork::plan(true);
        assert!(work.attach_context && work.query_file_id && work.query_name);
        assert!(work.build_record);
    }

    #[test]
    fn without_a_client_only_the_handle_context_is_kept() {
        let work = CreateWork::plan(false);
        assert!(work.attach_context, "a client that connects later needs it");
        assert!(!work.query_file_id && !work.query_name && !work.build_record);
    }
}
