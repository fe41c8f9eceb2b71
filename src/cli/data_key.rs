//! The data key as the CLI commands that write sealed events (`push-cert install`) find it.

use std::path::PathBuf;

use annal::secrets::DataKey;

pub fn load(global: &super::Global, path: Option<PathBuf>, head_position: u64) -> anyhow::Result<DataKey> {
    Ok(annal::server::data_key::load(&global.data_dir, path, head_position)?)
}
