//! Reading the projections from handlers: wait (briefly) until they include everything this
//! node has seen appended, so a client reads its own writes.

use std::time::Duration;

use annal_projections::Projections;

use crate::http::AppState;

const READ_YOUR_WRITES: Duration = Duration::from_secs(2);

/// Runs `f` over read models that include the log's head as of the call (or, if they lag
/// more than two seconds behind, over what they have). Returns the position read at too.
pub async fn fresh<T>(app: &AppState, f: impl FnOnce(&Projections) -> T) -> (T, u64) {
    caught_up(app).await;
    app.projector.read(|p| (f(p), p.position()))
}

/// Waits as [`fresh`] does, for queries that read the read-model database too; returns the
/// position the read models are at.
pub async fn caught_up(app: &AppState) -> u64 {
    let head = *app.store.watch_head().borrow();
    app.projector.wait_for(head, READ_YOUR_WRITES).await;
    app.projector.position()
}
