//! Test kits for backend and adapter crates (feature `testing`).
