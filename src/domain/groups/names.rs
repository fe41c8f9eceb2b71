//! What a group name, a tag and an enrollment id may be. Names and tags are typed by admins but
//! shown in tables, logs and the audit trail: plain characters only. Enrollment ids come from
//! devices, so they are bounded and may hold no whitespace or control characters.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("group names use letters, digits, '.', '-' and '_' (1–64 characters): {0:?}")]
    Group(String),
    #[error("tags use letters, digits, '.', '-', '_' and ':' (1–64 characters): {0:?}")]
    Tag(String),
    #[error("an enrollment id is 1–256 characters without whitespace or control characters: {0:?}")]
    Enrollment(String),
}

fn plain(s: &str, extra: &[char]) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c))
}

/// Shortened for the error message: a hostile id can be long.
fn shown(s: &str) -> String {
    s.chars().take(80).collect()
}

pub fn check_name(name: &str) -> Result<(), BadName> {
    if plain(name, &[]) {
        Ok(())
    } else {
        Err(BadName::Group(shown(name)))
    }
}

pub fn check_tag(tag: &str) -> Result<(), BadName> {
    if plain(tag, &[':']) {
        Ok(())
    } else {
        Err(BadName::Tag(shown(tag)))
    }
}

pub fn check_enrollment_id(id: &str) -> Result<(), BadName> {
    let ok = (1..=256).contains(&id.len()) && !id.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(BadName::Enrollment(shown(id)))
    }
}
