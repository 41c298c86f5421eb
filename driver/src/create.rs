//! What post-create does for a create it reports, depending on whether a client is
//! connected.
//!
//! Without one the record would only be dropped and counted (`NoClient`), so the
//! queries that exist only to fill it — the name, the file id — are not made; the handle
//! context is still attached (a client that connects while the handle is open gets correct
//! first-write, close-modified and delete reports for it, `docs/ARCHITECTURE.md` §2.1).

/// The work of one post-create beyond attaching the stream-handle context (handle id,
/// directory flag, delete-on-close, overwritten/superseded), which is always done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateWork {
    /// Query the file id (`FileInternalInformation`, then `FileIdInformation` for `ReFS`)
    /// and keep it in the context. Without a client the context keeps id 0 ("unknown"):
    /// the later records of that handle carry no file id, rather than every create
    /// paying a file-system query nobody reads.
    pub query_file_id: bool,
    /// Query the name (`FltGetFileNameInformation`) and store a `FileCreate` record;
    /// otherwise count the one `NoClient` loss the record would have become.
    pub build_record: bool,
}

impl CreateWork {
    /// The work for a create when a client is (or is not) `connected`.
    #[must_use]
    pub const fn plan(connected: bool) -> Self {
        Self {
            query_file_id: connected,
            build_record: connected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_client_gets_the_id_and_the_record() {
        assert_eq!(
            CreateWork::plan(true),
            CreateWork {
                query_file_id: true,
                build_record: true
            }
        );
    }

    #[test]
    fn without_a_client_no_query_is_made_for_a_dropped_record() {
        assert_eq!(
            CreateWork::plan(false),
            CreateWork {
                query_file_id: false,
                build_record: false
            }
        );
    }
}
