//! The WDK shell (built only with the `kernel` feature).

pub mod flt;
