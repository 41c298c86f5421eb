//! What the driver never reports: I/O users never want, and I/O that could recurse.
//!
//! The kernel shell gathers the facts (flags Filter Manager hands it, one `FsRtl` call) and
//! this module decides. Every rule is a pure function of those facts, tested on Linux.

/// Facts about one operation, read by the kernel shell from the callback data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // each is one independent fact from Filter Manager
pub struct IoFacts {
    /// `IRP_PAGING_IO` or `IRP_SYNCHRONOUS_PAGING_IO` in the IRP flags: the memory manager
    /// or cache manager, not a program, is doing this I/O.
    pub paging_io: bool,
    /// The file object opens the volume itself (`FO_VOLUME_OPEN`), not a file.
    pub volume_open: bool,
    /// The open carries the prefetcher's ECP (`GUID_ECP_PREFETCH_OPEN`).
    pub prefetcher: bool,
    /// The file is a paging file (`FsRtlIsPagingFile`) or is opened as one
    /// (`SL_OPEN_PAGING_FILE`).
    pub paging_file: bool,
    /// The requesting process is the connected client's (`EPROCESS` compared with the one
    /// captured at connect): reporting its own I/O would feed back into itself.
    pub from_client: bool,
}

/// Why an operation is not reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Paging I/O.
    PagingIo,
    /// A volume open.
    VolumeOpen,
    /// The prefetcher.
    Prefetcher,
    /// The paging file.
    PagingFile,
    /// The client's own I/O.
    Client,
}

impl IoFacts {
    /// `Some(reason)` when the operation is not reported.
    #[must_use]
    pub const fn skip(&self) -> Option<Skip> {
        if self.paging_io {
            Some(Skip::PagingIo)
        } else if self.paging_file {
            Some(Skip::PagingFile)
        } else if self.volume_open {
            Some(Skip::VolumeOpen)
        } else if self.prefetcher {
            Some(Skip::Prefetcher)
        } else if self.from_client {
            Some(Skip::Client)
        } else {
            None
        }
    }
}

/// Whether a create that completed with `status` opened something worth a record:
/// successful, and not a reparse (the create is re-issued and seen again).
#[must_use]
pub const fn create_succeeded(status: i32) -> bool {
    const STATUS_REPARSE: i32 = 0x0000_0104;
    status >= 0 && status != STATUS_REPARSE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_io_is_reported() {
        assert_eq!(IoFacts::default().skip(), None);
    }

    #[test]
    fn each_rule_skips_on_its_own() {
        let cases = [
            (
                IoFacts {
                    paging_io: true,
                    ..IoFacts::default()
                },
                Skip::PagingIo,
            ),
            (
                IoFacts {
                    volume_open: true,
                    ..IoFacts::default()
                },
                Skip::VolumeOpen,
            ),
            (
                IoFacts {
                    prefetcher: true,
                    ..IoFacts::default()
                },
                Skip::Prefetcher,
            ),
            (
                IoFacts {
                    paging_file: true,
                    ..IoFacts::default()
                },
                Skip::PagingFile,
            ),
            (
                IoFacts {
                    from_client: true,
                    ..IoFacts::default()
                },
                Skip::Client,
            ),
        ];
        for (facts, reason) in cases {
            assert_eq!(facts.skip(), Some(reason), "{facts:?}");
        }
    }

    #[test]
    fn paging_io_wins_over_the_client_rule() {
        let facts = IoFacts {
            paging_io: true,
            from_client: true,
            ..IoFacts::default()
        };
        assert_eq!(facts.skip(), Some(Skip::PagingIo));
    }

    #[test]
    fn only_successful_non_reparse_creates_count() {
        assert!(create_succeeded(0));
        assert!(create_succeeded(0x0000_0103)); // STATUS_PENDING-like success codes
        assert!(!create_succeeded(0x0000_0104)); // STATUS_REPARSE
        assert!(!create_succeeded(0xC000_0034_u32 as i32)); // OBJECT_NAME_NOT_FOUND
        assert!(!create_succeeded(0x8000_0005_u32 as i32)); // a warning is not success
    }
}
