//! Picket minifilter (placeholder until the driver lands).
