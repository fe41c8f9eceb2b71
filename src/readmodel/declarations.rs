//! The read models as the facts declaration sets are evaluated against.

use std::sync::Arc;

use annal_projections::devices::{DeviceState, Facts as InventoryFacts};

use super::projector::Projector;
use super::Queries;
use crate::domain::declarations::DeviceFacts;
use crate::service::declarations::{Facts, Reported};

fn device_facts(f: InventoryFacts) -> DeviceFacts {
    DeviceFacts {
        key: f.enrollment,
        enrolled: f.state == DeviceState::Enrolled,
        generation: f.generation,
        models: f.models,
        os_version: f.os_version,
        tags: Default::default(),
        udid: f.udid,
        serial_number: f.serial_number,
        given_token: f.given_token,
    }
}

type ReportsPage = annal_projections::Page<(
    InventoryFacts,
    Option<annal_projections::devices::DdmStatus>,
    Option<chrono::DateTime<chrono::Utc>>,
)>;

fn reports(page: ReportsPage) -> (Vec<Reported>, Option<String>) {
    let reports = page
        .items
        .into_iter()
        .map(|(facts, status, reported_at)| Reported {
            facts: device_facts(facts),
            status,
            reported_at,
        })
        .collect();
    (reports, page.next)
}

#[async_trait::async_trait]
impl Facts for Queries<'_> {
    async fn facts(&self, enrollment_key: &str) -> Option<DeviceFacts> {
        self.fresh(|p| p.devices().facts(enrollment_key))
            .await
            .value
            .map(device_facts)
    }

    async fn enrolled(&self, after: Option<&str>, limit: usize) -> (Vec<DeviceFacts>, Option<String>) {
        let page = self.fresh(|p| p.devices().enrolled_facts(after, limit)).await.value;
        (page.items.into_iter().map(device_facts).collect(), page.next)
    }

    async fn enrolled_reports(&self, after: Option<&str>, limit: usize) -> (Vec<Reported>, Option<String>) {
        reports(self.fresh(|p| p.devices().enrolled_reports(after, limit)).await.value)
    }
}

/// The same for the sync worker, which outlives any request: it reads the read models as they
/// are, without waiting for them to reach the log's head (its own appends move the head all
/// through a pass); what they have yet to fold is caught by the next pass.
pub struct ReadModelFacts {
    pub projector: Arc<Projector>,
}

#[async_trait::async_trait]
impl Facts for ReadModelFacts {
    async fn facts(&self, enrollment_key: &str) -> Option<DeviceFacts> {
        self.projector
            .read(|p| p.devices().facts(enrollment_key))
            .map(device_facts)
    }

    async fn enrolled(&self, after: Option<&str>, limit: usize) -> (Vec<DeviceFacts>, Option<String>) {
        let page = self.projector.read(|p| p.devices().enrolled_facts(after, limit));
        (page.items.into_iter().map(device_facts).collect(), page.next)
    }

    async fn enrolled_reports(&self, after: Option<&str>, limit: usize) -> (Vec<Reported>, Option<String>) {
        reports(self.projector.read(|p| p.devices().enrolled_reports(after, limit)))
    }
}
