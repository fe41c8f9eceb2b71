//! Reading NanoMDM's file store (`storage/file`): one directory per enrollment id under the
//! store's root, holding the raw messages as NanoMDM wrote them:
//!
//! - `Authenticate.plist`, `TokenUpdate.plist` (a user channel has only the latter),
//!   `UnlockToken.dat` and `BootstrapToken.dat` (bytes), `Identity.pem`,
//!   `CertAuth.sha256.txt` (the associated certificate hash), `Disabled` (a zero-byte marker
//!   after a CheckOut), `SubEnrollments/<user channel id>` (empty files);
//! - the queue as directories of `<CommandUUID>.plist`: `Queue` (waiting), `QueueNotNow`
//!   (answered NotNow, offered first), `QueueDone` (answered, beside `<CommandUUID>.result.plist`)
//!   and `QueueInactive` (cleared unanswered). NanoMDM serves each directory in file-name order.
//!
//! Read-only; stop NanoMDM first, since a directory tree cannot be read at one instant.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use plist::{Dictionary, Value};

use super::rows::{CertAuthRow, CommandRow, DeviceRow, EnrollmentRow, QueueRow, ResultRow, Snapshot, UserRow};
use super::NanoError;

const AUTHENTICATE: &str = "Authenticate.plist";
const TOKEN_UPDATE: &str = "TokenUpdate.plist";

/// The queue directories in the order the import replays them: what is over first (answered,
/// cleared), then what NanoMDM would offer next (NotNow before the rest), each by file name.
const QUEUES: [(&str, bool); 4] = [
    ("QueueDone", false),
    ("QueueInactive", false),
    ("QueueNotNow", true),
    ("Queue", true),
];

pub fn read(root: &Path) -> Result<Snapshot, NanoError> {
    let mut snapshot = Snapshot::default();
    for id in sorted_names(root)? {
        let dir = root.join(&id);
        if !dir.is_dir() || !dir.join(AUTHENTICATE).is_file() {
            // User channels are read under their device; other entries (CertAuth.txt, push
            // certificates) are not enrollments.
            continue;
        }
        read_device(&mut snapshot, &dir, &id)?;
        for user in sorted_names(&dir.join("SubEnrollments")).unwrap_or_default() {
            let user_dir = root.join(&user);
            if user_dir.join(TOKEN_UPDATE).is_file() {
                read_user(&mut snapshot, &user_dir, &user, &id)?;
            }
        }
    }
    Ok(snapshot)
}

fn read_device(snapshot: &mut Snapshot, dir: &Path, id: &str) -> Result<(), NanoError> {
    let token_update = text(dir, TOKEN_UPDATE)?;
    snapshot.devices.push(DeviceRow {
        id: id.to_owned(),
        identity_cert: text(dir, "Identity.pem")?,
        unlock_token: bytes(dir, "UnlockToken.dat")?,
        authenticate: text(dir, AUTHENTICATE)?.unwrap_or_default(),
        token_update: token_update.clone(),
        bootstrap_token_b64: bytes(dir, "BootstrapToken.dat")?
            .map(|t| base64::engine::general_purpose::STANDARD.encode(t)),
    });
    if token_update.is_some() {
        snapshot.enrollments.push(EnrollmentRow {
            id: id.to_owned(),
            device_id: id.to_owned(),
            user_id: None,
            enabled: !dir.join("Disabled").exists(),
        });
        read_queue(snapshot, dir, id)?;
    }
    read_cert_auth(snapshot, dir, id)
}

fn read_user(snapshot: &mut Snapshot, dir: &Path, id: &str, device_id: &str) -> Result<(), NanoError> {
    snapshot.users.push(UserRow {
        id: id.to_owned(),
        device_id: device_id.to_owned(),
        token_update: text(dir, TOKEN_UPDATE)?,
    });
    snapshot.enrollments.push(EnrollmentRow {
        id: id.to_owned(),
        device_id: device_id.to_owned(),
        user_id: Some(id.to_owned()),
        enabled: !dir.join("Disabled").exists(),
    });
    read_queue(snapshot, dir, id)?;
    read_cert_auth(snapshot, dir, id)
}

fn read_cert_auth(snapshot: &mut Snapshot, dir: &Path, id: &str) -> Result<(), NanoError> {
    if let Some(hash) = text(dir, "CertAuth.sha256.txt")? {
        snapshot.cert_auth.push(CertAuthRow {
            id: id.to_owned(),
            sha256: hash.trim().to_owned(),
        });
    }
    Ok(())
}

fn read_queue(snapshot: &mut Snapshot, dir: &Path, id: &str) -> Result<(), NanoError> {
    for (queue, active) in QUEUES {
        let queue_dir = dir.join(queue);
        if !queue_dir.is_dir() {
            continue;
        }
        for name in sorted_names(&queue_dir)? {
            let Some(uuid) = name.strip_suffix(".plist").filter(|u| !u.ends_with(".result")) else {
                continue;
            };
            let command = text(&queue_dir, &name)?.unwrap_or_default();
            let request_type = request_type(&command).map_err(|detail| NanoError::Row {
                table: "file store queue",
                id: format!("{id}/{queue}/{name}"),
                detail,
            })?;
            snapshot.commands.entry(uuid.to_owned()).or_insert_with(|| CommandRow {
                command_uuid: uuid.to_owned(),
                request_type,
                command,
            });
            snapshot.queue.push(QueueRow {
                id: id.to_owned(),
                command_uuid: uuid.to_owned(),
                active,
            });
            if let Some(result) = text(&queue_dir, &format!("{uuid}.result.plist"))? {
                snapshot.results.push(ResultRow {
                    id: id.to_owned(),
                    command_uuid: uuid.to_owned(),
                    status: status(&result),
                    result,
                });
            }
        }
    }
    Ok(())
}

/// The command's `Command.RequestType` (the file store keeps no column for it).
fn request_type(command: &str) -> Result<String, String> {
    let d: Dictionary = plist::from_bytes(command.as_bytes()).map_err(|e| format!("not a command plist: {e}"))?;
    d.get("Command")
        .and_then(Value::as_dictionary)
        .and_then(|c| c.get("RequestType"))
        .and_then(Value::as_string)
        .map(str::to_owned)
        .ok_or_else(|| "no Command.RequestType".to_owned())
}

/// The report's `Status`, for the record only: the import reads the report itself.
fn status(result: &str) -> String {
    plist::from_bytes::<Dictionary>(result.as_bytes())
        .ok()
        .and_then(|d| d.get("Status").and_then(Value::as_string).map(str::to_owned))
        .unwrap_or_default()
}

fn sorted_names(dir: &Path) -> Result<Vec<String>, NanoError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir.to_path_buf(), &e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir.to_path_buf(), &e))?;
        // NanoMDM names files by enrollment ids and CommandUUIDs, which are text.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn bytes(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, NanoError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, &e)),
    }
}

fn text(dir: &Path, name: &str) -> Result<Option<String>, NanoError> {
    let path = dir.join(name);
    bytes(dir, name)?
        .map(|b| {
            String::from_utf8(b).map_err(|_| NanoError::Source {
                what: path.display().to_string(),
                detail: "not UTF-8 text".into(),
            })
        })
        .transpose()
}

fn io(path: PathBuf, e: &std::io::Error) -> NanoError {
    NanoError::Source {
        what: path.display().to_string(),
        detail: e.to_string(),
    }
}
