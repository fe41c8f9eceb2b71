//! The read models as the inventory a group filter is evaluated against.

use annal_projections::devices::DeviceFilter;

use super::Queries;
use crate::service::groups::{Inventory, Matched};

#[async_trait::async_trait]
impl Inventory for Queries<'_> {
    async fn matching(&self, filter: &DeviceFilter, limit: usize) -> Matched {
        let page = self.devices(filter, None, limit).await;
        Matched {
            more: page.value.next.is_some(),
            enrollments: page.value.items.into_iter().map(|d| d.enrollment).collect(),
            position: page.position,
        }
    }
}
