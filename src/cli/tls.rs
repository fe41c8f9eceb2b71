//! The server's certificate files, for `annal ca` and `annal enroll` (see `annal::server::tls`).

pub use annal::server::tls::*;
