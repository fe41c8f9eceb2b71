//! Pure aggregates (decide/evolve), no I/O.
