//! The committed JSON Schema files are the contract analytics pipelines read. This test fails
//! when the code and the files under `schemas/events/` differ; regenerate them with
//! `ANNAL_WRITE_SCHEMAS=1 cargo test -p annal-schemas --test json_schemas` and review the diff.

use std::path::PathBuf;

#[test]
fn committed_json_schemas_match_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events");
    let generated = annal_schemas::catalog::json_schemas();
    if std::env::var_os("ANNAL_WRITE_SCHEMAS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, schema) in &generated {
            let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut problems = Vec::new();
    for (name, schema) in &generated {
        let expected = serde_json::to_string_pretty(schema).unwrap() + "\n";
        match std::fs::read_to_string(dir.join(name)) {
            Ok(actual) if actual == expected => {}
            Ok(_) => problems.push(format!("{name}: differs from the code")),
            Err(_) => problems.push(format!("{name}: not committed")),
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !generated.contains_key(&name) {
            problems.push(format!("{name}: committed but no longer generated"));
        }
    }
    assert!(problems.is_empty(), "JSON Schemas drifted:\n{}", problems.join("\n"));
}
