//! Placeholder: the poem adapter is being written.
