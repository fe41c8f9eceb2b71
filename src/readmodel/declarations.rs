//! The read models as the facts declaration sets are evaluated against.

use std::sync::Arc;

use annal_projections::devices::{DeviceState, Facts as InventoryFacts};

use super::projector::Projector;
use super::Queries;
use crate::domain::declarations::DeviceFacts;
use crate::service::declarations::{Facts, Reported};
use crate::store::EventStore;

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
    }
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
        let page = self.fresh(|p| p.devices().enrolled_reports(after, limit)).await.value;
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
}

/// The same, owning what it reads from: for the sync worker, which outlives any request.
pub struct ReadModelFacts {
    pub projector: Arc<Projector>,
    pub store: Arc<dyn EventStore>,
}

#[async_trait::async_trait]
impl Facts for ReadModelFacts {
    async fn facts(&self, enrollment_key: &str) -> Option<DeviceFacts> {
        Queries::new(&self.projector, self.store.as_ref())
            .facts(enrollment_key)
            .await
    }

    async fn enrolled(&self, after: Option<&str>, limit: usize) -> (Vec<DeviceFacts>, Option<String>) {
        Queries::new(&self.projector, self.store.as_ref())
            .enrolled(after, limit)
            .await
    }

    async fn enrolled_reports(&self, after: Option<&str>, limit: usize) -> (Vec<Reported>, Option<String>) {
        Queries::new(&self.projector, self.store.as_ref())
            .enrolled_reports(after, limit)
            .await
    }
}
