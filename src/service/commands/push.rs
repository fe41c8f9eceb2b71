//! Pushing enrollments now (NanoMDM's push endpoint), with APNs' verdict for each. Refused as
//! a whole when no push can be sent at all: no certificate, an unusable one, or pushes
//! suspended after APNs refused it.

use std::collections::BTreeMap;

use futures::StreamExt;

use super::request::targets;
use super::Commands;
use crate::push::{PushError, PushReport};
use crate::service::admin::{authorize, Action, AdminError, Caller};

/// Pushes sent at once for one request; the APNs client bounds the total across requests.
const CONCURRENT: usize = 64;

#[derive(Debug)]
pub enum PushOutcome {
    /// APNs answered (`accepted` when it took the push).
    Sent { report: PushReport, accepted: bool },
    /// Not sent: why, and what kind of failure that is.
    Failed { error: String, kind: AdminError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOverall {
    AllAccepted,
    Partial,
    /// APNs accepted none of them.
    NoneAccepted,
}

#[derive(Debug)]
pub struct PushResult {
    pub outcomes: BTreeMap<String, PushOutcome>,
    pub overall: PushOverall,
}

impl Commands<'_> {
    pub async fn push_now(&self, caller: &Caller, targets_given: &[String]) -> Result<PushResult, AdminError> {
        authorize(caller, Action::Push)?;
        let ids = targets(targets_given)?;
        let status = self.push.status();
        if !status.installed {
            return Err(AdminError::PushUnavailable(PushError::NoCertificate.to_string()));
        }
        if let Some(reason) = status.unusable_reason {
            return Err(AdminError::PushUnavailable(PushError::Unusable(reason).to_string()));
        }
        if let Some(s) = status.suspended {
            return Err(AdminError::PushUnavailable(format!(
                "pushes are suspended for {} s more: APNs refused the push certificate ({})",
                s.resumes_in_secs, s.reason
            )));
        }
        let outcomes: BTreeMap<String, PushOutcome> = futures::stream::iter(ids)
            .map(|id| {
                let push = self.push.clone();
                async move {
                    let outcome = match push.push_now(&id, "manual").await {
                        Ok(report) => PushOutcome::Sent {
                            accepted: report.outcome == "accepted",
                            report,
                        },
                        Err(e) => PushOutcome::Failed {
                            error: e.to_string(),
                            kind: kind_of(e),
                        },
                    };
                    (id, outcome)
                }
            })
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        let accepted = outcomes
            .values()
            .filter(|o| matches!(o, PushOutcome::Sent { accepted: true, .. }))
            .count();
        let overall = match accepted {
            n if n == outcomes.len() => PushOverall::AllAccepted,
            0 => PushOverall::NoneAccepted,
            _ => PushOverall::Partial,
        };
        Ok(PushResult { outcomes, overall })
    }
}

fn kind_of(e: PushError) -> AdminError {
    match e {
        PushError::Service(s) => s.into(),
        PushError::NoPush(_) | PushError::TopicMismatch { .. } => AdminError::Conflict(e.to_string()),
        PushError::NoCertificate | PushError::Unusable(_) | PushError::Suspended { .. } => {
            AdminError::PushUnavailable(e.to_string())
        }
        PushError::Secret(_) => AdminError::Internal(e.to_string()),
    }
}
