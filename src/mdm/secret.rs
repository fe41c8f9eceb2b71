//! A value that must not reach logs: PushMagic (lets anyone holding the push certificate wake the
//! device), UnlockToken (clears the passcode), BootstrapToken (unlocks a Mac's FileVault / secure
//! token), DigestResponse and GetToken's SecurityToken (credentials).

use std::fmt;

/// Holds a secret; `Debug` prints only that it is redacted. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let magic = Secret::new("ABCD-PUSH-MAGIC".to_string());
        assert_eq!(format!("{magic:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{:#?}", Some(Secret::new(vec![0xde, 0xad]))),
            "Some(\n    Secret(<redacted>),\n)"
        );
        assert_eq!(magic.expose(), "ABCD-PUSH-MAGIC");
        assert_eq!(magic.into_inner(), "ABCD-PUSH-MAGIC");
    }
}
