//! The library half of the `netpipe` binary: the component registry that
//! the binary, the benchmarks and the tests share.

pub mod allocator;
pub mod components;
