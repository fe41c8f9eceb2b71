//! `annal api-key create | list | revoke`: keys for the admin API, kept in the log (hashed).
//! Run on the server's host: it writes to the event store directly, as the person who holds the
//! data directory (recorded as actor `cli:<person>@<host>`, the person behind sudo if any).

use std::process::ExitCode;

use annal::service::api_keys::ApiKeys;
use annal_schemas::events::apikey::Role;

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once. admin: everything; operator: read and queue
    /// non-destructive commands; auditor: read only.
    Create {
        /// A unique name, recorded as the actor (`api-key:<name>`) of everything the key does.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id; every node refuses it from the next call on.
    Revoke {
        key_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Operator,
    Auditor,
    /// Only fetches the enrollment profile (`GET /enroll?token=…`).
    Enrollment,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Enrollment => Role::Enrollment,
        }
    }
}

pub async fn run(global: &super::Global, cmd: ApiKeyCommand) -> anyhow::Result<ExitCode> {
    let keys = ApiKeys::new(global.open_store().await?);
    match cmd {
        ApiKeyCommand::Create { name, role, json } => {
            let (key, info) = keys.create(&name, role.into(), &super::actor::local_actor()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"key": key, "key_id": info.key_id, "name": info.name, "role": info.role})
                );
            } else {
                println!("{key}");
                eprintln!(
                    "created API key {} ({}, role {:?}); this is the only time it is shown",
                    info.key_id, info.name, info.role
                );
            }
        }
        ApiKeyCommand::List { json } => {
            let list = keys.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<18} {:<24} {:<9} STATE", "KEY ID", "NAME", "ROLE");
                for k in list {
                    let state = if k.revoked { "revoked" } else { "active" };
                    println!(
                        "{:<18} {:<24} {:<9} {state}",
                        k.key_id,
                        k.name,
                        format!("{:?}", k.role).to_lowercase()
                    );
                }
            }
        }
        ApiKeyCommand::Revoke { key_id, reason } => {
            keys.revoke(&key_id, reason, &super::actor::local_actor()).await?;
            eprintln!("revoked API key {key_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
