//! Declarative Device Management declarations checked against Apple's own schema
//! (`schemas/apple/declarative/`, MIT, embedded in the binary), compiled once on first use by
//! the same compiler as the MDM commands and profile payloads (`mdm::commands::schema`).
//!
//! Built so far: the catalog of declaration types Apple defines and their category, and
//! [`validate_declaration`] for a declaration's envelope and payload. Everything else of DDM
//! (declarations as events, assignment, the device protocol, status) is designed in
//! docs/design/ddm.md and not built yet.

mod embedded;
mod endpoint;
mod validate;

pub use endpoint::{parse_endpoint, parse_status, Endpoint};
pub use validate::{validate_declaration, Checked, MAX_IDENTIFIER};

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::commands::schema::{compile_all, CommandSpec, NameField, SchemaError};

/// The four kinds of declaration, as the protocol names them (`declaration-items` groups by
/// them, `declaration/<category>/<identifier>` addresses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Activation,
    Asset,
    Configuration,
    Management,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Activation,
        Category::Asset,
        Category::Configuration,
        Category::Management,
    ];

    /// The protocol's name, also the middle of every type name (`com.apple.<category>.…`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Activation => "activation",
            Category::Asset => "asset",
            Category::Configuration => "configuration",
            Category::Management => "management",
        }
    }

    /// The schema folder its files are in.
    fn folder(self) -> &'static str {
        match self {
            Category::Activation => "activations",
            Category::Asset => "assets",
            Category::Configuration => "configurations",
            Category::Management => "management",
        }
    }
}

/// One declaration type of Apple's schema.
#[derive(Debug)]
pub(crate) struct DeclarationSpec {
    pub(crate) category: Category,
    pub(crate) spec: CommandSpec,
}

/// Every declaration type in the embedded schema, by type name.
pub(crate) fn schema() -> Result<&'static BTreeMap<String, DeclarationSpec>, SchemaError> {
    static SCHEMA: OnceLock<Result<BTreeMap<String, DeclarationSpec>, SchemaError>> = OnceLock::new();
    SCHEMA.get_or_init(compile).as_ref().map_err(Clone::clone)
}

fn compile() -> Result<BTreeMap<String, DeclarationSpec>, SchemaError> {
    let mut all = BTreeMap::new();
    for category in Category::ALL {
        let files: Vec<(&str, &str)> = embedded::FILES
            .iter()
            .filter(|(folder, _, _)| *folder == category.folder())
            .map(|(_, stem, yaml)| (*stem, *yaml))
            .collect();
        for (name, spec) in compile_all(&files, NameField::DeclarationType)? {
            all.insert(name, DeclarationSpec { category, spec });
        }
    }
    Ok(all)
}

/// The category of a declaration type Apple's schema defines; None for an unknown type.
pub fn category_of(declaration_type: &str) -> Option<Category> {
    schema().ok()?.get(declaration_type).map(|d| d.category)
}

/// The top-level payload keys of a declaration type, each with whether Apple requires it;
/// None for an unknown type.
pub fn payload_keys(declaration_type: &str) -> Option<Vec<(&'static str, bool)>> {
    let declaration = schema().ok()?.get(declaration_type)?;
    Some(
        declaration
            .spec
            .keys
            .iter()
            .map(|k| (k.name.as_str(), k.required))
            .collect(),
    )
}

/// Every declaration type in Apple's schema with its category, sorted by name. Empty only if
/// the embedded schema failed to compile, which the tests rule out.
pub fn declaration_types() -> Vec<(&'static str, Category)> {
    match schema() {
        Ok(all) => all.iter().map(|(name, d)| (name.as_str(), d.category)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_is_the_schema_folder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/apple/declarative/declarations");
        let mut on_disk = Vec::new();
        for category in Category::ALL {
            for entry in std::fs::read_dir(root.join(category.folder())).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if let Some(stem) = name.strip_suffix(".yaml") {
                    on_disk.push((category.folder().to_owned(), stem.to_owned()));
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<(String, String)> = embedded::FILES
            .iter()
            .map(|(c, s, _)| (c.to_string(), s.to_string()))
            .collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn every_file_compiles_and_every_type_is_named_after_its_category() {
        let types = declaration_types();
        assert_eq!(types.len(), embedded::FILES.len(), "one type per file");
        for (name, category) in &types {
            assert!(
                name.starts_with(&format!("com.apple.{}.", category.as_str())),
                "{name} is filed as {category:?}"
            );
        }
    }

    #[test]
    fn the_flagship_types_are_known_and_others_are_not() {
        for (name, category) in [
            (
                "com.apple.configuration.softwareupdate.enforcement.specific",
                Category::Configuration,
            ),
            ("com.apple.configuration.passcode.settings", Category::Configuration),
            ("com.apple.configuration.legacy", Category::Configuration),
            ("com.apple.activation.simple", Category::Activation),
            ("com.apple.asset.data", Category::Asset),
            ("com.apple.management.properties", Category::Management),
        ] {
            assert_eq!(category_of(name), Some(category), "{name}");
        }
        assert_eq!(category_of("com.apple.configuration.nonexistent"), None);
        assert_eq!(category_of("com.apple.command.DeviceLock"), None);
    }

    #[test]
    fn a_declaration_type_keeps_its_keys_and_which_are_required() {
        let passcode = payload_keys("com.apple.configuration.passcode.settings").unwrap();
        assert!(passcode.contains(&("MinimumLength", false)), "{passcode:?}");
        let enforcement = payload_keys("com.apple.configuration.softwareupdate.enforcement.specific").unwrap();
        assert!(enforcement.contains(&("TargetOSVersion", true)), "{enforcement:?}");
        let legacy = payload_keys("com.apple.configuration.legacy").unwrap();
        assert!(legacy.contains(&("ProfileURL", true)), "{legacy:?}");
        assert_eq!(payload_keys("com.apple.configuration.nonexistent"), None);
    }
}
