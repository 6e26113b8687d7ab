//! Placeholder: benchmarks are being written.
