//! Benchmark harnesses (`annal bench …`). Figures go to docs/BENCHMARKS.md; nothing here is
//! asserted by a test, since timings depend on the machine.

pub mod console;
pub mod cpu;
pub mod mdm;
pub mod profile;
pub mod projections;
pub mod push;
pub mod scale;
pub mod store;
pub mod syscalls;
