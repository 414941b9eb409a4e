//! Support for the fuzz targets in `fuzz_targets/`: the fixed keys, clock and link reader they
//! share with the seed check in `shared/tests/fuzz_seeds.rs`.

pub mod fixtures;
