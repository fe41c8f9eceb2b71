//! A filter's time: relative (`30d`: thirty days before the group is resolved) so a group such
//! as "silent for a month" keeps meaning that, or absolute (RFC 3339).

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time: give a duration before now (30m, 12h, 30d, 2w) or an RFC 3339 time")]
pub struct BadTime(pub String);

/// The moment `text` means when read at `now`.
pub fn parse_when(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, BadTime> {
    let bad = || BadTime(text.chars().take(64).collect());
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let split = text
        .len()
        .checked_sub(1)
        .filter(|&i| text.is_char_boundary(i))
        .ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let span = match unit {
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        "w" => TimeDelta::try_weeks(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    now.checked_sub_signed(span).ok_or_else(bad)
}
