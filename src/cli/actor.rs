//! Who did it, for what the CLI writes to the log itself (on the host, without an API key:
//! `api-key create`, `push-cert install`): a person and a host, never `cli:unknown`. Behind
//! `sudo -u annal` (the runbooks' way to act as the service user) the person is the one who ran
//! sudo, not the service account.

/// `cli:<person>@<host>`.
pub fn local_actor() -> String {
    actor(std::env::var("SUDO_USER").ok(), login_name(), host_name())
}

fn actor(sudo_user: Option<String>, login: String, host: String) -> String {
    let person = sudo_user.filter(|u| !u.is_empty() && u != "root").unwrap_or(login);
    format!("cli:{person}@{host}")
}

/// The name of the process's real user, from the password database; its uid when it has none
/// (a container's arbitrary uid).
fn login_name() -> String {
    // SAFETY: getuid has no preconditions; getpwuid_r writes into the buffers we own and
    // returns a pointer into them (or null), which is read before they go out of scope.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr(pwd.pw_name).to_str() {
                if !name.is_empty() {
                    return name.to_owned();
                }
            }
        }
        format!("uid-{uid}")
    }
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match (rc, std::str::from_utf8(&buf[..end])) {
        (0, Ok(name)) if !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_person_behind_sudo_is_the_actor_never_unknown() {
        assert_eq!(
            actor(Some("alice".into()), "annal".into(), "mdm1".into()),
            "cli:alice@mdm1"
        );
        assert_eq!(actor(None, "annal".into(), "mdm1".into()), "cli:annal@mdm1");
        assert_eq!(actor(Some(String::new()), "bob".into(), "h".into()), "cli:bob@h");
        // `sudo -i` then `sudo -u annal`: SUDO_USER is root, the login name says more.
        assert_eq!(actor(Some("root".into()), "annal".into(), "h".into()), "cli:annal@h");
        let actor = local_actor();
        assert!(
            actor.starts_with("cli:") && actor.contains('@') && !actor.contains("unknown"),
            "{actor}"
        );
    }
}
