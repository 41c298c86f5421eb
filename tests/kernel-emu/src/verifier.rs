//! What the fake kernel reports when the driver breaks a rule: one [`Violation`] per fault,
//! with the guest code location mapped to a function name.

use std::fmt;

/// Which rule was broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The image imports something the fake kernel has no handler for.
    UnknownImport,
    /// An API was called above its documented maximum IRQL.
    Irql,
    /// A callback returned at another IRQL than it was called at, or a spin lock was
    /// released at the wrong IRQL or not held.
    IrqlBalance,
    /// `ExFreePoolWithTag` of memory that is not a live allocation.
    DoubleFree,
    /// `ExFreePoolWithTag` with another tag than the allocation's.
    TagMismatch,
    /// Pool still allocated after unload.
    PoolLeak,
    /// A context, name information, object reference or handle not released.
    Unbalanced,
    /// Guest access to memory the fake kernel never handed out (or already freed).
    BadMemory,
    /// An argument or return value Filter Manager or the kernel would reject.
    BadCall,
    /// A callback used more stack than the budget.
    Stack,
    /// Every thread waits and no timeout can wake any.
    Deadlock,
    /// The emulator itself failed.
    Emulator,
}

/// One violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Guest code location (`function+0xoffset`), when known.
    pub at: Option<String>,
    /// What happened.
    pub detail: String,
}

impl Violation {
    /// A violation without a location.
    #[must_use]
    pub fn new(rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            at: None,
            detail: detail.into(),
        }
    }

    /// Adds the location.
    #[must_use]
    pub fn at(mut self, at: String) -> Self {
        if self.at.is_none() {
            self.at = Some(at);
        }
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}] {}", self.rule, self.detail)?;
        if let Some(at) = &self.at {
            write!(f, " (at {at})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// IRQL values.
pub mod irql {
    /// `PASSIVE_LEVEL`.
    pub const PASSIVE: u8 = 0;
    /// `APC_LEVEL`.
    pub const APC: u8 = 1;
    /// `DISPATCH_LEVEL`.
    pub const DISPATCH: u8 = 2;
    /// `HIGH_LEVEL`.
    pub const HIGH: u8 = 15;
}
