//! Shared by the fuzz targets (`fuzz_targets/`) and the seed generator (`examples/seeds.rs`):
//! the fixture CA, the oracles' encoders and the framing of the Mdm-Signature target's input.

pub mod encode;
pub mod fixture;
pub mod signature_input;
