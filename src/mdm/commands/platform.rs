//! The five operating systems Apple's schema describes, as named in its `supportedOS` maps.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An Apple platform; [`fmt::Display`] and [`FromStr`] use Apple's spelling (`iOS`, `macOS`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Platform {
    #[serde(rename = "iOS")]
    Ios,
    #[serde(rename = "macOS")]
    MacOs,
    #[serde(rename = "tvOS")]
    TvOs,
    #[serde(rename = "visionOS")]
    VisionOs,
    #[serde(rename = "watchOS")]
    WatchOs,
}

impl Platform {
    pub const ALL: [Platform; 5] = [
        Platform::Ios,
        Platform::MacOs,
        Platform::TvOs,
        Platform::VisionOs,
        Platform::WatchOs,
    ];

    /// Apple's name, which is also the key in the schema's `supportedOS` maps.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "iOS",
            Platform::MacOs => "macOS",
            Platform::TvOs => "tvOS",
            Platform::VisionOs => "visionOS",
            Platform::WatchOs => "watchOS",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is none of Apple's five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (expected iOS, macOS, tvOS, visionOS or watchOS)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownPlatform(s.to_owned()))
    }
}

/// A set of platforms (the ones a command or key is not available on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PlatformSet(u8);

impl PlatformSet {
    pub(crate) fn insert(&mut self, platform: Platform) {
        self.0 |= platform.bit();
    }

    pub(crate) fn contains(self, platform: Platform) -> bool {
        self.0 & platform.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apple_names_case_insensitively() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
            assert_eq!(p.as_str().to_uppercase().parse::<Platform>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!("ios".parse::<Platform>(), Ok(Platform::Ios));
        assert_eq!("MacOS".parse::<Platform>(), Ok(Platform::MacOs));
        assert_eq!("iPadOS".parse::<Platform>(), Err(UnknownPlatform("iPadOS".into())));
        assert_eq!("".parse::<Platform>(), Err(UnknownPlatform(String::new())));
    }

    #[test]
    fn serde_uses_apple_names() {
        assert_eq!(serde_json::to_string(&Platform::VisionOs).unwrap(), "\"visionOS\"");
        assert_eq!(serde_json::from_str::<Platform>("\"tvOS\"").unwrap(), Platform::TvOs);
    }

    #[test]
    fn set_membership() {
        let mut set = PlatformSet::default();
        assert!(Platform::ALL.iter().all(|p| !set.contains(*p)));
        set.insert(Platform::TvOs);
        set.insert(Platform::WatchOs);
        let members: Vec<Platform> = Platform::ALL.into_iter().filter(|p| set.contains(*p)).collect();
        assert_eq!(members, [Platform::TvOs, Platform::WatchOs]);
    }
}
