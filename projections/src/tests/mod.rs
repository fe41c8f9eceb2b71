//! Given events, expected read models. Events are made with the public `synthetic` helpers,
//! so a test reads as the device's and the admin's story.

mod audit_fold_tests;
mod audit_tests;
mod commands_tests;
mod devices_tests;
mod fold_tests;
mod push_tests;
mod queries;
mod support;
