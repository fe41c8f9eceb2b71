//! The configuration file's keys, derived from the command line so that every `annal serve`
//! option has one and a new option gets one without a list to keep in step.
//!
//! Layout: the global options (`data_dir`, `store`, `log_format`) and `serve`'s own options sit
//! at the top level, named like the long option with `_` for `-` (`listen`, `tls_cert`,
//! `hostnames`); each flattened group of options is a table named after it (`PushArgs` →
//! `[push]`) whose keys drop the table's prefix (`--push-concurrency` → `[push] concurrency`,
//! `--webhook-url` → `[webhook] url`).

use std::any::TypeId;

use clap::{Arg, ArgAction, Command};

/// The subcommands whose options the file configures: the server, `config check`, which
/// takes the same options to show what the server would run with, and the commands that make
/// what the server serves (`enroll profile`, `ca init`), which take some of them.
pub const CONFIGURED: &[&[&str]] = &[
    &["serve"],
    &["config", "check"],
    &["enroll", "profile"],
    &["ca", "init"],
];

/// Options that are no configuration: the file's own path, and clap's.
const NOT_KEYS: &[&str] = &["config", "help", "version", "json"];

/// Values that are never printed (besides options whose environment value clap hides).
// A webhook URL often carries its token in the path (Slack, Teams): shown redacted too.
const SECRET_IDS: &[&str] = &["admin_api_key", "challenge", "webhook_url"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Integer,
    List,
    Text,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean (true or false)",
            Kind::Integer => "an integer",
            Kind::List => "an array of strings",
            Kind::Text => "a string",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Key {
    /// `None`: a top-level key.
    pub table: Option<String>,
    pub name: String,
    /// The clap argument id (the struct field).
    pub id: String,
    pub global: bool,
    pub kind: Kind,
    pub secret: bool,
    pub env: Option<String>,
}

impl Key {
    /// `listen`, `push.concurrency`.
    pub fn path(&self) -> String {
        match &self.table {
            Some(t) => format!("{t}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Every key: the root's global options, then `serve`'s.
pub fn keys(root: &Command) -> Vec<Key> {
    let mut keys: Vec<Key> = root
        .get_arguments()
        .filter(|a| a.is_global_set() && !NOT_KEYS.contains(&a.get_id().as_str()))
        .map(|a| key(a, None, true))
        .collect();
    let Some(serve) = root.find_subcommand("serve") else {
        return keys;
    };
    let mut tabled = std::collections::HashSet::new();
    for group in serve.get_groups() {
        let Some(table) = group.get_id().as_str().strip_suffix("Args") else {
            continue;
        };
        if table == "Serve" {
            continue;
        }
        let table = table.to_lowercase();
        for id in group.get_args() {
            if let Some(arg) = serve.get_arguments().find(|a| a.get_id() == id) {
                tabled.insert(id.as_str().to_owned());
                keys.push(key(arg, Some(&table), false));
            }
        }
    }
    keys.extend(
        serve
            .get_arguments()
            .filter(|a| !tabled.contains(a.get_id().as_str()) && !NOT_KEYS.contains(&a.get_id().as_str()))
            .map(|a| key(a, None, false)),
    );
    keys
}

fn key(arg: &Arg, table: Option<&str>, global: bool) -> Key {
    let id = arg.get_id().as_str().to_owned();
    let name = match table {
        Some(t) => id.strip_prefix(&format!("{t}_")).unwrap_or(&id).to_owned(),
        None => id.clone(),
    };
    Key {
        table: table.map(str::to_owned),
        name,
        global,
        kind: kind(arg),
        secret: arg.is_hide_env_values_set() || SECRET_IDS.contains(&id.as_str()),
        env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
        id,
    }
}

fn kind(arg: &Arg) -> Kind {
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => return Kind::Bool,
        ArgAction::Append => return Kind::List,
        _ => {}
    }
    let ty = arg.get_value_parser().type_id();
    let integers = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ];
    if integers.iter().any(|t| ty == *t) {
        Kind::Integer
    } else {
        Kind::Text
    }
}
