//! batch processor: groups spans into batches by size and time
