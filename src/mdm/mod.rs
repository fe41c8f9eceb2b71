//! The MDM protocol as values: check-in messages, command-channel reports, command envelopes. No I/O.
