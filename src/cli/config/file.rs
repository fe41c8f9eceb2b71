//! Reads the TOML configuration file and hands its values to clap as defaults, so the
//! precedence is: command line > ANNAL_* environment > file > built-in default. Every key is
//! checked before anything runs: an unknown key, a value of the wrong type or one the option
//! would refuse is an error that names the key.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::ContextKind;
use clap::{Arg, Command};

use super::keys::{keys, Key, Kind, CONFIGURED};

/// The file's values, as the strings clap would have read from the command line.
pub struct FileValues {
    pub path: PathBuf,
    pub values: Vec<(Key, Vec<String>)>,
}

/// `--config FILE` / `--config=FILE` anywhere before `--`, else ANNAL_CONFIG. Read before clap
/// parses, because the file's values become clap's defaults.
pub fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("ANNAL_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

pub fn load(path: &Path, root: &Command) -> Result<FileValues, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading the config file {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("the config file {} is not valid TOML: {e}", path.display()))?;
    let values = values(&table, root).map_err(|errors| {
        format!(
            "the config file {} is refused:\n  {}",
            path.display(),
            errors.join("\n  ")
        )
    })?;
    let secrets: Vec<String> = values.iter().filter(|(k, _)| k.secret).map(|(k, _)| k.path()).collect();
    if !secrets.is_empty() {
        check_private(path, &secrets)?;
    }
    Ok(FileValues {
        path: path.to_path_buf(),
        values,
    })
}

/// Checks every key of `table`; all problems at once, each naming its key.
pub fn values(table: &toml::Table, root: &Command) -> Result<Vec<(Key, Vec<String>)>, Vec<String>> {
    let known = keys(root);
    let tables: BTreeMap<&str, ()> = known
        .iter()
        .filter_map(|k| k.table.as_deref())
        .map(|t| (t, ()))
        .collect();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in table {
        match value {
            toml::Value::Table(inner) if tables.contains_key(name.as_str()) => {
                entries.extend(inner.iter().map(|(k, v)| (Some(name.as_str()), k.as_str(), v)));
            }
            _ => entries.push((None, name.as_str(), value)),
        }
    }
    let mut values = Vec::new();
    for (table, name, value) in entries {
        let path = table.map_or_else(|| name.to_owned(), |t| format!("{t}.{name}"));
        let Some(key) = known.iter().find(|k| k.table.as_deref() == table && k.name == name) else {
            errors.push(format!("unknown key `{path}`{}", hint(&known, name)));
            continue;
        };
        match strings(key, value).and_then(|v| check(root, key, &v).map(|()| v)) {
            Ok(v) => values.push((key.clone(), v)),
            Err(e) => errors.push(format!("key `{path}`: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn hint(known: &[Key], name: &str) -> String {
    match known.iter().find(|k| k.name == name || k.id == name) {
        Some(k) => format!(" (did you mean `{}`?)", k.path()),
        None => String::new(),
    }
}

fn strings(key: &Key, value: &toml::Value) -> Result<Vec<String>, String> {
    let wrong = || format!("expected {}, found {}", key.kind.describe(), value.type_str());
    match (key.kind, value) {
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(vec![b.to_string()]),
        (Kind::Integer, toml::Value::Integer(i)) => Ok(vec![i.to_string()]),
        (Kind::Text, toml::Value::String(s)) => Ok(vec![s.clone()]),
        (Kind::List, toml::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect(),
        _ => Err(wrong()),
    }
}

/// Runs the option's own parser over the value, as the command line would.
fn check(root: &Command, key: &Key, values: &[String]) -> Result<(), String> {
    let Some(arg) = find_arg(root, key) else {
        return Ok(());
    };
    let probe = Command::new("config").no_binary_name(true).arg(
        Arg::new("v")
            .long("v")
            .value_parser(arg.get_value_parser().clone())
            .allow_hyphen_values(true)
            .action(clap::ArgAction::Append),
    );
    for value in values {
        if let Err(e) = probe.clone().try_get_matches_from([format!("--v={value}")]) {
            let mut reason = format!("invalid value {value:?}");
            if let Some(source) = std::error::Error::source(&e) {
                reason.push_str(&format!(": {source}"));
            }
            if let Some(clap::error::ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
                reason.push_str(&format!(" (possible values: {})", valid.join(", ")));
            }
            return Err(reason);
        }
    }
    Ok(())
}

fn find_arg<'a>(root: &'a Command, key: &Key) -> Option<&'a Arg> {
    let cmd = if key.global {
        root
    } else {
        root.find_subcommand("serve")?
    };
    cmd.get_arguments().find(|a| a.get_id() == key.id.as_str())
}

/// A file that holds a secret must not be readable by other users; the refusal names the keys
/// it found, so the operator knows what to move out (a webhook URL may carry its token).
fn check_private(path: &Path, secrets: &[String]) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the config file {} holds secrets ({}) but other users may read it (mode {:o}): chmod 600 it, or keep the secrets in files of their own",
                path.display(),
                secrets.join(", "),
                mode & 0o777
            ));
        }
    }
    Ok(())
}

/// The file's values become the defaults of the options they name, on the root (globals) and
/// on every subcommand that takes `serve`'s options.
pub fn apply(mut root: Command, file: &FileValues) -> Command {
    for (key, values) in &file.values {
        let set = |a: Arg| match key.kind {
            Kind::List => a.default_values(values.clone()),
            _ => a.default_value(values.first().cloned().unwrap_or_default()),
        };
        if key.global {
            root = root.mut_arg(key.id.as_str(), set);
            continue;
        }
        for path in CONFIGURED {
            // A subcommand with some of serve's options (`enroll profile`) takes just those.
            root = mut_path(root, path, &|c: Command| {
                if c.get_arguments().any(|a| a.get_id() == key.id.as_str()) {
                    c.mut_arg(key.id.as_str(), set)
                } else {
                    c
                }
            });
        }
    }
    for (id, default) in super::client::defaults(&file.values) {
        root = default_everywhere(root, id, &default);
    }
    root
}

/// Sets `default` on argument `id` wherever a subcommand defines it (the admin API
/// connection is flattened into each API subcommand).
fn default_everywhere(cmd: Command, id: &str, default: &str) -> Command {
    let cmd = if cmd.get_arguments().any(|a| a.get_id() == id) {
        cmd.mut_arg(id, |a| a.default_value(default.to_owned()))
    } else {
        cmd
    };
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    names.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| default_everywhere(sub, id, default))
    })
}

fn mut_path(cmd: Command, path: &[&str], f: &dyn Fn(Command) -> Command) -> Command {
    match path.split_first() {
        None => f(cmd),
        Some((first, rest)) => {
            if cmd.find_subcommand(first).is_none() {
                return cmd;
            }
            cmd.mut_subcommand(*first, |sub| mut_path(sub, rest, f))
        }
    }
}
