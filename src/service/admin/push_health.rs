//! Which enrollments a push-health listing asks for (design brief §4): those whose token
//! APNs declared dead, or those pushed and silent longer than a threshold.

use chrono::TimeDelta;

use super::AdminError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    TokenDead,
    /// Silent at least this long since the first unanswered push.
    Silent(TimeDelta),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    pub filter: Filter,
    pub limit: usize,
}

/// `filter` is `token_dead` or `silent`; `silent_for_secs` defaults to an hour, `limit` to
/// 100 (1–1000).
pub fn listing(filter: &str, silent_for_secs: Option<i64>, limit: Option<usize>) -> Result<Listing, AdminError> {
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    let silent_for = TimeDelta::try_seconds(silent_for_secs.unwrap_or(3600).max(0))
        .ok_or_else(|| AdminError::invalid_at("silent_for_secs is out of range", "silent_for_secs"))?;
    let filter = match filter {
        "token_dead" => Filter::TokenDead,
        "silent" => Filter::Silent(silent_for),
        other => {
            return Err(AdminError::invalid_at(
                format!("unknown filter {other:?}: use token_dead or silent"),
                "filter",
            ))
        }
    };
    Ok(Listing { filter, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_names_its_filter_and_bounds() {
        let dead = listing("token_dead", None, None).expect("valid");
        assert_eq!(
            dead,
            Listing {
                filter: Filter::TokenDead,
                limit: 100
            }
        );
        let silent = listing("silent", Some(-5), Some(5000)).expect("valid");
        assert_eq!(silent.filter, Filter::Silent(TimeDelta::zero()));
        assert_eq!(silent.limit, 1000);
        assert_eq!(listing("silent", None, Some(0)).expect("valid").limit, 1);
        assert!(matches!(listing("loud", None, None), Err(AdminError::Invalid { path: Some(p), .. }) if p == "filter"));
        assert!(matches!(
            listing("silent", Some(i64::MAX), None),
            Err(AdminError::Invalid { path: Some(p), .. }) if p == "silent_for_secs"
        ));
    }
}
